// A handle's kernel work runs below the event loop's priority: while a call
// runs, its thread-pool thread's nice value is raised by open()'s workerNice
// (default 10) and given back when the call ends (native/worker_priority.h).
// Checked from the threads' own nice values in /proc while a long dump runs.
import assert from 'assert/strict';
import { readdirSync, readFileSync } from 'fs';
import * as ipvs from '../../lib';
import { ipvs as cli } from './cli-run';
import { assertSandbox, resetTable } from './helpers';

/** The nice value of every thread of this process but the main one (field 19 of /proc/self/task/T/stat). */
function otherThreadsNice(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      // After the command's closing parenthesis: state is field 3, nice field 19.
      out.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/**
 * Every nice value seen among the other threads while `call` runs, sampled
 * every 2 ms (a sample reads a dozen /proc files: under emulation about a
 * millisecond, and a loop kept that busy is what a lowered pool thread waits
 * behind).
 */
async function niceSeenDuring(call: () => Promise<unknown>): Promise<Set<number>> {
  const seen = new Set<number>();
  const sample = () => {
    for (const n of otherThreadsNice()) seen.add(n);
  };
  const timer = setInterval(sample, 2);
  try {
    await call();
  } finally {
    clearInterval(timer);
  }
  return seen;
}

describe('kernel: the handle works below the event loop', function () {
  this.timeout(180000);
  let maker: ipvs.IpvsHandle;
  before(async function () {
    assertSandbox();
    resetTable();
    // 600 services x 4: a list() takes 600 destination dumps, long enough to sample.
    maker = await ipvs.open({ workerNice: 0 });
    const desired: ipvs.DesiredService[] = [];
    for (let i = 0; i < 600; i++) {
      const destinations = [1, 2, 3, 4].map((j) => ({ address: `198.19.${j}.${(i % 250) + 1}`, port: 8080, weight: 1, forwarding: 'masq' as const }));
      desired.push({ protocol: 'tcp', address: `198.18.${i >> 8}.${i & 255}`, port: 80, scheduler: 'rr', destinations });
    }
    await maker.apply(desired);
  });
  after(async () => {
    await maker?.close();
    resetTable();
  });

  it('by default, a call runs at nice 10 and gives the thread its priority back when it ends', async () => {
    assert.ok(otherThreadsNice().every((n) => n === 0), `threads already lowered: ${otherThreadsNice()}`);
    const handle = await ipvs.open();
    try {
      let listed = 0;
      const seen = await niceSeenDuring(async () => {
        // Several reads, so that the sampler's turns fall inside some.
        for (let i = 0; i < 3; i++) listed = (await handle.list()).length;
      });
      assert.equal(listed, 600);
      assert.ok(seen.has(10), `nice values seen during the list(): ${[...seen]}`);
      assert.deepEqual([...seen].filter((n) => n !== 0 && n !== 10), []);
      // Given back: no thread of this process is left lowered.
      assert.deepEqual(otherThreadsNice().filter((n) => n !== 0), []);
    } finally {
      await handle.close();
    }
  });

  it('open({ workerNice }) sets how far below: 19 lowers the thread to 19; 0 leaves it alone', async () => {
    const low = await ipvs.open({ workerNice: 19 });
    const same = await ipvs.open({ workerNice: 0 });
    try {
      const lowSeen = await niceSeenDuring(() => low.list());
      assert.ok(lowSeen.has(19), `nice values seen: ${[...lowSeen]}`);
      const sameSeen = await niceSeenDuring(async () => {
        for (let i = 0; i < 3; i++) await same.list();
      });
      assert.deepEqual([...sameSeen], [0]);
      assert.deepEqual(otherThreadsNice().filter((n) => n !== 0), []);
    } finally {
      await Promise.all([low.close(), same.close()]);
    }
  });

  it('the ipvs command takes --worker-nice: a listing at 19 lowers its thread to 19', async () => {
    let listed = { status: -1, out: '', err: '' };
    const seen = await niceSeenDuring(async () => {
      listed = await cli(['-Ln', '--worker-nice', '19']);
    });
    assert.equal(listed.status, 0, listed.err);
    assert.equal(listed.out.split('\n').filter((l) => l.startsWith('TCP')).length, 600);
    assert.ok(seen.has(19), `nice values seen: ${[...seen]}`);
    assert.deepEqual(otherThreadsNice().filter((n) => n !== 0), []);
  });

  it('open() refuses a workerNice that is not an integer from 0 to 19, naming it', async () => {
    await assert.rejects(ipvs.open({ workerNice: 20 }), (e: Error) => e instanceof RangeError && e.message.includes('options.workerNice') && e.message.includes('20'));
    await assert.rejects(ipvs.open({ workerNice: -1 }), RangeError);
    await assert.rejects(ipvs.open({ workerNice: 2.5 }), (e: Error) => e instanceof TypeError && e.message.includes('options.workerNice'));
    await assert.rejects(ipvs.open({ workerNice: '5' as unknown as number }), TypeError);
  });
});
