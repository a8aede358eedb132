// `ipvs fleet`: the fleet's desired state in etcd, and its directors' status.
//   put FILE [--director NAME]   write a desired state (checked first) in one transaction
//   status [--json]              every director's applied revision, held update, drift, errors
//   diff --director NAME         the store's state for NAME against this director's table
//   confirm [REVISION]           apply held updates up to REVISION (default: the store's now)
//   max-deletes N|none           the deletion limit per update
import { IpvsError, TOO_MANY_DELETES } from '../index';
import { EtcdClient, EtcdError, checkDirector, effectiveState, layout, putDesired, type AgentStatus, type Layout, type PutResult } from '../fleet';
import { CliError, withHandle, type Context } from './context';
import { readApplyDocument } from './document';
import { parseFlags } from './flags';
import { printApplyResult } from './report';

export const FLEET_HELP = `Usage: ipvs fleet COMMAND [--endpoints URL[,URL...]] [--prefix /ipvs]
  put FILE.json|FILE.yaml [--director NAME] [--dry-run]
                       write FILE as the fleet's desired state (or NAME's overrides): every service
                       checked first, only the services that differ written, in one transaction
  status [--json]      each director's store state, applied revision, held update, drift, health (up/checked; the down ones listed), errors
  diff --director NAME [--netns NS]
                       what applying the store's state for NAME would change in this table
  confirm [REVISION]   apply updates held for removing too much, up to REVISION (default: now)
  max-deletes N|none   services and destinations one update may remove (held above it)
--endpoints defaults to $IPVS_ETCD_ENDPOINTS, else http://127.0.0.1:2379.
`;

/** The etcd endpoints of --endpoints, $IPVS_ETCD_ENDPOINTS, or the local default. */
export function endpointsOf(flag: string | true | undefined): string[] {
  if (flag === true) throw new CliError('--endpoints needs URLs');
  const text = flag ?? process.env.IPVS_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379';
  return text.split(',').filter((e) => e.length > 0);
}

const COMMON = { endpoints: 'value', prefix: 'value', help: 'flag' } as const;

export async function runFleet(ctx: Context, args: string[]): Promise<number> {
  try {
    return await fleet(ctx, args);
  } catch (error) {
    // The store could not be reached or refused the call: one line, status 1.
    if (error instanceof EtcdError) throw new CliError(error.message, 1);
    throw error;
  }
}

async function fleet(ctx: Context, args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const p = parseFlags(rest, { ...COMMON, director: 'value', 'dry-run': 'flag', json: 'flag' });
  if (command === undefined || command === '--help' || command === 'help' || p.flags.has('help')) {
    ctx.io.out(FLEET_HELP);
    return command === undefined ? 2 : 0;
  }
  const etcd = new EtcdClient(endpointsOf(p.flags.get('endpoints')));
  const keys = layout(p.flags.get('prefix') as string | undefined);
  const director = p.flags.get('director');
  if (director !== undefined) checkDirector(director);
  switch (command) {
    case 'put':
      if (p.positionals.length !== 1) throw new CliError('usage: ipvs fleet put FILE [--director NAME]');
      return put(ctx, etcd, keys, p.positionals[0], director as string | undefined, p.flags.has('dry-run'));
    case 'status':
      return status(ctx, etcd, keys, p.flags.has('json'));
    case 'diff':
      if (typeof director !== 'string') throw new CliError('usage: ipvs fleet diff --director NAME');
      return diff(ctx, etcd, keys, director);
    case 'confirm': {
      const revision = p.positionals[0] ?? String((await etcd.get(keys.confirm)).revision);
      if (!/^\d+$/.test(revision)) throw new CliError(`confirm takes a revision, not '${revision}'`);
      await etcd.put(keys.confirm, revision);
      ctx.io.out(`confirmed updates up to revision ${revision}\n`);
      return 0;
    }
    case 'max-deletes': {
      const n = p.positionals[0];
      if (n === undefined || !(n === 'none' || /^\d+$/.test(n))) throw new CliError('usage: ipvs fleet max-deletes N|none');
      if (n === 'none') await etcd.txn([], [{ delete: keys.maxDeletes }]);
      else await etcd.put(keys.maxDeletes, n);
      ctx.io.out(n === 'none' ? 'no deletion limit\n' : `at most ${n} services and destinations removed per update\n`);
      return 0;
    }
    default:
      throw new CliError(`unknown fleet command '${command}' (see ipvs fleet --help)`);
  }
}

