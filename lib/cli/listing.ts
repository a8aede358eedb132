// Every listing of the `ipvs` command, in one place: the table (or one
// service), the connections, the timeouts and the sync daemons, as ipvsadm
// prints them or as JSON. Both command lines (ipvsadm's -L and the readable
// `list`, `connections`, `timeouts`, `daemons`) come here.
import { jsonReplacer, type IpvsHandle, type Service, type ServiceKey } from '../index';
import {
  formatIpvsadmConnections,
  formatIpvsadmDaemons,
  formatIpvsadmEntry,
  formatIpvsadmHeader,
  formatIpvsadmService,
  formatIpvsadmTimeouts,
  ipvsadmDestinationOrder,
  ipvsadmServiceOrder,
  type ListOptions,
} from '../rules/format';
import { formatRules, type ListFormat } from '../rules';
import type { Context } from './context';
import { lookupNames } from './names';

/** A value as the JSON documents the command prints (64-bit counters as decimal strings). */
export function json(value: unknown): string {
  return JSON.stringify(value, jsonReplacer, 2) + '\n';
}

/** Every address of a table, services' and destinations', for name lookups. */
export function addressesOf(services: readonly Service[]): string[] {
  const all: string[] = [];
  for (const s of services) {
    if (s.address !== undefined) all.push(s.address);
    for (const d of s.destinations) all.push(d.address);
  }
  return all;
}

/** What to list: ipvsadm's -L, -L SERVICE, -Lc, -L --timeout, -L --daemon. */
export interface ListingRequest {
  show: 'services' | 'connections' | 'timeout' | 'daemon';
  /** One service only (show 'services'). */
  service?: ServiceKey;
  format: ListFormat;
  /** The JSON document instead of ipvsadm's text. */
  json: boolean;
  /** Services per read of the whole table (default LISTING_BATCH). */
  batchSize?: number;
}

/** Prints one listing to ctx.io.out. */
export async function printListing(ctx: Context, handle: IpvsHandle, r: ListingRequest): Promise<void> {
  const f = r.format;
  if (r.show === 'timeout') {
    const t = await handle.getTimeouts();
    ctx.io.out(r.json ? json(t) : formatIpvsadmTimeouts(t));
    return;
  }
  if (r.show === 'daemon') {
    const d = await handle.listDaemons();
    ctx.io.out(r.json ? json(d) : formatIpvsadmDaemons(d));
    return;
  }
  if (r.show === 'connections') {
    const connections = await handle.listConnections();
    if (r.json) ctx.io.out(json(connections));
    else {
      const names = f.numeric ? undefined : await lookupNames(connections.flatMap((x) => [x.client.address, x.virtual.address, x.destination.address]));
      ctx.io.out(formatIpvsadmConnections(connections, { numeric: f.numeric, names, persistentConn: f.persistentConn }));
    }
    return;
  }
  if (r.service) {
    const service = await handle.getService(r.service);
    if (r.json) ctx.io.out(json(service));
    else ctx.io.out(formatIpvsadmService(service, { ...f, names: f.numeric ? undefined : await lookupNames(addressesOf([service])) }));
    return;
  }
  // The counters are read only where they are shown (a 20,000 x 10 table has 220,000 stats objects).
  if (r.json) return writeTable(ctx, handle, jsonTable(), r.batchSize);
  const info = await handle.info();
  await writeTable(
    ctx,
    handle,
    {
      stats: f.stats || f.rate,
      sorted: !f.noSort,
      head: formatIpvsadmHeader(info, f),
      render: async (batch) => {
        const options: ListOptions = { ...f, names: f.numeric ? undefined : await lookupNames(addressesOf(batch)) };
        return batch.map((s) => formatIpvsadmEntry(s, options));
      },
      tail: () => '',
    },
    r.batchSize,
  );
}

/** What `ipvsadm -S` / `ipvs save` write. */
export interface RulesRequest {
  /** -x/-y for destinations with thresholds (`ipvs save`; ipvsadm -S drops them). */
  thresholds: boolean;
  /** Addresses and ports as numbers (-n), else names as ipvsadm finds them. */
  numeric: boolean;
  /** The JSON document (with counters) instead of rules. */
  json: boolean;
  /** Services per read (default LISTING_BATCH). */
  batchSize?: number;
}

