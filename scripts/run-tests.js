#!/usr/bin/env node
// `npm test`: the unit suite on this machine, then the kernel suite against a
// real IPVS through scripts/sandbox, once per kernel in IPVS_TEST_KERNELS
// (default "6.12"; "6.1 6.12" runs both). One VM boot runs the whole kernel
// suite. Then, for each Node in IPVS_TEST_NODES (majors or versions, e.g.
// "18 26", fetched from the npm registry by scripts/fetch-node), the unit
// suite and the kernel suite (on the last kernel of IPVS_TEST_KERNELS) again
// under that node, first on PATH. Then the package suite (scripts/test-package:
// the packed tarball installed without a compiler, README's example on it
// with every node); IPVS_TEST_PACKAGE=0 skips it. Prints a line per suite and
// a closing "N passed, N failed" line, and fails if any suite failed, crashed,
// or ran no test.
'use strict';
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
const sandbox = path.join(root, 'scripts', 'sandbox');

/** Runs a command, streaming its output, and returns its exit code and mocha's counts. */
function run(command, args, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const take = (stream, out) =>
      stream.on('data', (chunk) => {
        out.write(chunk);
        text += chunk.toString();
      });
    take(child.stdout, process.stdout);
    take(child.stderr, process.stderr);
    child.on('error', (error) => {
      text += String(error);
      process.stderr.write(`${error}\n`);
    });
    child.on('close', (code, signal) => {
      const count = (word) => {
        const m = new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm').exec(text);
        return m ? Number(m[1]) : 0;
      };
      resolve({ code: code ?? (signal ? 128 : 1), passed: count('passing'), failed: count('failing'), skipped: count('pending'), failures: failuresOf(text) });
    });
  });
}

/**
 * Mocha's failure report ("N failing" and what follows), cut to its first
 * 60 lines: the summary repeats it, so that the end of a long log names
 * what failed.
 */
function failuresOf(text) {
  const at = text.search(/^\s*\d+ failing\b/m);
  if (at < 0) return '';
  const lines = text.slice(at).split('\n');
  return lines.slice(0, 60).join('\n') + (lines.length > 60 ? `\n  ... (${lines.length - 60} more lines above in the log)` : '');
}

/** Whether scripts/sandbox will use a network namespace on the host kernel. */
function hostHasIpvs() {
  if (process.env.IPVS_SANDBOX === 'vm') return false;
  return process.env.IPVS_SANDBOX === 'netns' || (process.getuid() === 0 && fs.existsSync('/proc/net/ip_vs'));
}

/** Resolves IPVS_TEST_NODES to node binaries (scripts/fetch-node); throws if it cannot. */
function extraNodes() {
  const wanted = (process.env.IPVS_TEST_NODES || '').split(/[\s,]+/).filter(Boolean);
  if (wanted.length === 0) return [];
  const out = execFileSync(path.join(root, 'scripts', 'fetch-node'), wanted, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.split('\n').filter(Boolean).map((node) => ({
    node,
    version: execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim(),
  }));
}

async function main() {
  const results = [];
  const suite = async (name, command, args, env) => {
    console.log(`\n=== ${name} ===`);
    const started = Date.now();
    const r = await run(command, args, env);
    results.push({ name, seconds: (Date.now() - started) / 1000, ...r });
  };
  const kernels = (process.env.IPVS_TEST_KERNELS || '6.12').split(/[\s,]+/).filter(Boolean);

  // One Node: the unit suite, then the kernel suite on each of `kernelsFor`.
  // `full`: the traffic suite and the 4 GiB transfer too, and on the last
  // kernel the system suite (multi-process scenarios, the etcd fleet: its
  // logic is the agent's, not the kernel's, and it takes minutes); the other
  // Nodes run the kernel state tests only (what differs between Nodes is the
  // addon's loading and the JavaScript, not the kernel's data path), to keep CI short.
  const suites = async (node, label, kernelsFor, env, full = true) => {
    await suite(`unit${label}`, node, [mocha, 'dist/test/unit/**/*.test.js'], env);
    // Kernel state tests and real-traffic tests, one boot for both.
    const kernelSuite = (last) =>
      full
        ? [node, mocha, '--timeout', '120000', 'dist/test/kernel/**/*.test.js', 'dist/test/traffic/**/*.test.js', ...(last ? ['dist/test/system/**/*.test.js'] : [])]
        : [node, mocha, '--timeout', '120000', '--grep', 'byte counter past', '--invert', 'dist/test/kernel/**/*.test.js'];
    if (hostHasIpvs()) {
      await suite(`kernel (host kernel, fresh network namespace)${label}`, sandbox, ['--', ...kernelSuite(true)], env);
    } else {
      for (const kernel of kernelsFor)
        await suite(`kernel ${kernel} (VM)${label}`, sandbox, ['--kernel', kernel, '--', ...kernelSuite(kernel === kernelsFor[kernelsFor.length - 1])], env);
    }
  };

  await suites(process.execPath, '', kernels);

  // Every other supported Node, first on PATH so that what the tests spawn
  // as `node` is that one too. One kernel is enough for these.
  let others = [];
  try {
    others = extraNodes();
  } catch (error) {
    console.error(`cannot fetch IPVS_TEST_NODES=${process.env.IPVS_TEST_NODES}: ${error.message}`);
    results.push({ name: `fetching node ${process.env.IPVS_TEST_NODES}`, seconds: 0, code: 1, passed: 0, failed: 1, skipped: 0 });
  }
  for (const { node, version } of others) {
    const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` };
    await suites(node, ` (node ${version})`, kernels.slice(-1), env, false);
  }

  if (process.env.IPVS_TEST_PACKAGE !== '0') {
    await suite(`package (npm pack; node ${[process.versions.node, ...others.map((o) => o.version)].join(', ')})`, path.join(root, 'scripts', 'test-package'), []);
  }

  for (const r of results) {
    if (r.failures) console.log(`\n--- what failed in ${r.name} ---\n${r.failures}`);
  }
  console.log('\n=== summary ===');
  let ok = true;
  const total = { passed: 0, failed: 0, skipped: 0 };
  for (const r of results) {
    const broken = r.code !== 0 || r.failed > 0 || r.passed === 0;
    ok = ok && !broken;
    for (const k of Object.keys(total)) total[k] += r[k];
    const note = r.passed === 0 ? ' (ran no test)' : r.code !== 0 && r.failed === 0 ? ` (exit ${r.code})` : '';
    console.log(`${r.name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped in ${r.seconds.toFixed(1)} s${note}`);
  }
  // A crashed suite counts as a failure even when it printed no count.
  const crashed = results.filter((r) => (r.code !== 0 || r.passed === 0) && r.failed === 0).length;
  console.log(`total: ${total.passed} passed, ${total.failed + crashed} failed, ${total.skipped} skipped`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
