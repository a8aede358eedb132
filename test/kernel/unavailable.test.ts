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
  before(function () {
    assertSandbox();
    if (process.env.IPVS_SANDBOX_ACTIVE !== 'vm') this.skip(); // only a throwaway VM may unload ip_vs
  });
  after(() => sh('modprobe ip_vs'));

  it('open() and list() fail with ERR_IPVS_UNAVAILABLE when ip_vs is not loaded', async () => {
    sh('ipvsadm -C');
    for (const name of loadedIpvsModules().filter((n) => n !== 'ip_vs')) sh(`rmmod ${name}`);
    sh('rmmod ip_vs');
    assert.equal(fs.existsSync('/proc/net/ip_vs'), false);
    await assert.rejects(ipvs.open(), (e: ipvs.IpvsError) => {
      assert.equal(e.code, ipvs.IPVS_UNAVAILABLE);
      assert.match(e.message, /IPVS is not available in this network namespace: is the ip_vs module loaded\?/);
      return true;
    });
    await assert.rejects(ipvs.list(), (e: ipvs.IpvsError) => e.code === ipvs.IPVS_UNAVAILABLE && e.operation === 'list');
    await ipvs.closeDefaultHandle();
  });
});
