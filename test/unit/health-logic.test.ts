// The pure parts of health checking: check specs and their errors, rise and
// fall counting, the scheduler's start jitter, and the pool actions
// (inhibit, remove, slow start, quorum with hysteresis and a sorry server,
// the depool threshold).
import assert from 'assert/strict';
import { CheckState, Pool, Scheduler, SORRY_ID, splitHealth, toCheck, toPolicy } from '../../lib/health';
import type { Member, PoolPolicy } from '../../lib/health';

const policy = (p: Partial<PoolPolicy>): PoolPolicy => ({ onFailure: 'inhibit', slowStartMs: 0, quorum: 0, hysteresis: 0, sorryServer: undefined, depoolThreshold: 0, ...p });
const member = (id: string, up: boolean, configuredWeight = 100, since = -Infinity): Member => ({ id, up, configuredWeight, since, reportedWeight: undefined });

describe('unit: health specs', () => {
  it('fills in defaults, in milliseconds', () => {
    const c = toCheck({ type: 'http' }, 'check');
    assert.equal(c.type, 'http');
    if (c.type !== 'http') return;
    assert.deepEqual([c.intervalMs, c.timeoutMs, c.rise, c.fall, c.retryDelayMs, c.jitterMs, c.path, c.method, c.verify], [5000, 2000, 2, 3, 5000, 5000, '/', 'GET', true]);
    assert.deepEqual(c.status, [{ low: 200, high: 299 }]);
  });

  it('names the field and value of a bad spec', () => {
    assert.throws(() => toCheck({ type: 'ping' }, 'check'), /^RangeError: Expected one of 'tcp', .* for check\.type but received "ping"$/);
    assert.throws(() => toCheck({ type: 'tcp', timeout: 3, interval: 1 }, 'd.check'), /^RangeError: Expected d\.check\.timeout to be at most d\.check\.interval \(1 s\) but received 3$/);
    assert.throws(() => toCheck({ type: 'tcp', interval: '5' }, 'check'), /^TypeError: Expected a number of seconds .* for check\.interval but received "5"$/);
    assert.throws(() => toCheck({ type: 'tcp', rise: 0 }, 'check'), /^RangeError: .* for check\.rise but received 0$/);
    assert.throws(() => toCheck({ type: 'tcp', path: '/x' }, 'check'), /^TypeError: Unknown property 'path' in check/);
    assert.throws(() => toCheck({ type: 'http', status: ['2xx'] }, 'check'), /^RangeError: .* for check\.status\[0\] but received "2xx"$/);
    assert.throws(() => toCheck({ type: 'http', body: '(' }, 'check'), /^RangeError: Expected a regular expression for check\.body/);
    assert.throws(() => toCheck({ type: 'http', digest: 'abc' }, 'check'), /^RangeError: Expected 32 hex digits .* for check\.digest/);
    assert.throws(() => toCheck({ type: 'command', command: 'true' }, 'check'), /^TypeError: .* for check\.command but received "true"$/);
    assert.throws(() => toPolicy({ depoolThreshold: 2 }, 'svc.health', 80), /^RangeError: .* for svc\.health\.depoolThreshold but received 2$/);
    assert.throws(() => toPolicy({ quorum: 2, hysteresis: 3 }, 'svc.health', 80), /^RangeError: .* for svc\.health\.hysteresis but received 3$/);
  });

  it('gives the same exchange the same identity, whatever its jitter', () => {
    assert.equal(toCheck({ type: 'tcp', jitter: 0 }, 'a').id, toCheck({ type: 'tcp', jitter: 3 }, 'b').id);
    assert.notEqual(toCheck({ type: 'tcp' }, 'a').id, toCheck({ type: 'tcp', port: 81 }, 'b').id);
    assert.notEqual(toCheck({ type: 'http', body: 'a' }, 'a').id, toCheck({ type: 'http', body: 'b' }, 'b').id);
  });

  it('splits a document into what apply() takes and the health specs', () => {
    const doc = [
      {
        protocol: 'tcp', address: '198.18.0.10', port: 80, scheduler: 'rr',
        check: { type: 'http', path: '/health' }, health: { depoolThreshold: 0.5, slowStart: 30 },
        destinations: [{ address: '198.19.1.2', weight: 100 }, { address: '198.19.1.3', port: 8080, check: { type: 'tcp' } }, { address: '198.19.1.4', check: null }],
      },
      { fwmark: 7, scheduler: 'mh' },
    ];
    const { desired, health } = splitHealth(doc);
    assert.deepEqual(desired, [
      { protocol: 'tcp', address: '198.18.0.10', port: 80, scheduler: 'rr', destinations: [{ address: '198.19.1.2', weight: 100 }, { address: '198.19.1.3', port: 8080 }, { address: '198.19.1.4' }] },
      { fwmark: 7, scheduler: 'mh' },
    ]);
    assert.equal(health.length, 1);
    assert.deepEqual(health[0].key, { protocol: 'tcp', address: '198.18.0.10', port: 80 });
    assert.equal(health[0].policy.slowStartMs, 30000);
    assert.deepEqual(health[0].destinations.map((d) => [d.address, d.port, d.weight, d.check?.type ?? null]), [
      ['198.19.1.2', 80, 100, 'http'], ['198.19.1.3', 8080, 1, 'tcp'], ['198.19.1.4', 80, 1, null],
    ]);
    assert.throws(() => splitHealth([{ ...doc[0], destinations: [{ address: '198.19.1.2', check: { type: 'tcp', fall: -1 } }] }]), /for desired\[0\]\.destinations\[0\]\.check\.fall but received -1/);
  });
});

