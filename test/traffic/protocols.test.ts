// UDP and SCTP services, and the counters list() reads (conns, packets,
// bytes, active/inactive connections) as real traffic flows.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { eventually, findService, note, tally, vipAllocator, useTrafficNetwork } from './helpers';

describe('traffic: protocols and counters', function () {
  this.timeout(180_000);
  let topo: Topology;
  let handle: ipvs.IpvsHandle;
  const vips = vipAllocator(104);

  useTrafficNetwork({ backends: 2 }, (t, h) => {
    topo = t;
    handle = h;
  });

  async function rrService(protocol: ipvs.Protocol, forwarding: ipvs.ForwardingMethod = 'masq'): Promise<ipvs.AddressServiceKey> {
    const vip = vips.v4();
    await topo.addVip(vip);
    const key = { protocol, address: vip, port: 80 } as const;
    await handle.addService({ ...key, scheduler: 'rr' });
    for (const b of topo.backends) await handle.addDestination(key, { address: b.ipv4, forwarding });
    return key;
  }

  /** The service once the kernel's estimator has published `conns` connections. */
  async function settled(key: ipvs.AddressServiceKey, conns: bigint): Promise<ipvs.Service> {
    return eventually(async () => {
      const s = findService(await handle.list(), key.address, key.port);
      return s.stats!.conns >= conns ? s : undefined;
    }, `${conns} connections in the stats of ${key.address}`);
  }

  it('UDP (NAT): each datagram from a new port alternates; packet and byte counters are exact', async () => {
    const key = await rrService('udp');
    const results = await topo.attempt(key.address, 80, 6, { protocol: 'udp' });
    const names = results.map((r) => r.backend ?? `error: ${r.error}`);
    note(`answers: ${names.join(' ')}`);
    assert.deepEqual(names, [0, 1, 2, 3, 4, 5].map((i) => names[i % 2]));
    assert.equal(new Set(names).size, 2);
    const s = await settled(key, 6n);
    // One datagram each way per request: 20 (IPv4) + 8 (UDP) + payload.
    const request = 'hello\n'.length;
    const replies = results.map((r) => `${r.backend} ${r.peer} ${r.local}\n`.length);
    note(`stats: conns ${s.stats!.conns} inpkts ${s.stats!.inpkts} outpkts ${s.stats!.outpkts} inbytes ${s.stats!.inbytes} outbytes ${s.stats!.outbytes}`);
    assert.equal(s.stats!.conns, 6n);
    assert.equal(s.stats!.inpkts, 6n);
    assert.equal(s.stats!.outpkts, 6n);
    assert.equal(s.stats!.inbytes, BigInt(6 * (28 + request)));
    assert.equal(s.stats!.outbytes, BigInt(replies.reduce((a, n) => a + 28 + n, 0)));
    for (const d of s.destinations) {
      assert.equal(d.stats!.conns, 3n);
      assert.equal(d.stats!.inpkts, 3n);
      assert.equal(d.stats!.outpkts, 3n);
    }
  });

  it('UDP (direct routing): answers come from the VIP', async () => {
    const key = await rrService('udp', 'route');
    await topo.prepareBackends(key.address);
    const results = await topo.attempt(key.address, 80, 4, { protocol: 'udp' });
    const names = results.map((r) => r.backend ?? `error: ${r.error}`);
    note(`answers: ${names.join(' ')}`);
    assert.deepEqual(names, [names[0], names[1], names[0], names[1]]);
    assert.equal(new Set(names).size, 2);
    for (const r of results) assert.equal(r.local, key.address);
  });

  it('SCTP (NAT): associations alternate', async function () {
    if (!topo.sctp) {
      note('skipped: this kernel has no SCTP (the backends could not listen on it)');
      return this.skip();
    }
    const key = await rrService('sctp');
    const names = await topo.requests(key.address, 80, 4, { protocol: 'sctp' });
    note(`answers: ${names.join(' ')}`);
    assert.deepEqual(names, [names[0], names[1], names[0], names[1]]);
    assert.equal(new Set(names).size, 2);
    const s = await settled(key, 4n);
    assert.equal(s.protocol, 'sctp');
    assert.equal(s.stats!.conns, 4n);
    assert.deepEqual(s.destinations.map((d) => d.stats!.conns), [2n, 2n]);
  });

  it('active and inactive connection counts follow live connections', async () => {
    const key = await rrService('tcp');
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await topo.open(key.address, 80));
    const counts = tally(held.map((c) => c.backend));
    const read = async () =>
      Object.fromEntries(
        (await handle.listDestinations(key)).map((d) => [topo.backendAt(d.address), [d.activeConnections, d.inactiveConnections]]),
      );
    const open = await read();
    for (const c of held) await c.close();
    const closed = await read();
    note(`held ${JSON.stringify(counts)}; [active, inactive] while open ${JSON.stringify(open)}, after closing ${JSON.stringify(closed)}`);
    for (const name of ['backend1', 'backend2']) {
      assert.deepEqual(open[name], [counts[name], 0]);
      // Closed TCP connections linger in TIME_WAIT: inactive.
      assert.deepEqual(closed[name], [0, counts[name]]);
    }
  });

  it('listConnections() shows live connections, then their closing state', async () => {
    const key = await rrService('tcp');
    const held = [];
    for (let i = 0; i < 2; i++) held.push(await topo.open(key.address, 80));
    const mine = async () =>
      (await handle.listConnections()).filter((c) => c.virtual.address === key.address && c.virtual.port === key.port);
    const live = await mine();
    note(`live: ${live.map((c) => `${c.client.address}:${c.client.port} -> ${c.destination.address} ${c.state} ${c.expires}s`).join('; ')}`);
    assert.equal(live.length, 2);
    assert.ok(live.every((c) => c.protocol === 'tcp' && c.state === 'ESTABLISHED'));
    assert.deepEqual(live.map((c) => topo.backendAt(c.destination.address)).sort(), held.map((c) => c.backend).sort());
    assert.ok(live.every((c) => c.destination.port === 80 && topo.clients[0].ipv4Addresses.includes(c.client.address)));
    // The client address the backends saw is the one in the table (NAT keeps it).
    assert.deepEqual(live.map((c) => c.client.address).sort(), held.map((c) => c.peer).sort());
    for (const c of held) await c.close();
    const closed = await mine();
    note(`after closing: ${closed.map((c) => c.state).join(', ')}`);
    assert.equal(closed.length, 2);
    assert.ok(closed.every((c) => c.state !== 'ESTABLISHED'));
  });

  it('stats move with the traffic and zero() resets them', async () => {
    const key = await rrService('tcp');
    const before = findService(await handle.list(), key.address);
    assert.deepEqual(
      [before.stats!.conns, before.stats!.inpkts, before.stats!.outpkts, before.stats!.inbytes, before.stats!.outbytes],
      [0n, 0n, 0n, 0n, 0n],
    );
    await topo.requests(key.address, 80, 10);
    const s = await settled(key, 10n);
    note(`after 10: conns ${s.stats!.conns} inpkts ${s.stats!.inpkts} outpkts ${s.stats!.outpkts} inbytes ${s.stats!.inbytes} outbytes ${s.stats!.outbytes}`);
    assert.equal(s.stats!.conns, 10n);
    // Per TCP connection: at least SYN, ACK, FIN, ACK in and SYN-ACK, data, FIN out; 40+ bytes each.
    assert.ok(s.stats!.inpkts >= 40n && s.stats!.inpkts <= 80n, `inpkts ${s.stats!.inpkts}`);
    assert.ok(s.stats!.outpkts >= 30n && s.stats!.outpkts <= 80n, `outpkts ${s.stats!.outpkts}`);
    assert.ok(s.stats!.inbytes >= 40n * s.stats!.inpkts, `inbytes ${s.stats!.inbytes}`);
    assert.ok(s.stats!.outbytes >= 40n * s.stats!.outpkts + 10n * 20n, `outbytes ${s.stats!.outbytes}`);
    assert.equal(s.destinations.reduce((a, d) => a + d.stats!.inpkts, 0n), s.stats!.inpkts);
    assert.deepEqual(s.destinations.map((d) => d.stats!.conns), [5n, 5n]);

    await handle.zero(key);
    const zeroed = findService(await handle.list(), key.address);
    assert.deepEqual([zeroed.stats!.conns, zeroed.stats!.inpkts, zeroed.stats!.outbytes], [0n, 0n, 0n]);
    await topo.requests(key.address, 80, 4);
    const again = await settled(key, 4n);
    assert.equal(again.stats!.conns, 4n);
  });
});
