#!/usr/bin/env node
// `npm test`: the unit suite on this machine, then the kernel suite against a
// real IPVS through scripts/sandbox, once per kernel in IPVS_TEST_KERNELS
// (default "6.12"; "6.1 6.12" runs both). One VM boot runs the whole kernel
// suite. Prints a line per suite and a closing "N passed, N failed" line, and
// fails if any suite failed, crashed, or ran no test.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
const sandbox = path.join(root, 'scripts', 'sandbox');

/** Runs a command, streaming its output, and returns its exit code and mocha's counts. */
function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const take = (stream, out) =>
      stream.on('data', (chunk) => {
        out.write(chunk);
        text += chunk.toString();
      });
    take(child.stdout, process.stdout);
    take(child.stderr, process.stderr);
    child.on('close', (code, signal) => {
      const count = (word) => {
        const m = new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm').exec(text);
        return m ? Number(m[1]) : 0;
      };
      resolve({ code: code ?? (signal ? 128 : 1), passed: count('passing'), failed: count('failing'), skipped: count('pending') });
    });
  });
}

/** Whether scripts/sandbox will use a network namespace on the host kernel. */
function hostHasIpvs() {
  if (process.env.IPVS_SANDBOX === 'vm') return false;
  return process.env.IPVS_SANDBOX === 'netns' || (process.getuid() === 0 && fs.existsSync('/proc/net/ip_vs'));
}

async function main() {
  const results = [];
  const suite = async (name, command, args) => {
    console.log(`\n=== ${name} ===`);
    const started = Date.now();
    const r = await run(command, args);
    results.push({ name, seconds: (Date.now() - started) / 1000, ...r });
  };

  await suite('unit', process.execPath, [mocha, 'dist/test/unit/**/*.test.js']);

  // Kernel state tests and real-traffic tests, one boot for both.
  const kernelSuite = [process.execPath, mocha, '--timeout', '120000', 'dist/test/kernel/**/*.test.js', 'dist/test/traffic/**/*.test.js'];
  if (hostHasIpvs()) {
    await suite('kernel (host kernel, fresh network namespace)', sandbox, ['--', ...kernelSuite]);
  } else {
    const kernels = (process.env.IPVS_TEST_KERNELS || '6.12').split(/[\s,]+/).filter(Boolean);
    for (const kernel of kernels) await suite(`kernel ${kernel} (VM)`, sandbox, ['--kernel', kernel, '--', ...kernelSuite]);
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
