// The core's exact semantics (issue 7): edits atomic and in call order,
// nested merges, addresses compared as addresses, one call never failing
// another, errors that name what the caller called, ipvsadm's defaults, and
// shapes that round-trip. Checked against the kernel with ipvsadm.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { resetTable, savedRules, suiteHandle } from './helpers';

const web = { protocol: 'tcp', address: '198.18.1.1', port: 80 } as const;

describe('kernel: exact core semantics', function () {
  const h = suiteHandle();
  let handle: ipvs.IpvsHandle;
  beforeEach(() => {
    handle = h();
  });

  it('two concurrent edits of different settings both take effect', async () => {
    await handle.addService({ ...web, scheduler: 'wlc' });
    await Promise.all([handle.editService(web, { scheduler: 'rr' }), handle.editService(web, { persistence: { timeout: 60 } })]);
    assert.deepEqual(savedRules(), ['-A -t 198.18.1.1:80 -s rr -p 60']);
  });

  it('an edit made before a delete takes effect before it, and one made before close() completes', async () => {
    await handle.addService(web);
    await handle.addDestination(web, { address: '198.18.2.1', forwarding: 'masq' });
    const edit = handle.editDestination(web, { address: '198.18.2.1', weight: 5 });
    const del = handle.deleteService(web);
    await Promise.all([edit, del]);
    assert.deepEqual(savedRules(), []);

    const h = await ipvs.open();
    await h.addService(web);
    const late = h.editService(web, { scheduler: 'sh' });
    const closed = h.close();
    await Promise.all([late, closed]);
    assert.deepEqual(savedRules(), ['-A -t 198.18.1.1:80 -s sh']);
    await assert.rejects(h.list(), (e: ipvs.IpvsError) => e.code === ipvs.HANDLE_CLOSED);
  });

  it('edits merge nested settings: the netmask and the other scheduler flag are kept', async () => {
    await handle.addService({ ...web, scheduler: 'sh', persistence: { timeout: 30, netmask: 24 }, schedulerFlags: { fallback: true, port: true } });
    await handle.editService(web, { persistence: { timeout: 60 } });
    await handle.editService(web, { schedulerFlags: { port: false } });
    assert.deepEqual(savedRules(), ['-A -t 198.18.1.1:80 -s sh -p 60 -M 255.255.255.0 -b sh-fallback']);
    await handle.editService(web, { persistence: null });
    assert.deepEqual(savedRules(), ['-A -t 198.18.1.1:80 -s sh -b sh-fallback']);
  });

  it('editDestination finds an IPv6 destination however its address is written', async () => {
    const v6 = { protocol: 'tcp', address: '2001:db8::1', port: 80 } as const;
    await handle.addService(v6);
    await handle.addDestination(v6, { address: '2001:db8::2', forwarding: 'masq', weight: 1 });
    await handle.editDestination({ ...v6, address: '2001:DB8:0::1' }, { address: '2001:DB8::2', weight: 7 });
    await handle.editDestination(v6, { address: '2001:db8:0:0::2', upperThreshold: 9 });
    assert.deepEqual(savedRules(), ['-A -t [2001:db8::1]:80 -s wlc', '-a -t [2001:db8::1]:80 -r [2001:db8::2]:80 -m -w 7']);
    const [d] = await handle.listDestinations(v6);
    assert.equal(d.upperThreshold, 9);
  });

  it("an edit reads the caller's objects once: a getter that answers differently the second time cannot retarget it", async () => {
    await handle.addService(web);
    await handle.addDestination(web, { address: '198.18.2.1', port: 80, forwarding: 'masq', weight: 1 });
    await handle.addDestination(web, { address: '198.18.2.1', port: 8080, forwarding: 'masq', weight: 1 });
    let reads = 0;
    const fickle = {
      address: '198.18.2.1',
      get port() {
        return reads++ === 0 ? 80 : 8080;
      },
      weight: 9,
    };
    await handle.editDestination(web, fickle as ipvs.DestinationSpec);
    assert.equal(reads, 1);
    assert.deepEqual(savedRules(), [
      '-A -t 198.18.1.1:80 -s wlc',
      '-a -t 198.18.1.1:80 -r 198.18.2.1:80 -m -w 9',
      '-a -t 198.18.1.1:80 -r 198.18.2.1:8080 -m -w 1',
    ]);
  });

  it('an edit reads only what it needs: one service read for editService, one destination dump for editDestination', async () => {
    await handle.addService(web);
    await handle.addDestination(web, { address: '198.18.2.1' });
    const native = (handle as unknown as { native: Record<string, (...a: unknown[]) => unknown> }).native;
    const calls: string[] = [];
    const spy = (name: string) => {
      const original = native[name];
      // The addon's methods are read-only on its prototype: shadow them on the instance.
      Object.defineProperty(native, name, {
        configurable: true,
        value: (...args: unknown[]) => {
          calls.push(`${name}${name === 'list' ? `(destinations=${(args[0] as { destinations: boolean }).destinations})` : ''}`);
          return original.apply(native, args);
        },
      });
      return () => delete native[name];
    };
    const undo = [spy('list'), spy('listDestinations')];
    try {
      await handle.editService(web, { scheduler: 'rr' });
      await handle.editDestination(web, { address: '198.18.2.1', weight: 0 });
    } finally {
      undo.forEach((u) => u());
    }
    assert.deepEqual(calls, ['list(destinations=false)', 'listDestinations']);
  });

  it('an address with a zone id is a RangeError, and the calls packed with it still succeed', async () => {
    const calls = [
      handle.addService(web),
      handle.addService({ protocol: 'tcp', address: 'fe80::1%eth0', port: 80 }),
      handle.addService({ ...web, port: 81 }),
    ];
    const results = await Promise.allSettled(calls);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.ok((results[1] as PromiseRejectedResult).reason instanceof RangeError);
    assert.match((results[1] as PromiseRejectedResult).reason.message, /zone id\) for service\.address but received "fe80::1%eth0"/);
    assert.equal(savedRules().length, 2);
  });

  it('errors name the operation the caller called, and the stack shows the caller', async function namedCaller() {
    await assert.rejects(handle.editService(web, { scheduler: 'rr' }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, 'ESRCH');
      assert.equal(e.operation, 'editService');
      assert.equal(e.message, 'service tcp 198.18.1.1:80 does not exist');
      assert.match(e.stack ?? '', /namedCaller/);
      return true;
    });
    await handle.addService(web);
    await assert.rejects(handle.addService(web), (e: ipvs.IpvsError) => /namedCaller/.test(e.stack ?? '') && e.code === 'EEXIST');
  });

  it('close() is always safe: after a failed open, twice, and on the default handle', async () => {
    await assert.rejects(ipvs.open({ netns: '/nonexistent/netns' }), (e: ipvs.IpvsError) => e instanceof ipvs.IpvsError && e.code === 'ENOENT');
    const { createHandle } = await import('../../lib/ipvs-handle');
    const broken = createHandle({ netns: '/nonexistent/netns' });
    await broken.close();
    await broken.close();
    await ipvs.closeDefaultHandle();
    await ipvs.closeDefaultHandle();
  });

  it("ipvsadm's defaults: -p alone is 360 s, wlc, direct routing, weight 1, the service's port", async () => {
    await handle.addService({ ...web, persistence: {} });
    await handle.addDestination(web, { address: '198.18.2.1' });
    assert.deepEqual(savedRules(), ['-A -t 198.18.1.1:80 -s wlc -p 360', '-a -t 198.18.1.1:80 -r 198.18.2.1:80 -g -w 1']);
    const [s] = await handle.list();
    assert.deepEqual(s.persistence, { timeout: ipvs.DEFAULT_PERSISTENCE_TIMEOUT, netmask: 32 });
  });

  it('list() round-trips: fwmark services without protocol, one netmask form, and the same table rebuilt from it', async () => {
    await handle.addService({ fwmark: 7, family: 'ipv6', scheduler: 'mh', schedulerFlags: { port: true } });
    await handle.addService({ ...web, protocol: 'udp', scheduler: 'rr', persistence: { timeout: 100, netmask: '255.255.0.0' }, onePacket: true });
    await handle.addService({ protocol: 'tcp', address: '2001:db8::9', port: 443, persistence: { timeout: 5, netmask: 64 } });
    await handle.addDestination({ ...web, protocol: 'udp' }, { address: '198.18.2.1', forwarding: 'tunnel', tunnel: { type: 'gre' } });
    await handle.addDestination({ ...web, protocol: 'udp' }, { address: '198.18.2.2', forwarding: 'tunnel' });
    const before = savedRules();
    const listed = await handle.list();
    const mark = listed.find((s) => s.fwmark === 7)!;
    assert.equal(mark.protocol, undefined);
    assert.equal('address' in mark, false);
    const udp = listed.find((s) => s.protocol === 'udp')!;
    assert.deepEqual(udp.persistence, { timeout: 100, netmask: 16 });
    assert.deepEqual(udp.destinations.find((d) => d.address === '198.18.2.1')!.tunnel, { type: 'gre', checksum: 'none' });
    assert.equal(listed.find((s) => s.port === 443)!.persistence!.netmask, 64);

    // Everything listed is valid input: rebuild the table from it.
    resetTable();
    for (const s of listed) {
      await handle.addService(s);
      for (const d of s.destinations) await handle.addDestination(s, d);
    }
    assert.deepEqual(savedRules().sort(), before.sort());
    // And an IPIP destination read back can be drained.
    await handle.editDestination(udp, { ...udp.destinations[0], weight: 0 });
  });

  it('JSON.stringify with jsonReplacer keeps 64-bit counters exact as decimal strings', async () => {
    await handle.addService(web);
    await handle.addDestination(web, { address: '198.18.2.1' });
    const text = JSON.stringify(await handle.list(), ipvs.jsonReplacer);
    const parsed = JSON.parse(text);
    assert.equal(parsed[0].stats.conns, '0');
    assert.equal(parsed[0].destinations[0].stats.inbytes, '0');
    // The document is a desired state: applying it changes nothing.
    const result = await handle.apply(parsed);
    assert.equal(result.plan.length, 0);
  });

  it('a misspelt or inherited key field is refused instead of hitting another service', async () => {
    await handle.addService({ fwmark: 7, scheduler: 'rr' });
    await assert.rejects(handle.deleteService({ fwmark: 7, famliy: 'ipv6' } as never), /Unknown property 'famliy' in service/);
    await assert.rejects(handle.deleteDestination(web, { address: '198.18.2.1', prot: 8080 } as never), /Unknown property 'prot' in destination/);
    await assert.rejects(handle.getService(new Map([['fwmark', 7]]) as never), /Expected a plain object for service but received a non-plain object/);
    const proto = Object.prototype as Record<string, unknown>;
    proto.fwmark = 1;
    try {
      await assert.rejects(handle.deleteService({ protocol: 'tcp', address: '198.18.9.9', port: 1 }), (e: ipvs.IpvsError) => e.code === 'ESRCH');
    } finally {
      delete proto.fwmark;
    }
    assert.deepEqual(savedRules(), ['-A -f 7 -s rr']);
  });
});
