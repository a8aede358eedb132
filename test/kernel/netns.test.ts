// A handle opened in another network namespace programs that namespace's IPVS.
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as ipvs from '../../lib';
import { assertSandbox, resetTable, savedRules } from './helpers';

describe('kernel: network namespaces', function () {
  const names = ['ipvs-test-a', 'ipvs-test-b'];
  before(function () {
    assertSandbox();
    for (const n of names) execFileSync('ip', ['netns', 'add', n]);
  });
  after(function () {
    for (const n of names) execFileSync('ip', ['netns', 'del', n]);
  });
  beforeEach(() => {
    resetTable();
    for (const n of names) execFileSync('ip', ['netns', 'exec', n, 'ipvsadm', '-C']);
  });

  it('open({ netns }) talks to that namespace only, several at once', async () => {
    const [a, b] = await Promise.all(names.map((netns) => ipvs.open({ netns })));
    const root = await ipvs.open();
    try {
      await a.addService({ protocol: 'tcp', address: '1.1.1.1', port: 80, scheduler: 'rr' });
      await b.addService({ protocol: 'udp', address: '1.1.1.1', port: 53, scheduler: 'sh' });
      assert.deepEqual(savedRules('ipvs-test-a'), ['-A -t 1.1.1.1:80 -s rr']);
      assert.deepEqual(savedRules('ipvs-test-b'), ['-A -u 1.1.1.1:53 -s sh']);
      assert.deepEqual(savedRules(), []);
      assert.equal((await root.list()).length, 0);
      assert.equal((await a.list())[0].scheduler, 'rr');
    } finally {
      await Promise.all([a.close(), b.close(), root.close()]);
    }
  });

  it('open({ netns }) takes a path too, e.g. /run/netns/<name> or /proc/<pid>/ns/net', async () => {
    const byPath = await ipvs.open({ netns: `/run/netns/${names[1]}` });
    const self = await ipvs.open({ netns: '/proc/self/ns/net' });
    try {
      await byPath.addService({ fwmark: 3, scheduler: 'rr' });
      await self.addService({ fwmark: 4, scheduler: 'rr' });
      assert.deepEqual(savedRules(names[1]), ['-A -f 3 -s rr']);
      assert.deepEqual(savedRules(), ['-A -f 4 -s rr']);
    } finally {
      await Promise.all([byPath.close(), self.close()]);
    }
  });

  it("listConnections() reads the handle's own namespace's table", async () => {
    const a = await ipvs.open({ netns: names[0] });
    const root = await ipvs.open();
    try {
      const vip = { protocol: 'tcp', address: '198.18.7.9', port: 7000 } as const;
      await root.addService({ ...vip, scheduler: 'rr' });
      await root.addDestination(vip, { address: '198.18.0.1', port: 7001, forwarding: 'masq' });
      execFileSync('sh', ['-c', 'timeout 3 busybox nc -w 1 198.18.7.9 7000 </dev/null >/dev/null 2>&1; true']);
      assert.equal((await root.listConnections()).filter((c) => c.virtual.address === vip.address).length, 1);
      assert.deepEqual(await a.listConnections(), []);
    } finally {
      await Promise.all([a.close(), root.close()]);
    }
  });

  it('a namespace that does not exist is an IpvsError naming it', async () => {
    await assert.rejects(ipvs.open({ netns: 'no-such-namespace' }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, 'ENOENT');
      assert.match(e.message, /\/run\/netns\/no-such-namespace does not exist/);
      return true;
    });
  });
});
