// Every listing of the `ipvs` command, in one place: the table (or one
// service), the connections, the timeouts and the sync daemons, as ipvsadm
// prints them or as JSON. Both command lines (ipvsadm's -L and the readable
// `list`, `connections`, `timeouts`, `daemons`) come here.
import { jsonReplacer, type IpvsHandle, type Service, type ServiceKey } from '../index';
import { formatIpvsadmConnections, formatIpvsadmDaemons, formatIpvsadmList, formatIpvsadmService, formatIpvsadmTimeouts, type ListOptions } from '../rules/format';
import type { ListFormat } from '../rules';
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
  // The counters are read only where they are shown (a 20,000 x 10 table has 220,000 stats objects).
  const services = r.service ? [await handle.getService(r.service)] : await handle.list({ stats: r.json || f.stats || f.rate });
  if (r.json) {
    ctx.io.out(json(r.service ? services[0] : services));
    return;
  }
  const options: ListOptions = { ...f, names: f.numeric ? undefined : await lookupNames(addressesOf(services)) };
  ctx.io.out(r.service ? formatIpvsadmService(services[0], options) : formatIpvsadmList(services, await handle.info(), options));
}