describe('unit: health rise and fall', () => {
  const ok = { ok: true, reason: 'HTTP 200' };
  const bad = { ok: false, reason: 'HTTP 503' };

  it('takes an up destination down only after `fall` consecutive failures', () => {
    const s = new CheckState(2, 3, true, 0);
    assert.deepEqual([s.record(bad, 1), s.record(bad, 2), s.record(ok, 3), s.record(bad, 4), s.record(bad, 5)], [null, null, null, null, null]);
    assert.equal(s.failing, true);
    assert.equal(s.record(bad, 6), 'down');
    assert.deepEqual([s.up, s.since, s.reason], [false, 6, 'HTTP 503']);
  });

  it('brings a down destination up only after `rise` consecutive successes', () => {
    const s = new CheckState(2, 3, false, 0);
    assert.deepEqual([s.record(ok, 1), s.record(bad, 2), s.record(ok, 3)], [null, null, null]);
    assert.equal(s.record(ok, 4), 'up');
    assert.equal(s.up, true);
  });
});

describe('unit: health scheduler jitter', () => {
  it('starts each check within its jitter', () => {
    for (const r of [0, 0.5, 0.999999]) {
      const s = new Scheduler(() => Promise.resolve(undefined), 10, () => r);
      const entry = { intervalMs: 1000, jitterMs: 400, due: 0, slot: -1, removed: false };
      const before = performance.now();
      s.add(entry);
      const after = performance.now();
      s.stop();
      assert.ok(entry.due >= before + r * 400 && entry.due <= after + r * 400, `due ${entry.due - before} for r ${r}`);
      assert.ok(entry.due - before <= 400 + (after - before));
    }
  });
});

