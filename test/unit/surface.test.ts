// The public surface: every handle operation has its top-level twin, and
// messages describe values without running the caller's code.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { toService, toServiceKey, toDaemon } from '../../lib/convert';
import { describe as show } from '../../lib/validate';

const INTERNAL = new Set(['constructor', 'close', 'describeCall', 'requireFeatures', 'change', 'job', 'ensureOpen']);

/** The methods of a class and of the classes it extends. */
function methodsOf(prototype: object): string[] {
  const names: string[] = [];
  for (let p = prototype; p !== Object.prototype; p = Object.getPrototypeOf(p)) names.push(...Object.getOwnPropertyNames(p));
  return names;
}

describe('unit: public surface', () => {
  it('every IpvsHandle method has a top-level twin on the default handle', () => {
    const methods = methodsOf(ipvs.IpvsHandle.prototype).filter((m) => !INTERNAL.has(m));
    assert.ok(methods.length >= 20, methods.join(','));
    const missing = methods.filter((m) => typeof (ipvs as Record<string, unknown>)[m] !== 'function');
    assert.deepEqual(missing, []);
    assert.equal(typeof ipvs.listServices, 'function');
    assert.equal(typeof ipvs.closeDefaultHandle, 'function');
  });

  it('describes values without calling their hooks, briefly, whatever their type', () => {
    let called = false;
    const hostile = { toJSON: () => { called = true; }, toString: () => { called = true; return ''; }, [Symbol.for('nodejs.util.inspect.custom')]: () => { called = true; } };
    assert.throws(() => toServiceKey(hostile), /Unknown property 'toJSON' in service/);
    assert.throws(() => toService({ protocol: 'tcp', address: hostile, port: 80 }), /but received an object/);
    assert.equal(called, false);
    assert.equal(show(10n), '10n');
    assert.equal(show(Symbol('x')), 'a symbol');
    assert.match(show('x'.repeat(1 << 20)), /\.\.\. \(1048576 characters\)$/);
    assert.ok(show('x'.repeat(1 << 20)).length < 100);
    assert.throws(() => toService({ protocol: 'tcp', address: '1.1.1.1', port: 80, persistence: { timeout: 1, netmask: 24n } }), /persistence\.netmask but received 24n/);
    assert.throws(() => toServiceKey({ fwmark: 7, family: Symbol('ipv6') }), /service\.family but received a symbol/);
  });

  it('fwmark 0 is blamed on fwmark, and a scheduler named __proto__ is just unknown', () => {
    assert.throws(() => toServiceKey({ fwmark: 0 }), /service\.fwmark but received 0/);
    assert.equal(new ipvs.KernelFeatures('6.1.0').schedulerHint('__proto__'), '');
    assert.equal(new ipvs.KernelFeatures('6.1.0').schedulerHint('twos'), '; twos needs Linux 6.2 or later, this kernel is 6.1.0');
  });

  it('a sync daemon interface may have a dot (a VLAN), as the kernel allows', () => {
    assert.equal(toDaemon({ state: 'master', interface: 'd0.100' }).raw.interface, 'd0.100');
    assert.throws(() => toDaemon({ state: 'master', interface: 'a/b' }), RangeError);
    assert.throws(() => toDaemon({ state: 'master', interface: 'x'.repeat(16) }), RangeError);
  });
});
