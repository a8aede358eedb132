// Forwarding methods with real traffic: NAT (masq), direct routing, and the
// IPIP, GUE and GRE tunnels, each over round robin between two backends.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { eventually, findService, kernelAtLeast, note, vipAllocator, useTrafficNetwork } from './helpers';

describe('traffic: forwarding methods', function () {
  this.timeout(180_000);
  let topo: Topology;
  let handle: ipvs.IpvsHandle;
  const vips = vipAllocator(102);

  useTrafficNetwork({ backends: 2 }, (t, h) => {
    topo = t;
    handle = h;
  });

  /** An rr service on a fresh VIP with both backends, all with the given forwarding. */
  async function rrService(family: 'ipv4' | 'ipv6', destination: Omit<ipvs.DestinationSpec, 'address'>) {
    const vip = family === 'ipv4' ? vips.v4() : vips.v6();
    await topo.addVip(vip);
    const service = { protocol: 'tcp', address: vip, port: 80 } as const;
    await handle.addService({ ...service, scheduler: 'rr' });
    for (const b of topo.backends) await handle.addDestination(service, { address: family === 'ipv4' ? b.ipv4 : b.ipv6, ...destination });
    return service;
  }

  /**
   * 6 requests: strict alternation over both backends. Every backend saw the
   * client's own address, and was reached at `local`: its own address (NAT
   * rewrote the destination) or the VIP (direct routing, tunnels: unchanged).
   */
  async function alternates(vip: string, client: string, local: 'own' | 'vip'): Promise<string[]> {
    const results = await topo.attempt(vip, 80, 6);
    const names = results.map((r) => r.backend ?? `error: ${r.error}`);
    note(`answers: ${names.join(' ')}; reached at ${[...new Set(results.map((r) => r.local))].join(', ')}`);
    assert.deepEqual(new Set(names.slice(0, 2)), new Set(['backend1', 'backend2']), `first two answers ${names}`);
    assert.deepEqual(names, [0, 1, 2, 3, 4, 5].map((i) => names[i % 2]));
    for (const r of results) {
      assert.equal(r.peer, client, 'the backend saw the client address, not the director');
      const b = topo.backend(r.backend!);
      assert.equal(r.local, local === 'vip' ? vip : vip.includes(':') ? b.ipv6 : b.ipv4);
    }
    return names;
  }

  /** The service once the kernel's counters show `conns` connections (they are published every 2 s). */
  async function settled(address: string, conns: bigint): Promise<ipvs.Service> {
    return eventually(async () => {
      const s = findService(await handle.list(), address);
      return s.stats!.conns >= conns ? s : undefined;
    }, `${conns} connections in the stats of ${address}`);
  }

  async function tunnelRx(device: string): Promise<number[]> {
    return Promise.all(topo.backends.map(async (b) => (await topo.linkStats(b.name, device)).rxPackets));
  }

  it('NAT (masq), IPv4: alternates, replies pass back through IPVS (outpkts counted)', async () => {
    const service = await rrService('ipv4', { forwarding: 'masq' });
    await alternates(service.address, topo.clients[0].ipv4, 'own');
    const s = await settled(service.address, 6n);
    assert.equal(s.stats!.conns, 6n);
    assert.deepEqual(s.destinations.map((d) => d.stats!.conns), [3n, 3n]);
    // Each connection: SYN, ACK, FIN, ACK at least in; SYN-ACK, data, FIN at least out.
    assert.ok(s.stats!.inpkts >= 24n && s.stats!.inpkts <= 48n, `inpkts ${s.stats!.inpkts}`);
    assert.ok(s.stats!.outpkts >= 18n && s.stats!.outpkts <= 48n, `outpkts ${s.stats!.outpkts}`);
    note(`stats: conns ${s.stats!.conns} inpkts ${s.stats!.inpkts} outpkts ${s.stats!.outpkts}`);
  });

  it('NAT (masq), IPv6: alternates, the backend sees the client address', async () => {
    const service = await rrService('ipv6', { forwarding: 'masq' });
    await alternates(service.address, topo.clients[0].ipv6, 'own');
    const s = await settled(service.address, 6n);
    assert.equal(s.family, 'ipv6');
    assert.equal(s.stats!.conns, 6n);
    assert.ok(s.stats!.outpkts > 0n);
  });

  it('direct routing, IPv4: alternates; the backends get the packets addressed to the VIP', async () => {
    const service = await rrService('ipv4', { forwarding: 'route' });
    await topo.prepareBackends(service.address);
    await alternates(service.address, topo.clients[0].ipv4, 'vip');
    const s = await settled(service.address, 6n);
    assert.equal(s.stats!.conns, 6n);
    assert.ok(s.stats!.inpkts >= 24n && s.stats!.inpkts <= 48n, `inpkts ${s.stats!.inpkts}`);
    // The backends' replies pass through the director here (their default
    // route); since 5.10 IPVS looks DR/TUN replies up too and counts them.
    assert.ok(s.stats!.outpkts >= 18n && s.stats!.outpkts <= 48n, `outpkts ${s.stats!.outpkts}`);
    note(`stats: inpkts ${s.stats!.inpkts} outpkts ${s.stats!.outpkts}`);
  });

  it('direct routing, IPv6: alternates; the backends get the packets addressed to the VIP', async () => {
    const service = await rrService('ipv6', { forwarding: 'route' });
    await topo.prepareBackends(service.address);
    await alternates(service.address, topo.clients[0].ipv6, 'vip');
    const s = await settled(service.address, 6n);
    assert.equal(s.stats!.conns, 6n);
  });

  it('IPIP tunnel: alternates; the packets arrive encapsulated on tunl0', async () => {
    const service = await rrService('ipv4', { forwarding: 'tunnel' });
    await topo.prepareBackends(service.address, { tunnel: 'ipip' });
    const before = await tunnelRx('tunl0');
    await alternates(service.address, topo.clients[0].ipv4, 'vip');
    const after = await tunnelRx('tunl0');
    const rx = after.map((n, i) => n - before[i]);
    note(`tunl0 rx packets per backend: ${rx.join(', ')}`);
    for (const n of rx) assert.ok(n >= 12 && n <= 24, `3 connections of >= 4 packets in decapsulated, got ${n}`);
    const s = await settled(service.address, 6n);
    assert.deepEqual(s.destinations.map((d) => d.tunnel?.type ?? null), ['ipip', 'ipip']);
  });

  it('GUE tunnel: alternates; decapsulated by the backend\'s GUE port', async function () {
    if (!kernelAtLeast(5, 2)) {
      note(`skipped: GUE tunnels need kernel 5.2+, this is ${process.env.IPVS_SANDBOX_KERNEL}`);
      return this.skip();
    }
    const port = 6080;
    const service = await rrService('ipv4', { forwarding: 'tunnel', tunnel: { type: 'gue', port } });
    await topo.prepareBackends(service.address, { tunnel: 'gue', port });
    const before = await tunnelRx('tunl0');
    await alternates(service.address, topo.clients[0].ipv4, 'vip');
    const rx = (await tunnelRx('tunl0')).map((n, i) => n - before[i]);
    note(`tunl0 rx packets (after GUE decapsulation) per backend: ${rx.join(', ')}`);
    for (const n of rx) assert.ok(n >= 12 && n <= 24, `got ${n}`);
    const s = await settled(service.address, 6n);
    assert.deepEqual(
      s.destinations.map((d) => d.tunnel),
      [{ type: 'gue', port, checksum: 'none' }, { type: 'gue', port, checksum: 'none' }],
    );
  });

  it('GRE tunnel: alternates; the packets arrive on gre0', async function () {
    if (!kernelAtLeast(5, 3)) {
      note(`skipped: GRE tunnels need kernel 5.3+, this is ${process.env.IPVS_SANDBOX_KERNEL}`);
      return this.skip();
    }
    const service = await rrService('ipv4', { forwarding: 'tunnel', tunnel: { type: 'gre' } });
    await topo.prepareBackends(service.address, { tunnel: 'gre' });
    const before = await tunnelRx('gre0');
    await alternates(service.address, topo.clients[0].ipv4, 'vip');
    const rx = (await tunnelRx('gre0')).map((n, i) => n - before[i]);
    note(`gre0 rx packets per backend: ${rx.join(', ')}`);
    for (const n of rx) assert.ok(n >= 12 && n <= 24, `got ${n}`);
    const s = await settled(service.address, 6n);
    assert.deepEqual(s.destinations.map((d) => d.tunnel?.type), ['gre', 'gre']);
  });
});
