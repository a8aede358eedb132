// Property tests of the facade against the real kernel (issue 10 item 2 and
// issue 11's campaign): random calls to every public function, valid and
// hostile, on a handle and at top level, alone and concurrently, never crash
// the process, and either fail validation (TypeError/RangeError naming the
// field) or reach the kernel, whose state (`ipvsadm -Sn`, thresholds,
// timeouts) then equals the test's own model. Random desired states through
// apply() converge and equal `ipvsadm -Sn`.
//
// FC_SEED fixes the seed (each run prints it), FC_RUNS scales the number of
// runs (CI: the default; scripts/property-check: thousands).
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import * as ipvs from '../../lib';
import { anyCall, Call, Expectation, hookCalls, knownFinding } from './property/calls';
import { desiredState, applyOptions, expectedRules, DesiredCase } from './property/desired';
import { kernelRules, kernelState, kernelTimeouts, Model, resetKernel } from './property/model';
import { assertSandbox, resetTable } from './helpers';

/** FC_RUNS: the number of command sequences of the first property (CI: 16); the others scale with it. */
const SCALE = process.env.FC_RUNS ? Number(process.env.FC_RUNS) / 16 : 1;
const SEED = process.env.FC_SEED === undefined ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(process.env.FC_SEED);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
/** Every input tried, for the closing line. */
const tally = { calls: 0, hostile: 0, rejectedValid: 0, applies: 0, opens: 0 };

/**
 * Findings in files this test's author does not own (lib/handle.ts), reported
 * with a reproducer; FC_STRICT=1 asserts them too. open-netns-message: open()
 * echoes the whole netns path in its error (a 1 MiB path gives a 1 MiB message).
 */
const STRICT = process.env.FC_STRICT === '1';
const knownSeen = new Set<string>();

/** Stops any sync daemon (a hostile call that wrongly started one must not poison later runs). */
function stopDaemons(): void {
  for (const state of ['master', 'backup'])
    try {
      execFileSync('ipvsadm', ['--stop-daemon', state], { stdio: 'ignore' });
    } catch {
      // none running
    }
}

type Target = Pick<ipvs.IpvsHandle, 'addService'> & Record<string, (...args: unknown[]) => Promise<unknown>>;

function withPollution<T>(pollute: Record<string, unknown> | undefined, run: () => T): { result: T; restore: () => void } {
  const saved: Array<[string, PropertyDescriptor | undefined]> = [];
  if (pollute)
    for (const [k, v] of Object.entries(pollute)) {
      saved.push([k, Object.getOwnPropertyDescriptor(Object.prototype, k)]);
      Object.defineProperty(Object.prototype, k, { value: v, configurable: true, writable: true, enumerable: false });
    }
  const restore = () => {
    for (const [k, d] of saved.reverse()) {
      if (d) Object.defineProperty(Object.prototype, k, d);
      else delete (Object.prototype as Record<string, unknown>)[k];
    }
    saved.length = 0;
  };
  try {
    return { result: run(), restore };
  } catch (error) {
    restore();
    throw error;
  }
}

/** Checks one settled call against what it had to do. */
function check(call: Call, expectation: Expectation, outcome: PromiseSettledResult<unknown>): void {
  const where = `${call.label}: `;
  const error = outcome.status === 'rejected' ? (outcome.reason as Error) : undefined;
  if (error && !(error instanceof Error)) assert.fail(`${where}rejected with a non-Error ${typeof error}`);
  if (error) assert.ok(error.message.length < 1000, `${where}a message of ${error.message.length} characters`);
  switch (expectation.kind) {
    case 'read':
      assert.equal(error, undefined, `${where}a read failed: ${error?.message}`);
      return;
    case 'garbage':
      // Anything at all: a result, a refusal naming what it refused, or the kernel's answer; never a crash.
      if (error === undefined || error instanceof ipvs.IpvsError) return;
      assert.ok(error instanceof TypeError || error instanceof RangeError, `${where}${error.name}: ${error.message}`);
      assert.match(error.message, /^(Expected|Unknown property|Non-enumerable property) /, `${where}${error.message}`);
      return;
    case 'kernel':
      assert.ok(error instanceof ipvs.IpvsError, `${where}expected a kernel refusal, got ${error?.message ?? 'success'}`);
      return;
    case 'model': {
      const e = expectation.expected;
      if (e === undefined) {
        if (error) tally.rejectedValid++;
        assert.equal(error, undefined, `${where}must succeed, failed with ${error?.name}: ${error?.message}`);
      } else if (e === 'RangeError') {
        assert.ok(error instanceof RangeError || error instanceof TypeError, `${where}must be refused (RangeError), got ${error ? `${error.name}: ${error.message}` : 'success'}`);
      } else {
        assert.ok(error instanceof ipvs.IpvsError, `${where}must fail with ${e}, got ${error ? `${error.name}: ${error.message}` : 'success'}`);
        assert.equal(error.code, e, `${where}${error.message}`);
      }
      return;
    }
    case 'invalid': {
      tally.hostile++;
      if (!error && !STRICT && knownFinding(call)) {
        knownSeen.add(knownFinding(call)!);
        return;
      }
      assert.ok(error, `${where}a hostile input was accepted`);
      if (expectation.thrower() !== undefined && error === expectation.thrower()) return; // the caller's own getter threw
      // An edit validates its changes after reading the current settings: a missing object is said first.
      if (error instanceof ipvs.IpvsError && /^edit/.test(call.fn) && (error.code === 'ESRCH' || error.code === 'ENOENT')) return;
      assert.ok(error instanceof TypeError || error instanceof RangeError, `${where}expected a TypeError or RangeError, got ${error.name}: ${error.message}`);
      assert.ok(error.message.includes(expectation.field), `${where}the message does not name ${expectation.field}: ${error.message}`);
      assert.doesNotMatch(error.message, /undefined\.undefined|\[object Object\]|HOOK/, `${where}${error.message}`);
      return;
    }
  }
}

