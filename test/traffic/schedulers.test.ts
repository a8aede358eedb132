// Every scheduler with real connections through NAT, asserting the exact
// choices the kernel's algorithm makes (net/netfilter/ipvs/ip_vs_<name>.c).
// The kernel keeps a service's destinations newest first; schedulers that
// walk that list (rr, and every tie-break) are checked against the order
// listDestinations() reports.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { HeldConnection, Topology } from '../../lib/testing/topology';
import { kernelAtLeast, markMethod, note, tally, useTrafficNetwork, vipAllocator } from './helpers';

interface Dest {
  backend: string;
  weight?: number;
  upperThreshold?: number;
}

/** An IPv4 address as the kernel's ntohl() gives it. */
function ipv4Number(address: string): number {
  return address.split('.').reduce((n, octet) => ((n << 8) | Number(octet)) >>> 0, 0);
}

/** hash_32(x, 8) of include/linux/hash.h: (x * 0x61C88647) >> 24. */
function hash32(x: number): number {
  return (Math.imul(x >>> 0, 0x61c88647) >>> 0) >>> 24;
}

/** ip_vs_dh_hashkey: hash_32(ntohl(daddr), 8). */
function dhBucket(address: string): number {
  return hash32(ipv4Number(address));
}

/** ip_vs_sh_hashkey: hash_32(ntohs(sport) + ntohl(saddr), 8); sport 0 without the port flag. */
function shBucket(address: string, port: number): number {
  return hash32(ipv4Number(address) + port);
}

