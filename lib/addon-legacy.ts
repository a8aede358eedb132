// TEMPORARY: the new raw interface (prepare/execute, JSON listings) over the
// addon's old methods, until native/ provides it. Deleted when it lands.
/* eslint-disable @typescript-eslint/no-explicit-any */
const STATS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes', 'cps', 'inpps', 'outpps', 'inbps', 'outbps'];

export function legacyHandle(Handle: any): any {
  if (typeof Handle.prototype.prepare === 'function') return Handle;
  class Shim extends Handle {}
  const proto: any = Shim.prototype;
  const def = (name: string, value: any) => Object.defineProperty(proto, name, { value, writable: true, configurable: true });
  const base = Handle.prototype;
  const oldExecute = base.execute;
  const old = { getServices: base.getServices, getService: base.getService, getDestinations: base.getDestinations, getDaemons: base.getDaemons };
  def('prepare', function (requests: any[]) {
    const mapped = requests.map((r) => {
      const out: any = { ...r };
      if (r.destination) out.destination = { ...r.destination, forwardingMethod: r.destination.forwarding };
      if (r.daemon) {
        const d = r.daemon;
        out.daemon = { state: d.state, multicastInterface: d.interface, syncId: d.syncId, syncMaxLen: d.maxLength, multicastGroup: d.group, multicastPort: d.port, multicastTtl: d.ttl };
      }
      return out;
    });
    return { requests: mapped };
  });
  def('execute', async function (this: any, batch: any) {
    const failures = await oldExecute.call(this, batch.requests);
    return failures.map((f: any) => ({ ...f, outcome: 'refused' }));
  });
  const statsOf = (s: any, stats: bigint[] | null) => {
    if (!stats || !s) return null;
    const index = stats.length / 10;
    for (const k of STATS) stats.push(s[k]);
    return index;
  };
  const dest = (d: any, stats: bigint[] | null) => ({
    address: d.address, family: d.family, port: d.port, weight: d.weight, forwarding: d.forwardingMethod,
    upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
    tunnel: d.tunnelType === undefined ? null : { type: d.tunnelType, port: d.tunnelPort ?? 0, flags: d.tunnelFlags ?? 0 },
    activeConnections: d.activeConns, inactiveConnections: d.inactiveConns, persistentConnections: d.persistentConns,
    stats: statsOf(d.stats, stats),
  });
  const svc = (s: any, stats: bigint[] | null, withDestinations: boolean) => {
    const o: any = {
      family: s.family, protocol: s.protocol, address: s.address, port: s.port, fwmark: s.fwmark, scheduler: s.scheduler,
      flags: s.flags & ~2, timeout: s.timeout, netmask: s.netmask, persistenceEngine: s.persistenceEngine, stats: statsOf(s.stats, stats),
    };
    if (withDestinations) o.destinations = (s.destinations ?? []).map((d: any) => dest(d, stats));
    return o;
  };
  const listing = (entries: any[], stats: bigint[] | null) => ({ chunks: [JSON.stringify(entries)], stats: stats ? BigUint64Array.from(stats) : null });
  def('list', async function (this: any, options: any) {
    const stats = options.stats ? [] : null;
    if (options.service) {
      const s = await old.getService.call(this, options.service);
      if (options.destinations) s.destinations = await old.getDestinations.call(this, options.service);
      return listing([svc(s, stats, options.destinations)], stats);
    }
    const all = await old.getServices.call(this, options.destinations);
    return listing(all.map((s: any) => svc(s, stats, options.destinations)), stats);
  });
  def('listDestinations', async function (this: any, key: any, options: any) {
    const stats = options.stats ? [] : null;
    const ds = await old.getDestinations.call(this, key);
    return listing(ds.map((d: any) => dest(d, stats)), stats);
  });
  def('getDaemons', async function (this: any) {
    const ds = await old.getDaemons.call(this);
    return ds.map((d: any) => ({ state: d.state, interface: d.multicastInterface, syncId: d.syncId, maxLength: d.syncMaxLen, group: d.multicastGroup, port: d.multicastPort, ttl: d.multicastTtl }));
  });
  return Shim;
}
