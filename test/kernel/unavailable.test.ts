// Without the ip_vs module the library says so, never an empty list.
import assert from 'assert/strict';
import * as fs from 'fs';
import * as ipvs from '../../lib';
import { assertSandbox, sh } from './helpers';

function loadedIpvsModules(): string[] {
  return fs
    .readFileSync('/proc/modules', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name === 'ip_vs' || name.startsWith('ip_vs_'));
}

describe('kernel: IPVS absent', function () {
  it('open() loads ip_vs on demand where the module exists', async () => {
    sh('ipvsadm -C');
    for (const name of loadedIpvsModules().filter((n) => n !== 'ip_vs')) sh(`rmmod ${name}`);
    sh('rmmod ip_vs');
    const handle = await ipvs.open();
    assert.equal(fs.existsSync('/proc/net/ip_vs'), true);
    await handle.close();
  });

  before(function () {
    assertSandbox();
    if (process.env.IPVS_SANDBOX_ACTIVE !== 'vm') this.skip(); // only a throwaway VM may unload ip_vs
  });
  let modprobe = '';
  after(() => {
    if (modprobe) fs.writeFileSync('/proc/sys/kernel/modprobe', modprobe);
    sh('modprobe ip_vs');
  });

  it('open() and list() fail with ERR_IPVS_UNAVAILABLE when ip_vs is not loaded', async () => {
    sh('ipvsadm -C');
    // The kernel loads ip_vs on demand when the IPVS family is looked up; a
    // modprobe that always fails makes the module as good as missing.
    modprobe = fs.readFileSync('/proc/sys/kernel/modprobe', 'utf8').trim();
    fs.writeFileSync('/proc/sys/kernel/modprobe', '/bin/false');
    for (const name of loadedIpvsModules().filter((n) => n !== 'ip_vs')) sh(`rmmod ${name}`);
    sh('rmmod ip_vs');
    assert.equal(fs.existsSync('/proc/net/ip_vs'), false);
    await assert.rejects(ipvs.open(), (e: ipvs.IpvsError) => {
      assert.equal(e.code, ipvs.IPVS_UNAVAILABLE);
      assert.match(e.message, /IPVS is not available in this network namespace: is the ip_vs module loaded\?/);
      return true;
    });
    await assert.rejects(ipvs.list(), (e: ipvs.IpvsError) => e.code === ipvs.IPVS_UNAVAILABLE && e.operation === 'list');
    // Writes too, each naming its object; and a handle on another namespace.
    const unavailable = 'IPVS is not available in this network namespace: is the ip_vs module loaded?';
    await assert.rejects(ipvs.addService({ protocol: 'tcp', address: '198.18.1.1', port: 80 }), (e: ipvs.IpvsError) => {
      assert.deepEqual([e.code, e.operation, e.message], [ipvs.IPVS_UNAVAILABLE, 'addService', `addService service tcp 198.18.1.1:80: ${unavailable}`]);
      return true;
    });
    await assert.rejects(ipvs.apply([{ fwmark: 1 }]), (e: ipvs.IpvsError) => e.code === ipvs.IPVS_UNAVAILABLE && e.message === `apply: ${unavailable}`);
    sh('ip netns add ipvs-unavailable');
    try {
      await assert.rejects(ipvs.open({ netns: 'ipvs-unavailable' }), (e: ipvs.IpvsError) => {
        assert.deepEqual([e.code, e.message], [ipvs.IPVS_UNAVAILABLE, `open network namespace /run/netns/ipvs-unavailable: ${unavailable}`]);
        return true;
      });
    } finally {
      sh('ip netns del ipvs-unavailable');
    }
    assert.equal(fs.existsSync('/proc/net/ip_vs'), false);
    await ipvs.closeDefaultHandle();
  });
});
