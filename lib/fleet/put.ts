// Writing a desired state into the store: every service checked first (as
// apply() would, without a kernel), then only the services that differ
// written and the ones it lacks deleted, in one transaction guarded by each
// touched key's revision (a concurrent writer makes it fail whole, never
// half-write). etcd bounds a transaction's operations (--max-txn-ops,
// default 128) and size (--max-request-bytes, 1.5 MiB): a first put of a
// large fleet needs those raised; later puts write only what changed.
import type { EtcdClient, TxnCompare, TxnOperation } from './etcd';
import { checkStoredService, type Layout, type StoredService } from './layout';

export interface PutResult {
  /** Services written (new or changed), deleted, and left as they were. */
  written: number;
  deleted: number;
  unchanged: number;
  /** The store's revision after the transaction (0: nothing to write, or a dry run). */
  revision: number;
  /** false: another writer changed a touched key first; nothing was written. */
  succeeded: boolean;
}

/**
 * Makes the services under `base` (layout.services, or layout.overrides(NAME))
 * equal `document`. Throws TypeError/RangeError naming `${name}[i]`'s field
 * (nothing written) for a bad service, RangeError for two naming one service.
 */
export async function putDesired(etcd: EtcdClient, keys: Layout, document: readonly unknown[], options: { director?: string; dryRun?: boolean; name?: string } = {}): Promise<PutResult> {
  const name = options.name ?? 'services';
  const services: StoredService[] = [];
  const seen = new Map<string, number>();
  document.forEach((value, i) => {
    const s = checkStoredService(value, `${name}[${i}]`);
    const other = seen.get(s.id);
    if (other !== undefined) throw new RangeError(`Expected one entry per service but ${name}[${i}] and ${name}[${other}] are both ${s.name}`);
    seen.set(s.id, i);
    services.push(s);
  });
  const base = options.director === undefined ? keys.services : keys.overrides(options.director);
  const current = await etcd.range(base);
  const have = new Map(current.kvs.map((kv) => [kv.key, kv]));
  const compare: TxnCompare[] = [];
  const operations: TxnOperation[] = [];
  const wanted = new Set<string>();
  let unchanged = 0;
  for (const s of services) {
    const key = base + s.name;
    wanted.add(key);
    const kv = have.get(key);
    if (kv?.value === s.text) {
      unchanged++;
      continue;
    }
    compare.push({ key, modRevision: kv?.modRevision ?? 0 });
    operations.push({ put: key, value: s.text });
  }
  for (const kv of current.kvs) {
    if (wanted.has(kv.key)) continue;
    compare.push({ key: kv.key, modRevision: kv.modRevision });
    operations.push({ delete: kv.key });
  }
  const written = operations.filter((op) => 'put' in op).length;
  const result = { written, deleted: operations.length - written, unchanged, revision: 0, succeeded: true };
  if (options.dryRun || operations.length === 0) return result;
  const txn = await etcd.txn(compare, operations);
  return { ...result, revision: txn.revision, succeeded: txn.succeeded };
}
