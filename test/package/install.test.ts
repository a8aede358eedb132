// The packed tarball installed the way a user installs it, into an empty
// folder, on a machine without a compiler: PATH holds node, npm and sh alone
// (no cc, make or python), PREBUILDS_ONLY=1. Then README's example (the source
// document's `ipvsadm -A/-a/-L`) runs against that installed copy inside the
// sandbox, once with each Node the package supports, and must print what
// ipvsadm -Ln prints and what README says it prints, from the prebuild.
import assert from 'assert/strict';
import { execFileSync, spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import { arm64Nodes, nodes, root, tarball, workDir } from './helpers';

const NO_TOOLS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python3', 'python', 'pkg-config'];

/**
 * A directory holding links to node, and for installing npm and sh (npm runs
 * install scripts with `sh` from PATH): the whole PATH of a compiler-less machine.
 */
function binDir(name: string, node: string, forInstall: boolean): string {
  const dir = path.join(workDir(), name);
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(node, path.join(dir, 'node'));
  if (forInstall) {
    const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
    fs.symlinkSync(fs.realpathSync(npm), path.join(dir, 'npm'));
    fs.symlinkSync(fs.realpathSync('/bin/sh'), path.join(dir, 'sh'));
  }
  return dir;
}

/** npm install TARBALL in a new empty folder, with exactly the environment given. */
function install(name: string, tgz: string, env: NodeJS.ProcessEnv): { app: string; result: SpawnSyncReturns<string> } {
  const app = path.join(workDir(), name);
  fs.mkdirSync(app);
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tgz], {
    cwd: app,
    env: { HOME: os.homedir(), ...env },
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { app, result };
}

/** README's example (the first ts block of "## Usage") as JavaScript, and the text README says it prints. */
function readmeExample(): { code: string; prints: string } {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const usage = readme.slice(readme.indexOf('\n## Usage'));
  const m = /```ts\n([\s\S]*?)```[\s\S]*?```\n([\s\S]*?)```/.exec(usage);
  assert.ok(m, "README's ## Usage has no example followed by its output");
  assert.match(m[1], /from 'ipvs'/);
  const code = ts.transpileModule(m[1], { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  return { code, prints: m[2] };
}

describe('package: installed from the tarball without a compiler', function () {
  this.timeout(900_000);
  const hostNode = process.execPath;
  let bin: string;
  let app: string;

  before(function () {
    bin = binDir('bin', hostNode, true);
    ({ app } = (() => {
      const r = install('app', tarball(), { PATH: bin, PREBUILDS_ONLY: '1' });
      if (r.result.status !== 0) {
        throw new Error(`npm install failed (status ${r.result.status}):\n${r.result.stdout}\n${r.result.stderr}`);
      }
      return r;
    })());
  });

  it(`the PATH of the install has node, npm and sh, and none of ${NO_TOOLS.join(', ')}`, () => {
    assert.deepEqual(fs.readdirSync(bin).sort(), ['node', 'npm', 'sh']);
    for (const tool of NO_TOOLS) {
      const r = spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env: { PATH: bin }, encoding: 'utf8' });
      assert.notEqual(r.status, 0, `${tool} is on the PATH: ${r.stdout}`);
    }
  });

  it('installs with PREBUILDS_ONLY=1, compiling nothing', () => {
    const pkg = path.join(app, 'node_modules', 'ipvs');
    assert.ok(fs.existsSync(path.join(pkg, 'prebuilds', 'linux-x64', 'ipvs.glibc.node')));
    assert.equal(fs.existsSync(path.join(pkg, 'build')), false, 'node_modules/ipvs/build exists: the addon was compiled');
  });

  describe("README's example in the sandbox, on the installed copy", function () {
    const runs = new Map<string, { version: string; loaded: string; demo: string; rc: string; ipvsadm: string }>();
    let expected: string;

    before(function () {
      const example = readmeExample();
      expected = example.prints;
      fs.writeFileSync(path.join(app, 'example.mjs'), example.code);
      // One boot: for each node, a clean table, which addon file node-gyp-build
      // resolves, the example, then ipvsadm -Ln. Each node runs with its own
      // one-entry PATH and PREBUILDS_ONLY=1 (scripts/sandbox passes on the caller's PATH).
      const bins = nodes().map((node, i) => binDir(`bin-node-${i}`, node, false));
      const script = [
        'set -u',
        'for bin in "$@"; do',
        '  ipvsadm -C',
        '  run() { env -i PATH="$bin" HOME=/root PREBUILDS_ONLY=1 "$@"; }',
        '  echo "=== $bin"',
        `  run node -p "process.versions.node + ' ' + require('node-gyp-build').path(require('path').dirname(require.resolve('ipvs/package.json')))" 2>&1`,
        '  echo "--- example"',
        '  run node example.mjs 2>&1; echo "--- rc $?"',
        '  ipvsadm -Ln 2>&1',
        'done',
        'echo "=== end"',
      ].join('\n');
      fs.writeFileSync(path.join(app, 'run-example.sh'), script);
      // cwd under /tmp keeps the host's /tmp visible in the VM.
      const out = execFileSync(path.join(root, 'scripts', 'sandbox'), ['--', 'bash', 'run-example.sh', ...bins], {
        cwd: app,
        encoding: 'utf8',
        timeout: 850_000,
      });
      for (const part of out.split(/^=== /m).slice(1)) {
        const m = /^(\S+)\n(\S+) (\S+)\n--- example\n([\s\S]*?)--- rc (\d+)\n([\s\S]*)$/.exec(part);
        if (!m) continue;
        const node = fs.readlinkSync(path.join(m[1], 'node'));
        runs.set(node, { version: m[2], loaded: m[3], demo: m[4], rc: m[5], ipvsadm: m[6] });
      }
    });

    for (const node of nodes()) {
      it(`with ${node}: prints what ipvsadm -Ln and README print, from the prebuild`, () => {
        const run = runs.get(node);
        assert.ok(run, `no result for ${node}`);
        console.log(`      node ${run.version}: loaded ${path.relative(app, run.loaded)}`);
        assert.equal(run.rc, '0', run.demo);
        assert.equal(run.loaded, path.join(app, 'node_modules', 'ipvs', 'prebuilds', 'linux-x64', 'ipvs.glibc.node'));
        // console.log adds one newline to formatIpvsadmList's text.
        assert.equal(run.demo, `${run.ipvsadm}\n`);
        assert.equal(run.ipvsadm, expected);
      });
    }
  });

  describe('the linux-arm64 prebuild, in arm64 Node under qemu-user', function () {
    for (const node of arm64Nodes()) {
      it(`with ${node}: loads from prebuilds/linux-arm64 and runs its netlink code`, () => {
        // A call opens a generic netlink socket through libnl, in the addon.
        // qemu-user refuses generic netlink sockets (EPROTONOSUPPORT; it
        // translates only route, audit and uevent netlink), and where it
        // passed them on, this kernel has no IPVS (ERR_IPVS_UNAVAILABLE):
        // either way the library's own IpvsError, made by the arm64 code.
        const script = `
          const pkg = require('path').dirname(require.resolve('ipvs/package.json'));
          console.log(process.arch, process.versions.node, require('node-gyp-build').path(pkg));
          require('ipvs').info().then(() => console.log('resolved'), (e) => console.log(e.name, e.code, e.operation));`;
        // qemu itself from this PATH; the arm64 node gets the compiler-less one.
        const qemu = execFileSync('sh', ['-c', 'command -v qemu-aarch64'], { encoding: 'utf8' }).trim();
        const out = execFileSync(qemu, ['-L', '/usr/aarch64-linux-gnu', node, '-e', script], {
          cwd: app,
          env: { PATH: bin, PREBUILDS_ONLY: '1' },
          encoding: 'utf8',
          timeout: 300_000,
        });
        console.log(`      ${out.trim().replace(/\n/g, '; ')}`);
        const [arch, version, loaded] = out.split('\n')[0].split(' ');
        assert.equal(arch, 'arm64');
        assert.match(version, /^\d+\.\d+\.\d+$/);
        assert.equal(loaded, path.join(app, 'node_modules', 'ipvs', 'prebuilds', 'linux-arm64', 'ipvs.glibc.node'));
        assert.match(out.split('\n')[1], /^IpvsError (EPROTONOSUPPORT|ERR_IPVS_UNAVAILABLE) info$/);
      });
    }
  });

  it('with PREBUILDS_ONLY=1 and no prebuild that fits, the install fails saying so, compiling nothing', () => {
    // The same tarball less prebuilds/.
    const dir = path.join(workDir(), 'no-prebuild');
    fs.mkdirSync(dir);
    execFileSync('tar', ['-xzf', tarball(), '-C', dir]);
    fs.rmSync(path.join(dir, 'package', 'prebuilds'), { recursive: true });
    const tgz = path.join(dir, 'ipvs-no-prebuild.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', dir, 'package']);
    const { result } = install('app-no-prebuild', tgz, { PATH: bin, PREBUILDS_ONLY: '1' });
    assert.notEqual(result.status, 0, 'the install succeeded');
    assert.match(result.stderr, /PREBUILDS_ONLY is set, so the addon is not compiled/);
    assert.match(result.stderr, /No native build was found for platform=linux arch=x64/);
    assert.doesNotMatch(result.stdout + result.stderr, /gyp info|gyp ERR/, 'node-gyp ran');
  });
});