/** Prints the table as rules (ipvsadm -S) or as the JSON document to ctx.io.out. */
export async function printRules(ctx: Context, handle: IpvsHandle, r: RulesRequest): Promise<void> {
  if (r.json) return writeTable(ctx, handle, jsonTable(), r.batchSize);
  await writeTable(
    ctx,
    handle,
    {
      stats: false,
      sorted: true,
      head: '',
      render: async (batch) => {
        const names = r.numeric ? undefined : await lookupNames(addressesOf(batch));
        // Each service alone: its destinations in ipvsadm's order here, the services' order by writeTable.
        return batch.map((s) => formatRules([{ ...s, destinations: ipvsadmDestinationOrder(s.destinations) }], { thresholds: r.thresholds, names, noSort: true }));
      },
      tail: () => '',
    },
    r.batchSize,
  );
}

/**
 * Services read per batch by the whole-table listings: the memory a streamed
 * listing holds is about two batches (the one written and the one being
 * read), and fewer, larger batches cost fewer turns of the event loop.
 */
export const LISTING_BATCH = 1024;

/** How a whole-table listing writes its services. */
interface TableText {
  /** Whether the counters are read. */
  stats: boolean;
  /**
   * ipvsadm's service order, which is a sort over every service: each
   * service's text is kept (not its objects) until the last is read, then all
   * are written in that order. Else each batch is written as it is read.
   */
  sorted: boolean;
  /** What comes before the services. */
  head: string;
  /**
   * The text of a batch: one per service when sorted, else any number (they
   * are written in order); `first` is the batch's first service's place in
   * the whole listing.
   */
  render(batch: Service[], first: number): Promise<string[]>;
  /** What comes after `count` services. */
  tail(count: number): string;
}

/** The JSON document of the table with its counters (json(await list())), written a batch at a time. */
function jsonTable(): TableText {
  return {
    stats: true,
    sorted: false,
    head: '',
    // A batch as an array is the services indented as in the whole array:
    // '[\n' + the services joined by ',\n' + '\n]'. One stringify per batch
    // (V8's fast path), not one per service.
    render: async (batch, first) => [(first === 0 ? '[\n' : ',\n') + JSON.stringify(batch, jsonReplacer, 2).slice(2, -2)],
    tail: (count) => (count === 0 ? '[]\n' : '\n]\n'),
  };
}

/** A service's sort fields and its text (what a sorted listing keeps of it until the end). */
type Written = Pick<Service, 'family' | 'fwmark' | 'protocol' | 'address' | 'port'> & { text: string };

/** Texts joined per write: a few large writes rather than one per service. */
const WRITE_GROUP = 1024;

/**
 * Reads the table with services() and writes it as `t` says: bounded by the
 * batch when unsorted; sorted, the texts of every service are held (compact
 * strings, not the 10+ objects per service list() makes). A read that fails
 * part-way throws after what was written so far (unsorted) or with nothing
 * written (sorted).
 */
async function writeTable(ctx: Context, handle: IpvsHandle, t: TableText, batchSize = LISTING_BATCH): Promise<void> {
  const kept: Written[] = [];
  let count = 0;
  if (!t.sorted && t.head) ctx.io.out(t.head);
  for await (const batch of handle.services({ batchSize, stats: t.stats })) {
    const texts = await t.render(batch, count);
    count += batch.length;
    if (!t.sorted) {
      ctx.io.out(texts.join(''));
      continue;
    }
    for (let i = 0; i < batch.length; i++) {
      const s = batch[i];
      kept.push({ family: s.family, fwmark: s.fwmark, protocol: s.protocol, address: s.address, port: s.port, text: texts[i] });
    }
  }
  if (t.sorted) {
    const ordered = ipvsadmServiceOrder(kept);
    kept.length = 0;
    let group = t.head;
    for (let i = 0; i < ordered.length; i++) {
      group += ordered[i].text;
      if ((i + 1) % WRITE_GROUP === 0) {
        ctx.io.out(group);
        group = '';
      }
    }
    if (group) ctx.io.out(group);
  }
  const tail = t.tail(count);
  if (tail) ctx.io.out(tail);
}
