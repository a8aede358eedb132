// The request queue's ordering, packing and slicing, on a recording stand-in
// for the addon (this checks our scheduling only; the kernel suite checks IPVS).
import assert from 'assert/strict';
import type { RawFailure, RawHandle, RawRequest } from '../../lib/addon';
import { APPLIED, RequestQueue, SLICE } from '../../lib/queue';

function recorder(fail: (request: RawRequest, index: number) => RawFailure['outcome'] | undefined = () => undefined) {
  const log: string[] = [];
  const native = {
    async executeJson(json: string): Promise<RawFailure[]> {
      const requests = JSON.parse(json) as RawRequest[];
      log.push(`executeJson:${requests.map((r) => r.command).join(',')}`);
      const failures: RawFailure[] = [];
      requests.forEach((r, index) => {
        const outcome = fail(r, index);
        if (outcome) failures.push({ index, errno: outcome === 'refused' ? 17 : 105, outcome });
      });
      return failures;
    },
  } as unknown as RawHandle;
  return { log, native };
}

describe('unit: request queue', () => {
  it('packs consecutive changes into one executeJson and keeps jobs in order', async () => {
    const { log, native } = recorder();
    const q = new RequestQueue(native, Promise.resolve());
    const done = [q.change({ command: 1 }), q.change({ command: 2 }), q.job(async () => log.push('job')), q.change({ command: 3 })];
    await Promise.all(done);
    assert.deepEqual(log, ['executeJson:1,2', 'job', 'executeJson:3']);
  });

  it('resolves each change with its own outcome', async () => {
    const { native } = recorder((r) => (r.command === 9 ? 'refused' : undefined));
    const q = new RequestQueue(native, Promise.resolve());
    const outcomes = await Promise.all([1, 9, 1].map((command) => q.change({ command })));
    assert.deepEqual(outcomes.map((o) => o.outcome), ['applied', 'refused', 'applied']);
    assert.equal((outcomes[1] as RawFailure).errno, 17);
  });

  it('stringifies and sends a large batch in bounded slices, in order', async () => {
    const { log, native } = recorder();
    const q = new RequestQueue(native, Promise.resolve());
    const n = SLICE * 2 + 7;
    const outcomes = await Promise.all(Array.from({ length: n }, () => q.change({ command: 1 })));
    assert.equal(outcomes.length, n);
    assert.deepEqual(log.map((l) => l.split(',').length), [SLICE, SLICE, 7]);
  });

  it('after an unknown outcome, the later slices are reported unsent, not guessed', async () => {
    let calls = 0;
    const { native } = recorder((_r, index) => (calls === 0 && index === 5 ? 'unknown' : undefined));
    const wrapped = { ...native, executeJson: async (json: string) => { const f = await native.executeJson(json); calls++; return f; } } as RawHandle;
    const q = new RequestQueue(wrapped, Promise.resolve());
    const outcomes = await q.send(Array.from({ length: SLICE + 3 }, () => ({ command: 1 })));
    assert.equal(outcomes[5]?.outcome, 'unknown');
    assert.equal(outcomes[4], APPLIED);
    assert.ok(outcomes.slice(SLICE).every((o) => o?.outcome === 'unsent'));
    assert.equal(calls, 1);
  });

  it("concurrent callers' changes packed together: a lost answer in one slice stops no other slice", async () => {
    let calls = 0;
    const { native } = recorder((_r, index) => (calls === 0 && index === 5 ? 'unknown' : undefined));
    const wrapped = { ...native, executeJson: async (json: string) => { const f = await native.executeJson(json); calls++; return f; } } as RawHandle;
    const q = new RequestQueue(wrapped, Promise.resolve());
    const outcomes = await Promise.all(Array.from({ length: 2 * SLICE + 3 }, () => q.change({ command: 1 })));
    assert.equal(outcomes[5]?.outcome, 'unknown');
    assert.equal(outcomes.filter((o) => o !== APPLIED).length, 1, 'every other change applied');
    assert.equal(calls, 3, 'every slice was sent');
  });

  it("independent requests: a slice refused whole is that slice's failure alone", async () => {
    let calls = 0;
    const { native } = recorder();
    const wrapped = {
      ...native,
      executeJson: async (json: string) => {
        if (calls++ === 1) throw Object.assign(new Error('no buffer space'), { errno: 105 });
        return native.executeJson(json);
      },
    } as RawHandle;
    const q = new RequestQueue(wrapped, Promise.resolve());
    const outcomes = await q.send(Array.from({ length: 3 * SLICE }, () => ({ command: 1 })), { independent: true });
    assert.ok(outcomes.slice(0, SLICE).every((o) => o === APPLIED));
    assert.ok(outcomes.slice(SLICE, 2 * SLICE).every((o) => o.outcome === 'unsent' && (o as RawFailure).errno === 105));
    assert.ok(outcomes.slice(2 * SLICE).every((o) => o === APPLIED));
    assert.equal(calls, 3);
  });

  it('fails every queued call with the open error', async () => {
    const { native } = recorder();
    const q = new RequestQueue(native, Promise.reject(Object.assign(new Error('IPVS is not available'), { errno: 2, unavailable: true })));
    const results = await Promise.allSettled([q.change({ command: 1 }), q.job(async () => 1)]);
    assert.ok(results.every((r) => r.status === 'rejected'));
  });
});
