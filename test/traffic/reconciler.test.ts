// The reconciler with real connections: a client holding a connection
// through a VIP sees no reset while the reconciler drains its destination
// and adds another; new connections go only to the others; the drain ends
// by itself at its timeout (the reconciler re-reads draining services).
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { eventually, note, tally, useTrafficNetwork, vipAllocator } from './helpers';

describe('traffic: the reconciler', function () {
  this.timeout(180_000);
  let topo: Topology;
  let handle: ipvs.IpvsHandle;
  const vips = vipAllocator(105);

  useTrafficNetwork({ backends: 3, clients: 1 }, (t, h) => {
    topo = t;
    handle = h;
  });

  it('drains a destination holding a connection (no reset) while it adds another, then ends the drain at its timeout once it is closed', async () => {
    const vip = vips.v4();
    await topo.addVip(vip);
    const key = { protocol: 'tcp', address: vip, port: 80 } as const;
    const [b0, b1, b2] = topo.backends;
    const r = await handle.reconciler({ owns: (s) => s.address === vip, drain: { timeout: 4 }, drainPoll: 1000 });
    try {
      await r.setDesired([{ ...key, scheduler: 'rr', destinations: [{ address: b0.ipv4, forwarding: 'masq' }, { address: b1.ipv4, forwarding: 'masq' }] }]);
      const held = await topo.open(vip, 80);
      const drained = topo.backend(held.backend);
      const kept = drained === b0 ? b1 : b0;
      try {
        const [gone, added] = await Promise.all([r.deleteDestination(key, { address: drained.ipv4 }), r.setDestination(key, { address: b2.ipv4, forwarding: 'masq' })]);
        assert.equal(gone, added, 'one send carried both');
        assert.deepEqual(gone.plan.map((op) => op.operation).sort(), ['addDestination', 'drainDestination']);
        const names = await topo.requests(vip, 80, 8);
        const answer = await held.ping();
        note(`held on ${drained.name}; drained by the reconciler; 8 new: ${names.join(' ')}; held connection answers: ${answer}`);
        assert.deepEqual(tally(names), { [kept.name]: 4, [b2.name]: 4 });
        assert.equal(answer, drained.name, 'the held connection still works (no reset)');
      } finally {
        await held.close();
      }
      // Closed, it still counts (TIME_WAIT) for two minutes: at the drain's timeout the reconciler deletes it by itself.
      await eventually(async () => {
        const s = await handle.getService(key);
        return !s.destinations.some((d) => d.address === drained.ipv4);
      }, 'the drained destination to be deleted at its timeout', 60_000);
    } finally {
      await r.close();
    }
  });
});
