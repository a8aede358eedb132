// The Linux kernel's own IPVS selftest (its DR and NAT cases, see
// test/selftest/ipvs-selftest.sh for where it comes from and what differs)
// with the `ipvs` bin in place of ipvsadm: real bytes through a virtual
// service in three network namespaces of its own. And the same script with
// a no-op in place of the tool (no service made) fails, so a pass means
// `ipvs` built the service.
import assert from 'assert/strict';
import { execFile } from 'child_process';
import * as path from 'path';
import { assertSandbox, note } from './helpers';

const SCRIPT = path.join(__dirname, '..', '..', '..', 'test', 'selftest', 'ipvs-selftest.sh');
const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'ipvs.js');

function selftest(env: Record<string, string>): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 280_000 }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ status, output: stdout + stderr });
    });
  });
}

describe('traffic: the kernel IPVS selftest with ipvs for ipvsadm', function () {
  this.timeout(300_000);
  before(assertSandbox);

  it('passes its DR and NAT cases', async () => {
    const r = await selftest({ IPVSADM: `${process.execPath} ${BIN}` });
    note(r.output.trim().split('\n').join('\n      '));
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /^DR: PASS$/m);
    assert.match(r.output, /^NAT: PASS$/m);
    assert.match(r.output, /^ipvs-selftest\.sh: PASS$/m);
  });

  it('fails when the service is missing (a no-op in place of the tool)', async () => {
    const r = await selftest({ IPVSADM: 'true', IPVS_SELFTEST_CASES: 'dr' });
    assert.equal(r.status, 1, r.output);
    assert.match(r.output, /^DR: FAIL$/m);
    assert.match(r.output, /Connection refused/);
  });
});
