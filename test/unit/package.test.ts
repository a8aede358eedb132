// The package loads through both module systems and exposes its enums.
import assert from 'assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..', '..', '..');

describe('unit: package entry points', () => {
  it('require() and import both expose the API', function () {
    // A child node process: seconds on a loaded machine, not mocha's default 2.
    this.timeout(30_000);
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

  describe('the install hook for PREBUILDS_ONLY (scripts/prebuilds-only.js)', function () {
    // Each test starts node one to three times.
    this.timeout(30_000);
    // node-gyp-build runs it only when no prebuild loads, right before it
    // would compile: a package folder with no prebuilds/ and no build/ is that case.
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-hook-'));
      fs.mkdirSync(path.join(dir, 'scripts'));
      fs.copyFileSync(path.join(root, 'scripts', 'prebuilds-only.js'), path.join(dir, 'scripts', 'prebuilds-only.js'));
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'ipvs' }));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const hook = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, [path.join(dir, 'scripts', 'prebuilds-only.js')], {
        cwd: dir,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, NODE_PATH: path.join(root, 'node_modules'), ...env },
      });

    it('is the pre-build hook of the install script', () => {
      const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
      assert.equal(pkg.scripts.install, 'node-gyp-build "node scripts/prebuilds-only.js"');
      assert.ok(pkg.files.includes('scripts/prebuilds-only.js'));
    });

    it('lets the compile go on without PREBUILDS_ONLY (or with 0)', () => {
      for (const env of [{}, { PREBUILDS_ONLY: '' }, { PREBUILDS_ONLY: '0' }]) {
        const r = hook(env);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, '');
      }
    });

    it('with PREBUILDS_ONLY=1 stops the install, saying which build it looked for and what to do', () => {
      const r = hook({ PREBUILDS_ONLY: '1' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /PREBUILDS_ONLY is set, so the addon is not compiled/);
      assert.match(r.stderr, new RegExp(`No native build was found for platform=linux arch=${process.arch}`));
      assert.match(r.stderr, /libnl-genl-3-dev/);
    });
  });
});
