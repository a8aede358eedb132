// DrainClock: its saved form round-trips, bad state is refused by name, and
// forgetting touches only the services covered.
import assert from 'assert/strict';
import { DrainClock } from '../../lib';

describe('unit: DrainClock', () => {
  it('round-trips through JSON and refuses a bad state naming it', () => {
    const clock = new DrainClock();
    clock.start('6 198.18.0.1 80', '198.18.1.1 80', 1000);
    clock.start('6 198.18.0.1 80', '198.18.1.2 80', 2000);
    clock.start('fwmark 7 2', '2001:db8::1 0', 3000);
    const again = DrainClock.from(JSON.parse(JSON.stringify(clock)));
    assert.equal(again.size, 3);
    assert.deepEqual(again.toJSON(), clock.toJSON());
    assert.equal(again.since('fwmark 7 2', '2001:db8::1 0'), 3000);
    assert.throws(() => DrainClock.from({ version: 2, starts: {} }), /state\.version/);
    assert.throws(() => DrainClock.from({ version: 1, starts: { 'a|b': -1 } }), /state\.starts\["a\|b"\]/);
    assert.throws(() => DrainClock.from({ version: 1, starts: { nobar: 1 } }), /a service and a destination/);
    assert.throws(() => DrainClock.from(null), TypeError);
  });

  it('forgets the drains of the covered services that are not still draining, and no others', () => {
    const clock = new DrainClock();
    clock.start('s1', 'd1', 1);
    clock.start('s1', 'd2', 2);
    clock.start('s2', 'd1', 3);
    clock.forgetService('s1', new Set(['d2']));
    assert.equal(clock.since('s1', 'd1'), undefined);
    assert.equal(clock.since('s1', 'd2'), 2);
    assert.equal(clock.since('s2', 'd1'), 3, 'a service not covered keeps its clocks');
    assert.equal(clock.size, 2);
    clock.forgetService('s1', undefined);
    clock.forgetService('s2', undefined);
    assert.equal(clock.size, 0);
    assert.deepEqual(clock.toJSON(), { version: 1, starts: {} });
  });
});