describe('unit: health pool actions', () => {
  it('inhibits (weight 0) or removes (null) a down destination and restores its weight', () => {
    const inhibit = new Pool(policy({}));
    assert.deepEqual([...inhibit.evaluate([member('a', true), member('b', false, 50)], 0).weights], [['a', 100], ['b', 0]]);
    assert.deepEqual([...inhibit.evaluate([member('a', true), member('b', true, 50)], 1).weights], [['a', 100], ['b', 50]]);
    const remove = new Pool(policy({ onFailure: 'remove' }));
    assert.deepEqual([...remove.evaluate([member('a', true), member('b', false)], 0).weights], [['a', 100], ['b', null]]);
  });

  it('ramps a recovered destination over the slow start in ten steps', () => {
    const pool = new Pool(policy({ slowStartMs: 10000 }));
    const at = (now: number) => pool.evaluate([member('a', true, 100, 1000)], now);
    assert.deepEqual([at(1000).weights.get('a'), at(1000).nextStepAt], [10, 2000]);
    assert.deepEqual([at(5999).weights.get('a'), at(5999).nextStepAt], [50, 6000]);
    assert.deepEqual([at(10999).weights.get('a'), at(11000).weights.get('a'), at(11000).nextStepAt], [100, 100, Infinity]);
    // A destination found up in the kernel at start does not ramp.
    assert.equal(pool.evaluate([member('a', true)], 0).weights.get('a'), 100);
  });

  it('uses a reported weight in place of the configured one, never adding to it', () => {
    const pool = new Pool(policy({}));
    const m = { ...member('a', true, 100), reportedWeight: 7 };
    assert.equal(pool.evaluate([m], 0).weights.get('a'), 7);
    assert.equal(pool.evaluate([m], 1).weights.get('a'), 7);
  });

  it('switches to the sorry server when quorum is lost, and back only past the hysteresis', () => {
    const pool = new Pool(policy({ quorum: 200, hysteresis: 100, sorryServer: { address: '198.19.9.9', port: 80, weight: 1 } }));
    const states = (...up: boolean[]) => up.map((u, i) => member(`d${i}`, u));
    let d = pool.evaluate(states(true, true, true, true), 0);
    assert.deepEqual([d.quorum, d.weights.get(SORRY_ID)], [true, 0]);
    // 200 alive: not below quorum - hysteresis (100).
    d = pool.evaluate(states(true, true, false, false), 1);
    assert.deepEqual([d.quorum, d.quorumChanged, d.weights.get('d0')], [true, false, 100]);
    d = pool.evaluate(states(false, false, false, false), 2);
    assert.deepEqual([d.quorum, d.quorumChanged, d.weights.get(SORRY_ID)], [false, true, 1]);
    // 200 alive is not yet quorum + hysteresis (300): the sorry server stays, the live ones wait at 0.
    d = pool.evaluate(states(true, true, false, false), 3);
    assert.deepEqual([d.quorum, d.weights.get(SORRY_ID), d.weights.get('d0')], [false, 1, 0]);
    d = pool.evaluate(states(true, true, true, false), 4);
    assert.deepEqual([d.quorum, d.quorumChanged, d.weights.get(SORRY_ID), d.weights.get('d0'), d.weights.get('d3')], [true, true, 0, 100, 0]);
  });

  it('keeps half the pool with a depool threshold of 0.5: 3 of 4 down -> 2 depooled, 1 refusal', () => {
    const pool = new Pool(policy({ depoolThreshold: 0.5 }));
    const d = pool.evaluate([member('a', false, 100, 1), member('b', false, 100, 2), member('c', false, 100, 3), member('d', true)], 10);
    assert.deepEqual([...d.weights], [['a', 0], ['b', 0], ['c', 100], ['d', 100]]);
    assert.deepEqual(d.newlyRefused, ['c']);
    // Still refused on the next evaluation, but counted once.
    assert.deepEqual(pool.evaluate([member('a', false, 100, 1), member('b', false, 100, 2), member('c', false, 100, 3), member('d', true)], 11).newlyRefused, []);
    // 'a' recovers: now 'c' can go.
    const after = pool.evaluate([member('a', true, 100, 12), member('b', false, 100, 2), member('c', false, 100, 3), member('d', true)], 12);
    assert.deepEqual([...after.weights], [['a', 100], ['b', 0], ['c', 0], ['d', 100]]);
  });
});