/** Writes FILE's services (checked first) in one transaction; see putDesired. */
async function put(ctx: Context, etcd: EtcdClient, keys: Layout, file: string, director: string | undefined, dryRun: boolean): Promise<number> {
  const text = file === '-' ? await ctx.io.stdin() : await ctx.io.readFile(file).catch((error: Error) => {
    throw new CliError(`cannot read ${file}: ${error.message}`);
  });
  let result: PutResult;
  try {
    result = await putDesired(etcd, keys, readApplyDocument(text, file), { director, dryRun });
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw new CliError(`${file}: ${error.message}; nothing was written`);
    throw error;
  }
  if (!result.succeeded) throw new CliError('the store changed while this put ran: nothing was written; run it again', 1);
  const { written, deleted, unchanged, revision } = result;
  if (dryRun) ctx.io.out(`would write ${written} services, delete ${deleted}, ${unchanged} unchanged (dry run)\n`);
  else ctx.io.out(`wrote ${written} services, deleted ${deleted}, ${unchanged} unchanged${revision > 0 ? `: revision ${revision}` : ''}\n`);
  return 0;
}

async function statuses(etcd: EtcdClient, keys: Layout): Promise<{ revision: number; directors: AgentStatus[] }> {
  const read = await etcd.range(keys.status);
  const directors: AgentStatus[] = [];
  for (const kv of read.kvs) {
    try {
      directors.push(JSON.parse(kv.value) as AgentStatus);
    } catch {
      // a status that is not JSON was not written by an agent: shown as unreadable
      directors.push({ director: kv.key.slice(keys.status.length), store: 'unreachable', errors: [{ at: '', message: 'status is not JSON' }] } as AgentStatus);
    }
  }
  return { revision: read.revision, directors };
}

async function status(ctx: Context, etcd: EtcdClient, keys: Layout, json: boolean): Promise<number> {
  const { revision, directors } = await statuses(etcd, keys);
  if (json) {
    ctx.io.out(`${JSON.stringify({ revision, directors }, null, 2)}\n`);
    return 0;
  }
  const rows = [['DIRECTOR', 'STORE', 'APPLIED', 'SERVICES', 'HELD', 'DRIFT', 'SENDS', 'OPS', 'UP', 'LAST ERROR']];
  const down: string[] = [];
  for (const d of directors) {
    const held = d.held ? `${d.held.deletes}>${d.held.limit}@${d.held.revision}` : d.dryRun ? 'dry-run' : '-';
    const last = d.errors?.[d.errors.length - 1]?.message ?? '-';
    // UP: checked destinations up, of those checked ('-': no checks)
    const up = d.health === undefined || d.health.checked === 0 ? '-' : `${d.health.up}/${d.health.checked}`;
    rows.push([d.director, d.store, String(d.appliedRevision ?? '-'), String(d.services ?? '-'), held, String(d.drift?.total ?? '-'), String(d.counters?.sends ?? '-'), String(d.counters?.operations ?? '-'), up, last.slice(0, 60)]);
    for (const h of d.health?.destinations ?? []) if (!h.up) down.push(`${d.director}  ${h.service}  ${h.destination}  down (${h.check}: ${h.reason || 'not yet up'}), weight ${h.weight ?? 'out'}`);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  ctx.io.out(`store revision ${revision}, ${directors.length} directors\n`);
  for (const r of rows) ctx.io.out(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}\n`);
  if (down.length > 0) ctx.io.out(`down:\n${down.map((l) => `  ${l}\n`).join('')}`);
  return 0;
}

/** The store's state for `director` against this table: apply()'s dry run (owned: the whole table), printed as rules. */
async function diff(ctx: Context, etcd: EtcdClient, keys: Layout, director: string): Promise<number> {
  const read = await etcd.range(`${keys.prefix}/`, keys.status);
  const stored = new Map(read.kvs.map((kv) => [kv.key, kv.value]));
  const { services, invalid } = effectiveState(keys, director, stored);
  for (const message of invalid) ctx.io.err(`${message}\n`);
  return withHandle(ctx, async (h) => {
    try {
      const result = await h.apply([...services.values()].map((s) => s.service), { dryRun: true, prune: true });
      ctx.io.out(`# store revision ${read.revision}, director ${director}: ${result.plan.length} differences\n`);
      printApplyResult(ctx, result, { dryRun: true });
      return result.plan.length === 0 ? 0 : 1;
    } catch (error) {
      if (error instanceof IpvsError && error.code === TOO_MANY_DELETES) throw new CliError(error.message, 255);
      throw error;
    }
  });
}