function assertKernelMatches(model: Model, context: string): void {
  const k = kernelState();
  assert.deepEqual(k.rules, model.savedRules(), `ipvsadm -Sn differs from the model after ${context}`);
  assert.deepEqual(k.thresholds, model.thresholds(), `thresholds differ from the model after ${context}`);
  assert.deepEqual(k.timeouts, model.timeouts, `timeouts differ from the model after ${context}`);
}

/** One step: a call alone, or a group issued together without waiting (a concurrent mix). */
const step = fc.oneof({ weight: 3, arbitrary: anyCall.map((c) => [c]) }, { weight: 1, arbitrary: fc.array(anyCall, { minLength: 2, maxLength: 5 }) });

describe('kernel: property tests of the facade (fast-check)', function () {
  // A long run (FC_RUNS) takes as long as it takes.
  this.timeout(process.env.FC_RUNS ? 0 : 600000);
  let handle: ipvs.IpvsHandle;
  let unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let initialTimeouts: { tcp: number; tcpFin: number; udp: number };

  before(async function () {
    assertSandbox();
    execFileSync('modprobe', ['ip_vs_pe_sip']);
    handle = await ipvs.open();
    initialTimeouts = kernelTimeouts();
    process.on('unhandledRejection', onUnhandled);
    console.log(`      fast-check seed ${SEED} (FC_SEED=${SEED} reproduces), scale ${SCALE}`);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await handle?.setTimeouts(initialTimeouts);
    await handle?.close();
    await ipvs.closeDefaultHandle();
    resetTable();
    console.log(`      inputs: ${tally.calls} calls (${tally.hostile} hostile), ${tally.applies} applies, ${tally.opens} opens`);
    if (knownSeen.size) console.log(`      known findings outside lib/validate, convert, address (FC_STRICT=1 fails on them): ${[...knownSeen].join(', ')}`);
    stopDaemons();
  });
  beforeEach(() => {
    resetTable();
    unhandled = [];
  });

  it('random calls, valid and hostile, alone and concurrent, on a handle and at top level: refused naming the field, or the kernel equals the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), fc.boolean(), async (steps, topLevel) => {
        resetKernel(initialTimeouts);
        const model = new Model();
        model.timeouts = { ...initialTimeouts };
        const target = (topLevel ? ipvs : handle) as unknown as Target;
        hookCalls.length = 0;
        for (const group of steps) {
          // The model's verdicts are taken in call order, before any pollution.
          const expectations = group.map((c) => c.expect(model));
          const settled: Array<Promise<PromiseSettledResult<unknown>>> = [];
          const restores: Array<() => void> = [];
          for (const c of group) {
            tally.calls++;
            const args = c.args();
            const { result, restore } = withPollution(c.pollute, () => {
              try {
                return Promise.resolve(target[c.fn](...args));
              } catch (error) {
                // A synchronous throw is itself a defect: calls return promises.
                return Promise.reject(Object.assign(new Error(`${c.fn} threw synchronously: ${(error as Error)?.message}`), { sync: true }));
              }
            });
            restores.push(restore);
            settled.push(result.then((value) => ({ status: 'fulfilled' as const, value }), (reason) => ({ status: 'rejected' as const, reason })));
          }
          let outcomes: Array<PromiseSettledResult<unknown>>;
          try {
            outcomes = await Promise.all(settled);
          } finally {
            for (const r of restores.reverse()) r();
          }
          group.forEach((c, i) => check(c, expectations[i], outcomes[i]));
        }
        assert.deepEqual(hookCalls, [], 'a message builder ran the caller\'s toString/toJSON/inspect hooks');
        assertKernelMatches(model, steps.map((g) => g.map((c) => c.label).join(' || ')).join('\n  '));
        assert.deepEqual(unhandled, [], 'unhandled rejections');
      }),
      { numRuns: runs(16), seed: SEED, endOnFailure: true },
    );
  });

  it('open(): random netns values (named pipes, files, missing paths, other namespace types, odd strings) settle promptly, concurrently, and never block the process', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-prop-'));
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, 'not a namespace');
    const kinds: Record<string, { netns: () => unknown; ok: boolean; field?: boolean }> = {
      fifo: { netns: () => fifo, ok: false },
      file: { netns: () => file, ok: false },
      dir: { netns: () => dir, ok: false },
      missing: { netns: () => path.join(dir, 'missing'), ok: false },
      missingName: { netns: () => 'ipvs-prop-no-such-ns', ok: false },
      devnull: { netns: () => '/dev/null', ok: false },
      uts: { netns: () => '/proc/self/ns/uts', ok: false },
      long: { netns: () => '/' + 'x'.repeat(5000), ok: false },
      self: { netns: () => '/proc/self/ns/net', ok: true },
      none: { netns: () => undefined, ok: true },
      nul: { netns: () => 'a\0b', ok: false, field: true },
      empty: { netns: () => '', ok: false, field: true },
      dot: { netns: () => '..', ok: false, field: true },
      number: { netns: () => 5, ok: false, field: true },
      bigint: { netns: () => 5n, ok: false, field: true },
      symbol: { netns: () => Symbol('ns'), ok: false, field: true },
      object: { netns: () => ({ toString: () => '/proc/self/ns/net' }), ok: false, field: true },
      mib: { netns: () => 'x'.repeat(1 << 20), ok: false },
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.constantFrom(...Object.keys(kinds)), { minLength: 1, maxLength: 6 }), async (picked) => {
          const started = Date.now();
          const results = await Promise.allSettled(
            picked.map((k) => {
              tally.opens++;
              return ipvs.open({ netns: kinds[k].netns() as string });
            }),
          );
          // Meanwhile the thread pool still serves files and IPVS.
          fs.readFileSync(file);
          await handle.info();
          for (let i = 0; i < picked.length; i++) {
            const k = kinds[picked[i]];
            const r = results[i];
            if (k.ok) {
              assert.equal(r.status, 'fulfilled', `${picked[i]}: ${(r as PromiseRejectedResult).reason?.message}`);
              const h = (r as PromiseFulfilledResult<ipvs.IpvsHandle>).value;
              await h.list();
              await h.close();
            } else {
              assert.equal(r.status, 'rejected', `${picked[i]} opened`);
              const e = (r as PromiseRejectedResult).reason as Error;
              if (k.field) assert.ok((e instanceof TypeError || e instanceof RangeError) && e.message.includes('options.netns'), `${picked[i]}: ${e.message}`);
              else assert.ok(e instanceof ipvs.IpvsError || e instanceof RangeError, `${picked[i]}: ${e.name}: ${e.message}`);
              if (e.message.length >= 1000 && !STRICT && (picked[i] === 'mib' || picked[i] === 'long')) knownSeen.add('open-netns-message');
              else assert.ok(e.message.length < 1000, `${picked[i]}: a message of ${e.message.length} characters`);
            }
          }
          assert.ok(Date.now() - started < 60000, 'open() took a minute');
        }),
        { numRuns: runs(4), seed: SEED, endOnFailure: true },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('random desired states through apply(): converge (a later apply plans nothing) and equal ipvsadm -Sn', async () => {
    await fc.assert(
      fc.asyncProperty(desiredState, desiredState, applyOptions, fc.boolean(), async (first, second, options, topLevel) => {
        resetKernel(initialTimeouts);
        const apply = (topLevel ? ipvs.apply : handle.apply.bind(handle)) as typeof handle.apply;
        tally.applies++;
        const r1 = await apply(first.desired, { prune: true });
        assert.equal(r1.counts.failed + r1.counts.unknown, 0, JSON.stringify(r1.changes.filter((c) => c.status !== 'applied').map((c) => c.error?.message)));
        const k1 = kernelState();
        assert.deepEqual(k1.rules, expectedRules([first], []).rules, 'after the first apply');
        assert.deepEqual(k1.thresholds, expectedRules([first], []).thresholds, 'thresholds after the first apply');

        tally.applies++;
        const r2 = await apply(second.desired, options.options);
        assert.equal(r2.counts.failed + r2.counts.unknown, 0, JSON.stringify(r2.changes.filter((c) => c.status !== 'applied').map((c) => c.error?.message)));
        const want = expectedRules([second], [first], options);
        if (options.drain) {
          // Leaving destinations are at weight 0 now; the next apply deletes them (no connections).
          assert.deepEqual(kernelRules(), expectedRules([second], [first], options, true).rules, 'after a draining apply');
          tally.applies++;
          await apply(second.desired, options.options);
        }
        const k2 = kernelState();
        assert.deepEqual(k2.rules, want.rules, 'after the second apply');
        assert.deepEqual(k2.thresholds, want.thresholds, 'thresholds after the second apply');
        tally.applies += 2;
        const again = await apply(second.desired, options.options);
        assert.deepEqual(again.plan, [], 'a second apply planned something');
        const relist = await apply(await handle.list());
        assert.deepEqual(relist.plan, [], 'apply(list()) planned something');
      }),
      { numRuns: runs(6), seed: SEED, endOnFailure: true },
    );
  });
});

export type { DesiredCase };
