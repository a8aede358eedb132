// Session affinity (persistence, netmask), graceful drain (weight 0) and
// firewall-mark services, with real connections through NAT.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { eventually, markMethod, note, tally, vipAllocator, useTrafficNetwork } from './helpers';

describe('traffic: affinity, drain, fwmark', function () {
  this.timeout(180_000);
  let topo: Topology;
  let handle: ipvs.IpvsHandle;
  const vips = vipAllocator(103);

    // client1 has two addresses in its /24; client2 is in another /24.
  useTrafficNetwork({ backends: 2, clients: 2, clientAddresses: 2, markMethod: markMethod() }, (t, h) => {
    topo = t;
    handle = h;
  });

  async function rrService(options: ipvs.ServiceOptions = {}): Promise<ipvs.AddressServiceKey> {
    const vip = vips.v4();
    await topo.addVip(vip);
    const key = { protocol: 'tcp', address: vip, port: 80 } as const;
    await handle.addService({ ...key, scheduler: 'rr', ...options });
    for (const b of topo.backends) await handle.addDestination(key, { address: b.ipv4, forwarding: 'masq' });
    return key;
  }

  it('persistence: each client stays on one backend within the timeout (rr would alternate)', async () => {
    const key = await rrService({ persistence: { timeout: 60 } });
    const [a1, a2] = topo.clients[0].ipv4Addresses;
    const first = await topo.requests(key.address, 80, 6, { source: a1 });
    const second = await topo.requests(key.address, 80, 6, { source: a2 });
    const again = await topo.requests(key.address, 80, 6, { source: a1 });
    note(`${a1}: ${first.join(' ')}; ${a2}: ${second.join(' ')}; ${a1} again: ${again.join(' ')}`);
    assert.equal(new Set(first).size, 1);
    assert.equal(new Set(second).size, 1);
    assert.notEqual(second[0], first[0], 'a second client gets the next backend (rr)');
    assert.deepEqual(again, first);
    const s = await handle.getService(key);
    assert.deepEqual(s.persistence, { timeout: 60, netmask: 32 });
    // One affinity template per client, on its backend.
    assert.deepEqual(
      s.destinations.map((d) => d.persistentConnections),
      [1, 1],
    );
  });

  it('persistence netmask /24: two clients of one /24 share a backend; another /24 does not', async () => {
    const key = await rrService({ persistence: { timeout: 60, netmask: 24 } });
    const [a1, a2] = topo.clients[0].ipv4Addresses;
    const other = topo.clients[1];
    const one = await topo.requests(key.address, 80, 4, { source: a1 });
    const two = await topo.requests(key.address, 80, 4, { source: a2 });
    const three = await topo.requests(key.address, 80, 4, { client: other.name });
    note(`${a1}: ${one.join(' ')}; ${a2}: ${two.join(' ')}; ${other.ipv4}: ${three.join(' ')}`);
    assert.deepEqual(tally([...one, ...two]), { [one[0]]: 8 }, 'both sources of 198.19.x.0/24 on one backend');
    assert.equal(new Set(three).size, 1);
    assert.notEqual(three[0], one[0]);
    const s = await handle.getService(key);
    assert.deepEqual(s.persistence, { timeout: 60, netmask: 24 });
    assert.deepEqual(s.destinations.map((d) => d.persistentConnections).sort(), [1, 1], 'one template per /24');
  });

  it('weight 0: no new connections, while a held-open connection keeps working (graceful drain)', async () => {
    const key = await rrService();
    const held = await topo.open(key.address, 80);
    try {
      const drained = topo.backend(held.backend);
      const other = topo.backends.find((b) => b !== drained)!;
      await handle.editDestination(key, { address: drained.ipv4, weight: 0 });
      const names = await topo.requests(key.address, 80, 8);
      const answer = await held.ping();
      note(`held on ${held.backend}, set to weight 0; 8 new: ${names.join(' ')}; held connection answers: ${answer}`);
      assert.deepEqual(tally(names), { [other.name]: 8 });
      assert.equal(answer, drained.name);
      const d = (await handle.listDestinations(key)).find((x) => x.address === drained.ipv4)!;
      assert.equal(d.weight, 0);
      assert.equal(d.forwarding, 'masq', 'editDestination keeps the other fields');
      assert.equal(d.activeConnections, 1, 'the held connection still counts');
      // Back to weight 1: rr uses it again.
      await handle.editDestination(key, { address: drained.ipv4, weight: 1 });
      assert.deepEqual(tally(await topo.requests(key.address, 80, 4)), { [drained.name]: 2, [other.name]: 2 });
    } finally {
      await held.close();
    }
  });

  it('apply({ drain }): a leaving destination takes no new connections, keeps its held one, and goes once it closes', async function () {
    this.timeout(300_000);
    const key = await rrService();
    const held = await topo.open(key.address, 80);
    const drained = topo.backend(held.backend);
    const other = topo.backends.find((b) => b !== drained)!;
    const desired: ipvs.DesiredService[] = [{ ...key, scheduler: 'rr', destinations: [{ address: other.ipv4, forwarding: 'masq' }] }];
    // Only this test's service is in play: the prune predicate is its VIP.
    const options = { drain: true, prune: (s: ipvs.PrunedService) => s.address === key.address };
    try {
      const first = await handle.apply(desired, options);
      assert.deepEqual(first.plan.map((op) => op.operation), ['drainDestination']);
      const names = await topo.requests(key.address, 80, 8);
      const answer = await held.ping();
      note(`held on ${held.backend}; drained by apply(); 8 new: ${names.join(' ')}; held connection answers: ${answer}`);
      assert.deepEqual(tally(names), { [other.name]: 8 });
      assert.equal(answer, drained.name);
      // Still connected: the next apply keeps it (draining), and says so.
      const second = await handle.apply(desired, options);
      assert.deepEqual(second.plan, []);
      assert.equal(second.draining.length, 1);
      assert.equal(second.draining[0].activeConnections, 1);
    } finally {
      await held.close();
    }
    // Closed: the kernel counts it as inactive until its TIME_WAIT entry expires (2 minutes), then not at all.
    await eventually(async () => {
      const d = (await handle.listDestinations(key)).find((x) => x.address === drained.ipv4)!;
      return d.activeConnections + d.inactiveConnections === 0;
    }, 'the drained destination to have no connections left', 170_000);
    const last = await handle.apply(desired, options);
    assert.deepEqual(last.plan.map((op) => op.operation), ['deleteDestination']);
    assert.equal(last.counts.applied, 1);
    assert.deepEqual((await handle.listDestinations(key)).map((d) => d.address), [other.ipv4]);
  });

  for (const family of ['ipv4', 'ipv6'] as const) {
    it(`fwmark service (${family}): balances exactly the marked packets`, async () => {
      const vip = family === 'ipv4' ? vips.v4() : vips.v6();
      await topo.addVip(vip);
      const mark = family === 'ipv4' ? 7 : 8;
      const key = { fwmark: mark, family } as const;
      await handle.addService({ ...key, scheduler: 'rr' });
      for (const b of topo.backends) await handle.addDestination(key, { address: family === 'ipv4' ? b.ipv4 : b.ipv6, port: 80, forwarding: 'masq' });
      // Nothing is marked yet: the director itself answers (nothing listens: refused).
      const unmarked = await topo.attempt(vip, 80, 1);
      assert.match(unmarked[0].error ?? '', /ConnectionRefused/);
      const marking = await topo.mark({ destination: vip, protocol: 'tcp', port: 80, mark });
      let names: string[];
      let port81: string | undefined;
      try {
        names = await topo.requests(vip, 80, 6);
        // Port 81 is not marked: not balanced.
        port81 = (await topo.attempt(vip, 81, 1))[0].error;
      } finally {
        await marking.remove();
      }
      const after = (await topo.attempt(vip, 80, 1))[0].error;
      note(`marked with ${marking.method}: ${names.join(' ')}; port 81: ${port81}; after removing the rule: ${after}`);
      assert.deepEqual(names, [0, 1, 2, 3, 4, 5].map((i) => names[i % 2]));
      assert.equal(new Set(names).size, 2);
      assert.match(port81 ?? '', /ConnectionRefused/);
      assert.match(after ?? '', /ConnectionRefused/);
      const s = await eventually(async () => {
        const found = (await handle.list()).find((x) => x.fwmark === mark && x.family === family);
        return found && found.stats!.conns >= 6n ? found : undefined;
      }, `6 connections in the stats of fwmark ${mark}`);
      assert.equal(s.stats!.conns, 6n);
      assert.deepEqual(s.destinations.map((d) => d.stats!.conns), [3n, 3n]);
    });
  }
});
