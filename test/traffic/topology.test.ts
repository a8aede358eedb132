// The test topology itself (lib/testing/topology): what it builds and that
// destroy() leaves nothing behind but what was there before.
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { Topology } from '../../lib/testing/topology';
import { assertSandbox } from './helpers';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('traffic: the test topology', function () {
  this.timeout(120_000);
  before(assertSandbox);

  it('builds namespaces joined to the director, answers by name, and destroy() removes it all', async () => {
    const forwarding = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const linksBefore = ip('-o', 'link', 'show').split('\n').length;
    const topo = await Topology.create({ backends: ['web-a', 'web-b'], clients: ['c'], clientAddresses: 3 });
    let destroyed = false;
    try {
      assert.match(topo.id, /^iv[0-9a-z]{5}$/);
      assert.deepEqual(topo.backends.map((b) => b.name), ['web-a', 'web-b']);
      const [c] = topo.clients;
      assert.equal(c.namespace, `ipvs-${topo.id}-c`);
      assert.equal(c.ipv4Addresses.length, 3);
      assert.deepEqual(c.ipv4Addresses.map((a) => a.split('.').slice(0, 3).join('.')), [0, 1, 2].map(() => c.ipv4.split('.').slice(0, 3).join('.')));
      for (const h of [c, ...topo.backends]) {
        assert.match(h.ipv4, /^198\.19\.\d+\.2$/);
        assert.match(h.ipv6, /^2001:db8:1:[0-9a-f]+::2$/);
        assert.match(ip('netns', 'list'), new RegExp(`^${h.namespace}\\b`, 'm'));
      }
      assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
      // Straight to a backend (no IPVS): it answers with its name, from a chosen source.
      const b = topo.backend('web-b');
      const [r] = await topo.batch([{ address: b.ipv4, port: 80, source: c.ipv4Addresses[2] }]);
      assert.deepEqual(r, { backend: 'web-b', peer: c.ipv4Addresses[2], local: b.ipv4 });
      assert.equal(await topo.request(b.ipv6, 80, { protocol: 'udp' }), 'web-b');
      assert.equal(topo.backendAt(topo.backend('web-a').ipv6), 'web-a');
      // Nothing listens on the director: refused, reported, not thrown by attempt().
      const [refused] = await topo.attempt(c.directorIpv4, 80);
      assert.match(refused.error ?? '', /ConnectionRefused/);
      await assert.rejects(topo.request(c.directorIpv4, 80), /ConnectionRefused/);

      const pids = (topo as unknown as { agents: { pid: number }[] }).agents.map((a) => a.pid);
      assert.equal(pids.length, 3);
      assert.ok(pids.every(alive));
      await topo.destroy();
      destroyed = true;
      assert.ok(!pids.some(alive), 'the agents are gone');
      for (const h of [c, ...topo.backends]) {
        assert.doesNotMatch(ip('netns', 'list'), new RegExp(`^${h.namespace}\\b`, 'm'));
        assert.equal(fs.existsSync(`/sys/class/net/${h.link}`), false);
      }
      assert.equal(fs.existsSync(`/sys/class/net/${topo.vipDevice}`), false);
      assert.equal(ip('-o', 'link', 'show').split('\n').length, linksBefore);
      assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), forwarding, 'ip_forward restored');
      await topo.destroy(); // twice is fine
      await assert.rejects(topo.request(b.ipv4, 80), /destroyed/);
    } finally {
      if (!destroyed) await topo.destroy();
    }
  });
});
