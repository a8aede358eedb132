// 64-bit counters survive the trip: push more than 2^32 bytes through a
// virtual service (between two namespaces inside the sandbox) and compare the
// library's counters with ipvsadm's exact ones.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { assertSandbox, ipvsadm, resetTable, sh } from './helpers';

const BYTES = 4400 * 1024 * 1024; // past 2^32 = 4096 MiB
const vip = { protocol: 'tcp', address: '198.18.100.1', port: 9000 } as const;

describe('kernel: 64-bit stats', function () {
  this.timeout(400_000);
  let handle: ipvs.IpvsHandle;

  before(async function () {
    assertSandbox();
    // client ns (198.18.10.2) -- director -- server ns (198.18.20.2); large MTUs keep the emulated CPU's work down.
    sh(`set -e
      sysctl -qw net.ipv4.ip_forward=1
      ip netns add ipvs-stats-c; ip netns add ipvs-stats-s
      ip link add ipvsst-c type veth peer name eth0 netns ipvs-stats-c
      ip link add ipvsst-s type veth peer name eth0 netns ipvs-stats-s
      for side in c s; do
        n=$([ $side = c ] && echo 10 || echo 20)
        ip link set ipvsst-$side mtu 65000 up; ip addr add 198.18.$n.1/24 dev ipvsst-$side
        ip -n ipvs-stats-$side link set eth0 mtu 65000 up; ip -n ipvs-stats-$side link set lo up
        ip -n ipvs-stats-$side addr add 198.18.$n.2/24 dev eth0; ip -n ipvs-stats-$side route add default via 198.18.$n.1
      done
      ip addr add 198.18.100.1/32 dev dummy0`);
    handle = await ipvs.open();
  });
  after(async () => {
    await handle?.close();
    sh('ip netns del ipvs-stats-c; ip netns del ipvs-stats-s; ip addr del 198.18.100.1/32 dev dummy0; true');
  });
  beforeEach(resetTable);

  it('a byte counter past 2^32 is exact, and agrees with ipvsadm --exact', async () => {
    await handle.addService({ ...vip, scheduler: 'rr' });
    await handle.addDestination(vip, { address: '198.18.20.2', forwarding: 'masq' });
    // One bounded transfer: the server discards, the client sends BYTES and closes.
    sh(`ip netns exec ipvs-stats-s timeout 300 busybox nc -l -p 9000 >/dev/null & sleep 1
        ip netns exec ipvs-stats-c timeout 300 bash -c 'head -c ${BYTES} /dev/zero > /dev/tcp/198.18.100.1/9000'
        wait`);
    // Counters are folded in from per-CPU values every 2 s.
    let service: ipvs.Service | undefined;
    for (let i = 0; i < 40; i++) {
      [service] = await handle.list();
      if ((service.stats?.inbytes ?? 0n) >= BigInt(BYTES)) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const stats = service!.stats!;
    assert.ok(stats.inbytes > 2n ** 32n, `inbytes ${stats.inbytes}`);
    // The payload plus headers, and not wildly more.
    assert.ok(stats.inbytes >= BigInt(BYTES) && stats.inbytes < BigInt(BYTES) * 11n / 10n, `inbytes ${stats.inbytes}`);
    assert.equal(stats.conns, 1n);
    assert.equal(service!.destinations[0].stats!.inbytes, stats.inbytes);

    // ipvsadm's exact numbers: Conns InPkts OutPkts InBytes OutBytes.
    const row = ipvsadm('-Ln', '--stats', '--exact').split('\n').find((l) => l.startsWith('TCP  198.18.100.1:9000'))!;
    const [conns, inpkts, outpkts, inbytes, outbytes] = row.trim().split(/\s+/).slice(2).map(BigInt);
    const now = (await handle.list())[0].stats!;
    assert.deepEqual([now.conns, now.inpkts, now.outpkts, now.inbytes, now.outbytes], [conns, inpkts, outpkts, inbytes, outbytes]);
    // Without the counters: the same table, every stats null.
    const full = await handle.list();
    const lean = await handle.list({ stats: false });
    assert.equal(lean[0].stats, null);
    assert.ok(lean[0].destinations.length > 0 && lean[0].destinations.every((d) => d.stats === null));
    const strip = (t: ipvs.Service[]) => t.map((s) => ({ ...s, stats: null, destinations: s.destinations.map((d) => ({ ...d, stats: null, activeConnections: 0, inactiveConnections: 0 })) }));
    assert.deepEqual(strip(lean), strip(full));
  });
});
