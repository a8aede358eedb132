// The foundation's API against a real IPVS, checked with ipvsadm.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { assertSandbox, ipvsadm, resetTable, savedRules } from './helpers';

const web = { protocol: 'tcp', address: '1.1.1.1', port: 80 } as const;

describe('kernel: handle basics', function () {
  let handle: ipvs.IpvsHandle;

  before(async function () {
    assertSandbox();
    handle = await ipvs.open();
  });
  after(async () => {
    await handle?.close();
  });
  beforeEach(resetTable);

  it('info() reports what ipvsadm reports', async () => {
    const info = await handle.info();
    const header = ipvsadm('-Ln').split('\n')[0];
    assert.equal(header, `IP Virtual Server version ${info.version} (size=${info.connectionTableSize})`);
    assert.equal(info.versionCode, 0x010201);
  });

  it('addService creates the service ipvsadm sees', async () => {
    await handle.addService({ ...web, scheduler: 'lc' });
    assert.deepEqual(savedRules(), ['-A -t 1.1.1.1:80 -s lc']);
  });

  it('addService defaults the scheduler to wlc, like ipvsadm', async () => {
    await handle.addService({ protocol: 'udp', address: '1.1.1.2', port: 53 });
    assert.deepEqual(savedRules(), ['-A -u 1.1.1.2:53 -s wlc']);
  });

  it('adds IPv6, fwmark, sctp and persistent services', async () => {
    await handle.addService({ protocol: 'tcp', address: '2001:db8::1', port: 443, scheduler: 'rr' });
    await handle.addService({ fwmark: 7, scheduler: 'sh', schedulerFlags: { fallback: true, port: true } });
    await handle.addService({ fwmark: 7, family: 'ipv6', scheduler: 'wrr' });
    await handle.addService({ protocol: 'sctp', address: '1.1.1.3', port: 9, scheduler: 'wrr' });
    await handle.addService({
      protocol: 'udp',
      address: '1.1.1.4',
      port: 5060,
      scheduler: 'rr',
      persistence: { timeout: 600, netmask: '255.255.255.0' },
      onePacket: true,
    });
    assert.deepEqual(savedRules().sort(), [
      '-A -f 7 -6 -s wrr',
      '-A -f 7 -s sh -b sh-fallback,sh-port',
      '-A -t [2001:db8::1]:443 -s rr',
      '-A --sctp-service 1.1.1.3:9 -s wrr',
      '-A -u 1.1.1.4:5060 -s rr -p 600 -M 255.255.255.0 -o',
    ].sort());
  });

  it('a duplicate service is an IpvsError EEXIST naming it', async () => {
    await handle.addService(web);
    await assert.rejects(handle.addService(web), (e: ipvs.IpvsError) => {
      assert.ok(e instanceof ipvs.IpvsError);
      assert.equal(e.code, 'EEXIST');
      assert.equal(e.errno, 17);
      assert.equal(e.operation, 'addService');
      assert.equal(e.object, 'service tcp 1.1.1.1:80');
      assert.match(e.message, /^service tcp 1\.1\.1\.1:80 already exists/);
      return true;
    });
  });

  it('deleteService removes it; a missing one is ESRCH', async () => {
    await handle.addService(web);
    await handle.addService({ ...web, port: 81 });
    await handle.deleteService(web);
    assert.deepEqual(savedRules(), ['-A -t 1.1.1.1:81 -s wlc']);
    await assert.rejects(handle.deleteService({ ...web, port: 82 }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, 'ESRCH');
      assert.match(e.message, /^service tcp 1\.1\.1\.1:82 does not exist/);
      return true;
    });
  });

  it('an unknown scheduler is ENOENT naming the scheduler', async () => {
    await assert.rejects(handle.addService({ ...web, scheduler: 'nosuch' }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, 'ENOENT');
      assert.match(e.message, /scheduler "nosuch"/);
      return true;
    });
    assert.deepEqual(savedRules(), []);
  });

  it('addDestination adds real servers with weight and forwarding', async () => {
    await handle.addService({ ...web, scheduler: 'lc' });
    await handle.addDestination(web, { address: '2.2.2.2', forwarding: 'masq', weight: 100 });
    await handle.addDestination(web, { address: '3.3.3.3', forwarding: 'route', weight: 0 });
    await handle.addDestination(web, { address: '4.4.4.4', forwarding: 'tunnel', upperThreshold: 50, lowerThreshold: 10 });
    assert.deepEqual(savedRules(), [
      '-A -t 1.1.1.1:80 -s lc',
      '-a -t 1.1.1.1:80 -r 2.2.2.2:80 -m -w 100',
      '-a -t 1.1.1.1:80 -r 3.3.3.3:80 -g -w 0',
      '-a -t 1.1.1.1:80 -r 4.4.4.4:80 -i -w 1 --tun-type ipip',
    ]);
    // ipvsadm -S leaves thresholds out; --thresholds shows them.
    assert.match(ipvsadm('-Ln', '--thresholds'), /-> 4\.4\.4\.4:80\s+50\s+10\s/);
  });

  it('addDestination to a missing service is ESRCH naming the service', async () => {
    await assert.rejects(handle.addDestination(web, { address: '2.2.2.2' }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, 'ESRCH');
      assert.equal(e.object, 'destination 2.2.2.2:80 in service tcp 1.1.1.1:80');
      assert.match(e.message, /^service tcp 1\.1\.1\.1:80 does not exist/);
      return true;
    });
  });

  it('a duplicate destination is EEXIST naming it', async () => {
    await handle.addService(web);
    await handle.addDestination(web, { address: '2.2.2.2' });
    await assert.rejects(handle.addDestination(web, { address: '2.2.2.2' }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, 'EEXIST');
      assert.match(e.message, /^destination 2\.2\.2\.2:80 in service tcp 1\.1\.1\.1:80 already exists/);
      return true;
    });
  });

  it('list() reads back a table ipvsadm wrote, every field', async () => {
    ipvsadm('-A', '-t', '1.1.1.1:80', '-s', 'lc');
    ipvsadm('-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2:8080', '-m', '-w', '100', '-x', '9', '-y', '3');
    ipvsadm('-A', '-u', '[2001:db8::2]:53', '-s', 'rr', '-p', '120', '-M', '64');
    ipvsadm('-a', '-u', '[2001:db8::2]:53', '-r', '[2001:db8::10]:53', '-g', '-w', '5');
    ipvsadm('-A', '-f', '9', '-s', 'mh', '-b', 'mh-port');
    const services = await handle.list();
    const byKey = new Map(services.map((s) => [s.fwmark ? `fwm${s.fwmark}` : `${s.protocol} ${s.address}:${s.port}`, s]));
    assert.equal(services.length, 3);

    const tcp = byKey.get('tcp 1.1.1.1:80')!;
    assert.equal(tcp.family, 'ipv4');
    assert.equal(tcp.scheduler, 'lc');
    assert.equal(tcp.persistence, null);
    assert.deepEqual(
      tcp.destinations.map(({ stats, ...d }) => d),
      [
        {
          address: '2.2.2.2',
          family: 'ipv4',
          port: 8080,
          weight: 100,
          forwarding: 'masq',
          upperThreshold: 9,
          lowerThreshold: 3,
          tunnel: null,
          activeConnections: 0,
          inactiveConnections: 0,
          persistentConnections: 0,
        },
      ],
    );
    assert.equal(typeof tcp.destinations[0].stats?.conns, 'bigint');

    const udp6 = byKey.get('udp 2001:db8::2:53')!;
    assert.equal(udp6.family, 'ipv6');
    assert.deepEqual(udp6.persistence, { timeout: 120, netmask: 64 });
    assert.equal(udp6.destinations[0].address, '2001:db8::10');
    assert.equal(udp6.destinations[0].forwarding, 'route');
    assert.equal(udp6.destinations[0].weight, 5);

    const mark = byKey.get('fwm9')!;
    assert.equal(mark.scheduler, 'mh');
    assert.deepEqual(mark.schedulerFlags, { fallback: false, port: true, flag3: false });
    assert.equal(mark.destinations.length, 0);
  });

  it('getService and listServices read one service, and all without destinations', async () => {
    await handle.addService({ ...web, scheduler: 'rr', persistence: { timeout: 60 } });
    await handle.addDestination(web, { address: '2.2.2.2', forwarding: 'masq' });
    await handle.addService({ ...web, port: 81 });
    const one = await handle.getService(web);
    assert.deepEqual([one.scheduler, one.persistence, one.destinations.map((d) => d.address)], ['rr', { timeout: 60, netmask: 32 }, ['2.2.2.2']]);
    const all = await handle.listServices();
    assert.deepEqual(all.map((s) => s.port).sort(), [80, 81]);
    assert.ok(all.every((s) => !('destinations' in s)), 'listServices() leaves the destinations field out');
    await assert.rejects(handle.getService({ ...web, port: 82 }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, 'ESRCH');
      assert.equal(e.message, 'service tcp 1.1.1.1:82 does not exist');
      return true;
    });
  });

  it('flush() empties the table', async () => {
    ipvsadm('-A', '-t', '1.1.1.1:80');
    ipvsadm('-A', '-t', '1.1.1.1:81');
    await handle.flush();
    assert.deepEqual(savedRules(), []);
    assert.deepEqual(await handle.list(), []);
  });

  it('bad input is a TypeError/RangeError and nothing reaches the kernel', async () => {
    const bad: Array<[() => Promise<unknown>, ErrorConstructor, RegExp]> = [
      [() => handle.addService({ ...web, port: 70000 }), RangeError, /service\.port but received 70000/],
      [() => handle.addService({ ...web, address: '1.1.1' }), RangeError, /service\.address .*but received "1\.1\.1"/],
      [() => handle.addService({ ...web, protocol: 'icmp' as never }), RangeError, /service\.protocol/],
      [() => handle.addService({ ...web, scheduler: 'a-very-long-scheduler-name' }), RangeError, /service\.scheduler/],
      [() => handle.addService({ fwmark: -1 }), RangeError, /service\.fwmark/],
      [() => handle.addService({ ...web, persistence: { timeout: 0 } }), RangeError, /persistence\.timeout/],
      [() => handle.addService(null as never), TypeError, /a plain object for service/],
      [() => handle.addDestination(web, { address: '2.2.2.2', weight: -1 }), RangeError, /destination\.weight/],
      [() => handle.addDestination(web, { address: '2.2.2.2', forwarding: 'nat' as never }), RangeError, /destination\.forwarding/],
      [() => handle.addDestination(web, { address: '2001:db8::1', forwarding: 'masq' }), RangeError, /forwarding 'tunnel'/],
      [() => handle.addDestination(web, { address: '2.2.2.2', lowerThreshold: 5, upperThreshold: 1 }), RangeError, /lowerThreshold/],
      [() => handle.addDestination(web, { address: '2.2.2.2', wieght: 5 } as never), TypeError, /Unknown property 'wieght'/],
      [() => handle.addDestination(web, { address: '2.2.2.2', port: 8080, forwarding: 'route' }), RangeError, /only 'masq' forwarding rewrites ports/],
      // An edit's bad value is refused before the kernel is read: the same
      // error whether the service exists or not (here it does not).
      [() => handle.editService(web, { scheduler: 5 as never }), TypeError, /changes\.scheduler/],
      [() => handle.editService(web, { persistence: { timeout: 0 } }), RangeError, /changes\.persistence\.timeout/],
      [() => handle.editService(web, { onePacket: true }), RangeError, /udp or fwmark service for changes\.onePacket .*but received service tcp 1\.1\.1\.1:80/],
      [() => handle.editService(web, { schedulerFlags: { fallback: 'yes' as never } }), TypeError, /changes\.schedulerFlags\.fallback/],
      [() => handle.editDestination(web, { address: '2.2.2.2', weight: -1 }), RangeError, /destination\.weight/],
      [() => handle.editDestination(web, { address: '2.2.2.2', forwarding: 'nat' as never }), RangeError, /destination\.forwarding/],
      [() => handle.editDestination(web, { address: '2.2.2.2', lowerThreshold: 5, upperThreshold: 1 }), RangeError, /lowerThreshold/],
      [() => handle.editDestination(web, { address: '2.2.2.2', forwarding: 'masq', tunnel: { type: 'gre' } }), RangeError, /forwarding to be 'tunnel'/],
      [() => handle.editDestination(web, { address: '2.2.2.2', tunnel: { type: 'vxlan' as never } }), RangeError, /tunnel\.type/],
      [() => handle.editDestination(web, { address: '2.2.2.2', tunnel: { port: 70000 } }), RangeError, /tunnel\.port/],
      [() => handle.list({ stats: 'no' as never }), TypeError, /a boolean for options\.stats but received "no"/],
      [() => handle.list({ stat: false } as never), TypeError, /Unknown property 'stat' in options/],
    ];
    for (const [call, Kind, pattern] of bad) {
      await assert.rejects(call(), (e: Error) => {
        assert.ok(e instanceof Kind, `${e.name}: ${e.message}`);
        assert.match(e.message, pattern);
        return true;
      });
    }
    assert.deepEqual(savedRules(), []);
  });

  it('editService changes one setting and keeps the others', async () => {
    await handle.addService({ ...web, scheduler: 'sh', schedulerFlags: { port: true }, persistence: { timeout: 30 } });
    await handle.editService(web, { scheduler: 'mh' });
    await assert.rejects(handle.editService(web, { port: 81 } as never), /Unknown property 'port' in changes/);
    assert.deepEqual(savedRules(), ['-A -t 1.1.1.1:80 -s mh -p 30 -b mh-port']);
  });

  it('editDestination changes one setting and keeps the others', async () => {
    await handle.addService(web);
    await handle.addDestination(web, { address: '2.2.2.2', forwarding: 'masq', weight: 7, upperThreshold: 20 });
    await handle.editDestination(web, { address: '2.2.2.2', weight: 0 });
    await assert.rejects(handle.editDestination(web, { address: '2.2.2.3', weight: 1 }), (e: ipvs.IpvsError) =>
      e.code === 'ENOENT' && e.message === 'destination 2.2.2.3:80 does not exist in service tcp 1.1.1.1:80');
    // A tunnel given to a masq destination is refused, as addDestination refuses it (not silently dropped).
    await assert.rejects(handle.editDestination(web, { address: '2.2.2.2', tunnel: { type: 'gre' } }), (e: Error) =>
      e instanceof RangeError && /tunnel/.test(e.message));
    assert.deepEqual(savedRules(), ['-A -t 1.1.1.1:80 -s wlc', '-a -t 1.1.1.1:80 -r 2.2.2.2:80 -m -w 0']);
    assert.match(ipvsadm('-Ln', '--thresholds'), /-> 2\.2\.2\.2:80\s+20\s+0\s/);
  });

  it('deleteDestination removes one; a missing one is ENOENT naming it', async () => {
    await handle.addService(web);
    await handle.addDestination(web, { address: '2.2.2.2' });
    await handle.deleteDestination(web, { address: '2.2.2.2' });
    assert.deepEqual(savedRules(), ['-A -t 1.1.1.1:80 -s wlc']);
    await assert.rejects(handle.deleteDestination(web, { address: '2.2.2.2' }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, 'ENOENT');
      assert.match(e.message, /^destination 2\.2\.2\.2:80 does not exist in service tcp 1\.1\.1\.1:80/);
      return true;
    });
  });

  it('1,000 concurrent calls on one handle all settle correctly, failures exactly where due', async () => {
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) calls.push(handle.addService({ protocol: 'tcp', address: '10.0.0.1', port: 1000 + i, scheduler: 'rr' }));
    // 10 duplicates interleaved: exactly these must fail.
    for (let i = 0; i < 10; i++) calls.push(handle.addService({ protocol: 'tcp', address: '10.0.0.1', port: 1000 + i * 100 }));
    const results = await Promise.allSettled(calls);
    const rejected = results.flatMap((r, i) => (r.status === 'rejected' ? [[i, (r.reason as ipvs.IpvsError).code]] : []));
    assert.deepEqual(rejected, Array.from({ length: 10 }, (_, i) => [1000 + i, 'EEXIST']));
    const rules = savedRules();
    assert.equal(rules.length, 1000);
    assert.ok(rules.every((r) => / -s rr$/.test(r)));
  });

  it('calls complete in the order they were made', async () => {
    const order: string[] = [];
    const a = handle.addService(web).then(() => order.push('add'));
    const b = handle.list().then((l) => order.push(`list:${l.length}`));
    const c = handle.deleteService(web).then(() => order.push('delete'));
    const d = handle.list().then((l) => order.push(`list:${l.length}`));
    await Promise.all([a, b, c, d]);
    assert.deepEqual(order, ['add', 'list:1', 'delete', 'list:0']);
  });

  it('a closed handle rejects further calls', async () => {
    const h = await ipvs.open();
    await h.close();
    await assert.rejects(h.list(), (e: ipvs.IpvsError) => e.code === ipvs.HANDLE_CLOSED);
  });
});

describe('kernel: top-level functions on the default handle', function () {
  before(assertSandbox);
  beforeEach(resetTable);
  after(() => ipvs.closeDefaultHandle());

  it('addService, addDestination and list work without open()', async () => {
    await ipvs.addService({ ...web, scheduler: 'lc' });
    await ipvs.addDestination(web, { address: '2.2.2.2', forwarding: 'masq', weight: 100 });
    const [service] = await ipvs.list();
    assert.equal(service.scheduler, 'lc');
    assert.equal(service.destinations[0].weight, 100);
    await ipvs.deleteService(web);
    assert.deepEqual(savedRules(), []);
  });
});
