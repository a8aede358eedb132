// Timeouts, sync daemons, counters, the connection table and kernel feature
// checks, against the real kernel.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { KernelFeatures } from '../../lib/features';
import { assertSandbox, ipvsadm, resetTable, savedRules, sh } from './helpers';

/** Polls `read` until `done` holds, for at most 10 s. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('kernel: timeouts, daemons, connections, features', function () {
  let handle: ipvs.IpvsHandle;
  before(async function () {
    assertSandbox();
    handle = await ipvs.open();
  });
  after(() => handle?.close());
  beforeEach(resetTable);

  it('getTimeouts/setTimeouts agree with ipvsadm, and 0 keeps a value', async () => {
    ipvsadm('--set', '900', '120', '300');
    assert.deepEqual(await handle.getTimeouts(), { tcp: 900, tcpFin: 120, udp: 300 });
    await handle.setTimeouts({ tcp: 100, udp: 30 });
    assert.equal(ipvsadm('-L', '--timeout').trim(), 'Timeout (tcp tcpfin udp): 100 120 30');
    await handle.setTimeouts({ tcpFin: 20 });
    assert.deepEqual(await handle.getTimeouts(), { tcp: 100, tcpFin: 20, udp: 30 });
    await assert.rejects(handle.setTimeouts({ tcp: -1 }), RangeError);
    await assert.rejects(handle.setTimeouts({ tcp: 1e9 }), RangeError);
  });

  describe('sync daemons', function () {
    before(() => sh('ip link add ipvssync0 type dummy && ip link set ipvssync0 multicast on up && ip addr add 198.19.0.1/24 dev ipvssync0'));
    after(() => sh('ip link del ipvssync0'));
    afterEach(() => sh('ipvsadm --stop-daemon master 2>/dev/null; ipvsadm --stop-daemon backup 2>/dev/null; true'));

    it('start, list and stop master and backup with every parameter', async () => {
      assert.deepEqual(await handle.listDaemons(), []);
      await handle.startDaemon({ state: 'master', interface: 'ipvssync0', syncId: 5 });
      await handle.startDaemon({ state: 'backup', interface: 'ipvssync0', syncId: 6, maxLength: 1400, group: '239.1.2.3', port: 9000, ttl: 3 });
      const listed = ipvsadm('-L', '--daemon');
      assert.match(listed, /master sync daemon \(mcast=ipvssync0, syncid=5, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)/);
      assert.match(listed, /backup sync daemon \(mcast=ipvssync0, syncid=6, maxlen=1400, group=239\.1\.2\.3, port=9000, ttl=3\)/);
      const daemons = await handle.listDaemons();
      assert.deepEqual(daemons.sort((a, b) => a.state.localeCompare(b.state)), [
        { state: 'backup', interface: 'ipvssync0', syncId: 6, maxLength: 1400, group: '239.1.2.3', port: 9000, ttl: 3 },
        { state: 'master', interface: 'ipvssync0', syncId: 5, maxLength: 1472, group: '224.0.0.81', port: 8848, ttl: 1 },
      ]);
      await assert.rejects(handle.startDaemon({ state: 'master', interface: 'ipvssync0' }), (e: ipvs.IpvsError) => {
        assert.equal(e.code, 'EEXIST');
        assert.match(e.message, /^sync daemon master on ipvssync0 already exists/);
        return true;
      });
      await handle.stopDaemon('master');
      assert.deepEqual((await handle.listDaemons()).map((d) => d.state), ['backup']);
    });

    it('an IPv6 multicast group', async () => {
      sh('ip -6 addr add 2001:db8:99::1/64 dev ipvssync0 nodad');
      await handle.startDaemon({ state: 'backup', interface: 'ipvssync0', group: 'ff02::1:2', port: 9100 });
      const [d] = await handle.listDaemons();
      assert.deepEqual([d.group, d.port], ['ff02::1:2', 9100]);
    });

    it('refuses bad parameters before the kernel sees them', async () => {
      await assert.rejects(handle.startDaemon({ state: 'primary' as never, interface: 'x' }), RangeError);
      await assert.rejects(handle.startDaemon({ state: 'master', interface: 'x'.repeat(16) }), RangeError);
      await assert.rejects(handle.startDaemon({ state: 'master', interface: 'ipvssync0', group: '10.1.1.1' }), /multicast address for daemon\.group/);
      await assert.rejects(handle.startDaemon({ state: 'master', interface: 'ipvssync0', syncId: 256 }), RangeError);
      await assert.rejects(handle.startDaemon({ state: 'master', interface: 'ipvssync0', ttl: 0 }), RangeError);
      assert.deepEqual(await handle.listDaemons(), []);
    });

    it('a missing interface is the kernel error, named', async () => {
      await assert.rejects(handle.startDaemon({ state: 'master', interface: 'nosuch0' }), (e: ipvs.IpvsError) => {
        assert.equal(e.code, 'ENODEV');
        assert.match(e.message, /startDaemon sync daemon master on nosuch0 failed: ENODEV/);
        return true;
      });
    });
  });

  it('listConnections() reads the table ipvsadm -Lnc shows', async () => {
    const vip = { protocol: 'tcp', address: '198.18.7.1', port: 7000 } as const;
    await handle.addService({ ...vip, scheduler: 'rr' });
    await handle.addDestination(vip, { address: '198.18.0.1', port: 7001, forwarding: 'masq' });
    // A local connection attempt creates a connection entry; nothing leaves the VM.
    sh('timeout 3 busybox nc -w 1 198.18.7.1 7000 </dev/null >/dev/null 2>&1; true');
    // Entries outlive their services (until they expire): look at this test's VIP only.
    const connections = (await handle.listConnections()).filter((c) => c.virtual.address === vip.address);
    assert.equal(connections.length, 1);
    const [c] = connections;
    assert.equal(c.protocol, 'tcp');
    assert.deepEqual(c.virtual, { address: '198.18.7.1', port: 7000 });
    assert.deepEqual(c.destination, { address: '198.18.0.1', port: 7001 });
    assert.ok(c.expires > 0 && c.expires <= 120, String(c.expires));
    const row = ipvsadm('-Lnc')
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .find((r) => r[4] === '198.18.7.1:7000')!;
    // pro expire state source virtual destination
    assert.deepEqual([row[0], row[2], row[3], row[5]], ['TCP', c.state, `${c.client.address}:${c.client.port}`, '198.18.0.1:7001']);
    // The same entry is counted in the service's stats (the kernel folds its
    // per-CPU counters in every 2 s, so wait for them, boundedly).
    const service = await until(async () => (await handle.list())[0], (s) => s.stats?.conns === 1n);
    assert.ok((service.stats?.inpkts ?? 0n) >= 1n);
    await handle.zero();
    assert.equal((await handle.list())[0].stats?.conns, 0n);
  });

  it('zero(service) clears one service only', async () => {
    const a = { protocol: 'tcp', address: '198.18.7.3', port: 7000 } as const;
    const b = { protocol: 'tcp', address: '198.18.7.4', port: 7000 } as const;
    for (const vip of [a, b]) {
      await handle.addService({ ...vip, scheduler: 'rr' });
      await handle.addDestination(vip, { address: '198.18.0.1', port: 7001, forwarding: 'masq' });
      sh(`timeout 3 busybox nc -w 1 ${vip.address} 7000 </dev/null >/dev/null 2>&1; true`);
    }
    await until(() => handle.list(), (l) => l.every((s) => s.stats?.conns === 1n));
    await handle.zero(a);
    const conns = new Map((await handle.list()).map((s) => [s.address, s.stats?.conns]));
    assert.deepEqual([conns.get(a.address), conns.get(b.address)], [0n, 1n]);
    await assert.rejects(handle.zero({ ...a, port: 1 }), (e: ipvs.IpvsError) => e.code === 'ESRCH');
  });

  it('options an older kernel would drop silently are refused with the version they need', async () => {
    const old = await ipvs.open();
    try {
      (old as unknown as { features: KernelFeatures }).features = new KernelFeatures('5.1.0-test');
      const svc = { protocol: 'tcp', address: '1.1.1.1', port: 80 } as const;
      await old.addService(svc);
      await assert.rejects(old.addDestination(svc, { address: '2.2.2.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080 } }),
        (e: ipvs.IpvsError) => e.code === 'EOPNOTSUPP' && /this kernel \(5\.1\.0-test\) lacks GUE tunnels, which came in Linux 5\.2/.test(e.message));
      await assert.rejects(old.addDestination(svc, { address: '2.2.2.2', forwarding: 'tunnel', tunnel: { type: 'gre' } }),
        (e: ipvs.IpvsError) => e.code === 'EOPNOTSUPP' && /lacks GRE tunnels, which came in Linux 5\.3/.test(e.message));
      await old.addDestination(svc, { address: '2.2.2.2', forwarding: 'tunnel', tunnel: { type: 'ipip' } });
      assert.deepEqual(savedRules(), ['-A -t 1.1.1.1:80 -s wlc', '-a -t 1.1.1.1:80 -r 2.2.2.2:80 -i -w 1 --tun-type ipip']);
    } finally {
      await old.close();
    }
  });
});