describe('traffic: schedulers', function () {
  this.timeout(180_000);
  let topo: Topology;
  let handle: ipvs.IpvsHandle;
  const vips = vipAllocator(101);
  let held: HeldConnection[] = [];

  // Registered first, so held connections close before the shared hook flushes the table.
  afterEach(async () => {
    await Promise.all(held.map((c) => c.close()));
    held = [];
  });
  useTrafficNetwork({ backends: 3, clientAddresses: 12, markMethod: markMethod() }, (t, h) => {
    topo = t;
    handle = h;
  });

  /** A TCP service on a fresh VIP, port 80, with NAT destinations added in the given order. */
  async function service(options: ipvs.ServiceOptions, dests: Dest[]): Promise<ipvs.AddressServiceKey> {
    const vip = vips.v4();
    await topo.addVip(vip);
    const key = { protocol: 'tcp', address: vip, port: 80 } as const;
    await handle.addService({ ...key, ...options });
    for (const d of dests)
      await handle.addDestination(key, {
        address: topo.backend(d.backend).ipv4,
        forwarding: 'masq',
        weight: d.weight ?? 1,
        upperThreshold: d.upperThreshold ?? 0,
      });
    return key;
  }

  const all3: Dest[] = [{ backend: 'backend1' }, { backend: 'backend2' }, { backend: 'backend3' }];

  /** The kernel's destination order, as backend names. */
  async function order(key: ipvs.ServiceKey): Promise<string[]> {
    return (await handle.listDestinations(key)).map((d) => topo.backendAt(d.address));
  }

  /** Active connections per backend, as the kernel counts them. */
  async function active(key: ipvs.ServiceKey): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const d of await handle.listDestinations(key)) out[topo.backendAt(d.address)] = d.activeConnections;
    return out;
  }

  /** Opens n connections one after another and keeps them; 'refused' where no backend took one. */
  async function hold(vip: string, n: number): Promise<string[]> {
    const names: string[] = [];
    for (let i = 0; i < n; i++) {
      try {
        const c = await topo.open(vip, 80, { timeout: 3 });
        held.push(c);
        names.push(c.backend);
      } catch (error) {
        if (!/ConnectionRefused/.test((error as Error).message)) throw error;
        names.push('refused');
      }
    }
    return names;
  }

  async function release(backend: string): Promise<void> {
    const going = held.filter((c) => c.backend === backend);
    held = held.filter((c) => c.backend !== backend);
    for (const c of going) await c.close();
  }

  it('rr: strict rotation over the destinations, in the kernel\'s order', async () => {
    const key = await service({ scheduler: 'rr' }, all3);
    const cycle = await order(key);
    const names = await topo.requests(key.address, 80, 12);
    note(`order ${cycle.join(',')}; answers ${names.join(' ')}`);
    assert.deepEqual(names, [...cycle, ...cycle, ...cycle, ...cycle]);
  });

  it('wrr: shares exactly proportional to weight 3:2:1, in every period of 6', async () => {
    const key = await service({ scheduler: 'wrr' }, [
      { backend: 'backend1', weight: 3 },
      { backend: 'backend2', weight: 2 },
      { backend: 'backend3', weight: 1 },
    ]);
    const names = await topo.requests(key.address, 80, 60);
    note(`counts ${JSON.stringify(tally(names))}; first period ${names.slice(0, 6).join(' ')}`);
    assert.deepEqual(tally(names), { backend1: 30, backend2: 20, backend3: 10 });
    for (let i = 0; i < 60; i += 6) assert.deepEqual(tally(names.slice(i, i + 6)), { backend1: 3, backend2: 2, backend3: 1 }, `period at ${i}`);
    assert.deepEqual(names, names.map((_, i) => names[i % 6]), 'the same period repeats');
  });

  it('lc: new connections go to the backend with the fewest active ones while others are held open', async () => {
    const key = await service({ scheduler: 'lc' }, all3);
    const first = await hold(key.address, 6);
    note(`6 held: ${first.join(' ')}`);
    assert.deepEqual(tally(first), { backend1: 2, backend2: 2, backend3: 2 });
    assert.deepEqual(await active(key), { backend1: 2, backend2: 2, backend3: 2 });
    // Free the backend that took the last connection (round robin would go
    // to the first one next); lc must send the next two there.
    const freed = first[5];
    await release(freed);
    const after = await active(key);
    assert.equal(after[freed], 0);
    const next = await hold(key.address, 2);
    note(`closed the 2 on ${freed}; next 2 held: ${next.join(' ')}`);
    assert.deepEqual(next, [freed, freed]);
  });

  it('wlc: held connections split by weight 3:1 (6 and 2 of 8; lc would give 4 and 4)', async () => {
    const key = await service({ scheduler: 'wlc' }, [
      { backend: 'backend1', weight: 3 },
      { backend: 'backend2', weight: 1 },
    ]);
    const names = await hold(key.address, 8);
    note(`8 held: ${names.join(' ')}`);
    assert.deepEqual(tally(names), { backend1: 6, backend2: 2 });
    assert.deepEqual(await active(key), { backend1: 6, backend2: 2 });
  });

  it('sed: weight 4 vs 1 takes all of 3 held connections ((n+1)/w: 1/4, 2/4, 3/4 < 1/1)', async () => {
    const key = await service({ scheduler: 'sed' }, [
      { backend: 'backend1', weight: 4 },
      { backend: 'backend2', weight: 1 },
    ]);
    const names = await hold(key.address, 3);
    note(`3 held: ${names.join(' ')}`);
    assert.deepEqual(names, ['backend1', 'backend1', 'backend1']);
  });

  it('nq: an idle backend first, whatever its weight; then as sed', async () => {
    const key = await service({ scheduler: 'nq' }, [
      { backend: 'backend1', weight: 4 },
      { backend: 'backend2', weight: 1 },
    ]);
    const [firstIdle, secondIdle] = await order(key);
    const names = await hold(key.address, 3);
    note(`order ${firstIdle},${secondIdle}; 3 held: ${names.join(' ')}`);
    assert.deepEqual(names, [firstIdle, secondIdle, 'backend1']);
  });

  it('dh: each destination address always to one backend, different ones spread (exact hash prediction)', async () => {
    const mark = 110;
    const addresses = Array.from({ length: 8 }, (_, i) => `198.18.110.${i + 1}`);
    for (const a of addresses) await topo.addVip(a);
    const marking = await topo.mark({ destination: '198.18.110.0/24', protocol: 'tcp', port: 80, mark });
    try {
      const key = { fwmark: mark } as const;
      await handle.addService({ ...key, scheduler: 'dh' });
      for (const d of all3) await handle.addDestination(key, { address: topo.backend(d.backend).ipv4, port: 80, forwarding: 'masq' });
      const list = await order(key);
      const got: string[] = [];
      for (const a of addresses) {
        const names = await topo.requests(a, 80, 3);
        assert.deepEqual(names, [names[0], names[0], names[0]], `destination ${a}`);
        got.push(names[0]);
      }
      const expected = addresses.map((a) => list[dhBucket(a) % list.length]);
      note(`marked with ${marking.method}; ${addresses.map((a, i) => `${a}->${got[i]}`).join(' ')}`);
      assert.deepEqual(got, expected, 'the kernel hash bucket hash_32(ntohl(daddr), 8), bucket i to destination i mod 3');
      assert.ok(new Set(got).size >= 2, 'different destinations spread');
    } finally {
      await marking.remove();
    }
  });

  it('sh: each source address always to one backend, different ones spread (exact hash prediction)', async () => {
    const key = await service({ scheduler: 'sh' }, all3);
    const list = await order(key);
    const sources = topo.clients[0].ipv4Addresses;
    const got: string[] = [];
    for (const source of sources) {
      const names = await topo.requests(key.address, 80, 2, { source });
      assert.equal(names[1], names[0], `source ${source}`);
      got.push(names[0]);
    }
    note(`${sources.map((s, i) => `${s.split('.')[3]}->${got[i].replace('backend', 'b')}`).join(' ')}`);
    assert.deepEqual(got, sources.map((s) => list[shBucket(s, 0) % list.length]));
    assert.ok(new Set(got).size >= 2);
  });

  it('sh with the port flag: the source port joins the hash; without it one source is one backend', async () => {
    const source = topo.clients[0].ipv4;
    const plain = await service({ scheduler: 'sh' }, all3);
    const ported = await service({ scheduler: 'sh', schedulerFlags: { port: true } }, all3);
    const listed = await handle.getService(ported);
    assert.equal(listed.schedulerFlags.port, true);
    const list = await order(ported);
    // Below the ephemeral range (32768-60999): no other connection from this source can hold one (CI once
    // found 40004 and 40012 taken: EADDRINUSE, another test's connection in TIME_WAIT on that port).
    const ports = Array.from({ length: 12 }, (_, i) => 20001 + i);
    const withPort = (await topo.batch(ports.map((sourcePort) => ({ address: ported.address, port: 80, source, sourcePort })))).map((r) => r.backend ?? `error: ${r.error}`);
    const withoutPort = (await topo.batch(ports.map((sourcePort) => ({ address: plain.address, port: 80, source, sourcePort })))).map((r) => r.backend ?? `error: ${r.error}`);
    note(`port flag: ${withPort.join(' ')}; no flag: ${withoutPort.join(' ')}`);
    assert.deepEqual(withPort, ports.map((p) => list[shBucket(source, p) % list.length]));
    assert.ok(new Set(withPort).size >= 2, 'ports spread');
    assert.deepEqual(withoutPort, ports.map(() => list[shBucket(source, 0) % list.length]));
  });

  it('mh: stable per source; removing a backend moves only its own sources', async () => {
    const key = await service({ scheduler: 'mh' }, all3);
    const sources = topo.clients[0].ipv4Addresses;
    const ask = async () => (await topo.batch(sources.map((source) => ({ address: key.address, port: 80, source })))).map((r) => r.backend ?? `error: ${r.error}`);
    const first = await ask();
    const again = await ask();
    assert.deepEqual(again, first, 'the same source, the same backend');
    const counts = tally(first);
    assert.ok(Object.keys(counts).length >= 2, `sources spread: ${JSON.stringify(counts)}`);
    // Remove the backend with the most sources.
    const removed = Object.entries(counts).sort((a, b) => b[1] - a[1])[0][0];
    await handle.deleteDestination(key, { address: topo.backend(removed).ipv4 });
    const after = await ask();
    note(`before: ${first.join(' ')}`);
    note(`without ${removed}: ${after.join(' ')}`);
    const moved = sources.filter((_, i) => first[i] !== removed && after[i] !== first[i]);
    assert.ok(after.every((n) => n !== removed), 'nothing goes to the removed backend');
    assert.ok(moved.length <= 1, `sources of the remaining backends that moved: ${moved.join(', ')}`);
    note(`${counts[removed]} sources moved off ${removed}; ${moved.length} of the other ${sources.length - counts[removed]} moved`);
  });

  it('fo: every connection to the highest weight; fails over to the next when it is drained', async () => {
    const key = await service({ scheduler: 'fo' }, [
      { backend: 'backend1', weight: 1 },
      { backend: 'backend2', weight: 3 },
      { backend: 'backend3', weight: 2 },
    ]);
    const first = await topo.requests(key.address, 80, 6);
    await handle.editDestination(key, { address: topo.backend('backend2').ipv4, weight: 0 });
    const second = await topo.requests(key.address, 80, 6);
    note(`weights 1,3,2: ${first.join(' ')}; backend2 at weight 0: ${second.join(' ')}`);
    assert.deepEqual(tally(first), { backend2: 6 });
    assert.deepEqual(tally(second), { backend3: 6 });
  });

  it('ovf: the highest weight until its active connections exceed its weight, then the next, then none', async () => {
    const key = await service({ scheduler: 'ovf' }, [
      { backend: 'backend1', weight: 2 },
      { backend: 'backend2', weight: 1 },
    ]);
    const names = await hold(key.address, 6);
    note(`weights 2,1: ${names.join(' ')}`);
    // A destination is skipped once activeconns > weight: 3 then 2, then no one.
    assert.deepEqual(names, ['backend1', 'backend1', 'backend1', 'backend2', 'backend2', 'refused']);
  });

  it('ovf with upperThreshold: the highest weight overflows at its connection limit', async () => {
    const key = await service({ scheduler: 'ovf' }, [
      { backend: 'backend1', weight: 2, upperThreshold: 1 },
      { backend: 'backend2', weight: 1 },
    ]);
    const names = await hold(key.address, 4);
    const [d1] = (await handle.listDestinations(key)).filter((d) => d.address === topo.backend('backend1').ipv4);
    note(`backend1 weight 2 upper threshold 1, backend2 weight 1: ${names.join(' ')}`);
    assert.equal(d1.upperThreshold, 1);
    assert.deepEqual(names, ['backend1', 'backend2', 'backend2', 'refused']);
  });

  for (const scheduler of ['lblc', 'lblcr'] as const) {
    it(`${scheduler}: a destination address sticks to its backend, even the busier one`, async () => {
      const mark = scheduler === 'lblc' ? 111 : 112;
      const [a, b] = [`198.18.${mark}.1`, `198.18.${mark}.2`];
      await topo.addVip(a);
      await topo.addVip(b);
      const marking = await topo.mark({ destination: `198.18.${mark}.0/24`, protocol: 'tcp', port: 80, mark });
      try {
        const key = { fwmark: mark } as const;
        await handle.addService({ ...key, scheduler });
        for (const d of all3) await handle.addDestination(key, { address: topo.backend(d.backend).ipv4, port: 80, forwarding: 'masq', weight: 2 });
        const list = await order(key);
        const first = await topo.requests(a, 80, 3);
        const other = await topo.requests(b, 80, 3);
        const back = await topo.requests(a, 80, 3);
        note(`order ${list.join(',')}; ${a}: ${first.join(' ')}; ${b}: ${other.join(' ')}; ${a} again: ${back.join(' ')}`);
        assert.deepEqual(first, [list[0], list[0], list[0]]);
        // b is new: the least loaded (list[0] has 3 closed connections) takes it.
        assert.deepEqual(other, [list[1], list[1], list[1]]);
        // a again: its backend, though it is no longer the least loaded.
        assert.deepEqual(back, [list[0], list[0], list[0]]);
      } finally {
        await marking.remove();
      }
    });
  }

  for (const scheduler of ['lblc', 'lblcr'] as const) {
    it(`${scheduler}: an overloaded backend ${scheduler === 'lblc' ? 'is replaced' : 'gets a replica; the set is kept'}`, async () => {
      const key = await service({ scheduler }, all3.map((d) => ({ ...d, weight: 2 })));
      const list = await order(key);
      // Overloaded = more active connections than weight while another is below half.
      const names = await hold(key.address, 4);
      assert.deepEqual(names, [list[0], list[0], list[0], list[1]]);
      await release(list[0]);
      const [next] = await hold(key.address, 1);
      note(`order ${list.join(',')}; 4 held: ${names.join(' ')}; closed those on ${list[0]}; next: ${next}`);
      // lblc remembers only the newest backend for the address; lblcr keeps
      // the set {list[0], list[1]} and takes its least loaded member.
      assert.equal(next, scheduler === 'lblc' ? list[1] : list[0]);
    });
  }

  it('twos (6.2+): never an overloaded or weight-0 backend; fills each up to its threshold', async function () {
    if (!kernelAtLeast(6, 2)) {
      note(`skipped: the twos scheduler needs kernel 6.2+, this is ${process.env.IPVS_SANDBOX_KERNEL}`);
      return this.skip();
    }
    const key = await service({ scheduler: 'twos' }, [
      { backend: 'backend1', weight: 1, upperThreshold: 3 },
      { backend: 'backend2', weight: 1, upperThreshold: 3 },
      { backend: 'backend3', weight: 0 },
    ]);
    // Random picks, but only among destinations with weight > 0 that are not
    // overloaded: 3 each, then nothing is left.
    const names = await hold(key.address, 7);
    note(`7 held: ${names.join(' ')}`);
    assert.deepEqual(tally(names.slice(0, 6)), { backend1: 3, backend2: 3 });
    assert.equal(names[6], 'refused');
    assert.deepEqual(await active(key), { backend1: 3, backend2: 3, backend3: 0 });
  });
});
