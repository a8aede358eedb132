// The package loads through both module systems and exposes its enums.
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..', '..', '..');

describe('unit: package entry points', () => {
  it('require() and import both expose the API', () => {
    const script = `
      const cjs = require('ipvs');
      import('ipvs').then((esm) => {
        const names = ['open', 'addService', 'addDestination', 'list', 'flush', 'IpvsError', 'Scheduler', 'ForwardingMethod'];
        for (const n of names) if (!cjs[n] || !esm[n]) throw new Error('missing ' + n);
        console.log(esm.Scheduler.LeastConnection, cjs.ForwardingMethod.Masquerade);
      });`;
    // Run from the package root, where the package can name itself.
    assert.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: root }).trim(), 'lc masq');
  });

  it('the enums hold the kernel names', async () => {
    const { Scheduler, ForwardingMethod } = await import('../../lib');
    assert.deepEqual(Object.values(Scheduler).sort(), ['dh', 'fo', 'lblc', 'lblcr', 'lc', 'mh', 'nq', 'ovf', 'rr', 'sed', 'sh', 'twos', 'wlc', 'wrr']);
    assert.deepEqual(Object.values(ForwardingMethod).sort(), ['bypass', 'local', 'masq', 'route', 'tunnel']);
  });
});
