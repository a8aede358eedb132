// addon.Fingerprints.update(): many changes in one call into the addon (the
// reconciler's model hands each send's changes over at once). No kernel is
// involved: the table is the addon's own.
import assert from 'assert/strict';
import { addon } from '../../lib/addon';
import { TableModel } from '../../lib/desired/model';
import { fingerprint } from '../../lib/fingerprint';
import type { RawServiceEntry } from '../../lib/addon';

const A = '0123456789abcdef';
const B = 'fedcba9876543210';

function entry(i: number, weight: number): RawServiceEntry {
  const destinations = [1, 2].map((j) => ({
    address: `198.19.${j}.${i}`, family: 2, port: 8080, weight, forwarding: 0, upperThreshold: 0, lowerThreshold: 0, tunnel: null,
    activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: null,
  }));
  return { family: 2, protocol: 6, address: `198.18.0.${i}`, port: 80, fwmark: 0, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, persistenceEngine: '', stats: null, destinations };
}

describe('addon.Fingerprints.update()', () => {
  it('sets and deletes by lines, and says how many lines it took', () => {
    const f = new addon.Fingerprints();
    assert.equal(f.update(`6 198.18.0.1 80\t${A}\n6 198.18.0.2 80\t${B}`), 2);
    assert.equal(f.get('6 198.18.0.1 80'), A);
    assert.equal(f.get('6 198.18.0.2 80'), B);
    assert.equal(f.update(`6 198.18.0.1 80\t-\n6 198.18.0.2 80\t${A}\nfwmark 5 2\t${B}`), 3);
    assert.equal(f.get('6 198.18.0.1 80'), undefined);
    assert.equal(f.get('6 198.18.0.2 80'), A);
    assert.equal(f.get('fwmark 5 2'), B);
    assert.equal(f.size, 2);
    assert.equal(f.update(''), 0);
  });

  it('refuses a bad line with a TypeError naming it, and applies none of the lines', () => {
    const f = new addon.Fingerprints();
    f.set('6 198.18.0.1 80', A);
    for (const [text, line] of [[`6 198.18.0.2 80\t${B}\n6 198.18.0.1 80\txyz`, 2], [`\t${A}`, 1], ['no tab', 1], [`6 198.18.0.1 80\t${A}0`, 1]] as const)
      assert.throws(() => f.update(text), (e: Error) => e instanceof TypeError && e.message.includes(`line ${line} `), text);
    assert.throws(() => f.update(42 as unknown as string), TypeError);
    assert.equal(f.get('6 198.18.0.2 80'), undefined);
    assert.equal(f.get('6 198.18.0.1 80'), A);
    assert.equal(f.size, 1);
  });

  it("the model's fingerprints, batched, equal one set() per service", () => {
    const model = new TableModel();
    const expected = new addon.Fingerprints();
    for (let i = 1; i <= 5000; i++) model.set(`6 198.18.0.${i} 80`, entry(i, 1));
    for (let i = 1; i <= 5000; i += 7) model.set(`6 198.18.0.${i} 80`, null);
    for (let i = 2; i <= 5000; i += 7) model.set(`6 198.18.0.${i} 80`, entry(i, 3));
    for (const [id, e] of model.services) expected.set(id, fingerprint(e, e.destinations!.map((d) => ({ ...d, tunnel: undefined }))));
    const actual = model.fingerprints;
    assert.equal(actual.size, expected.size);
    for (const id of model.services.keys()) assert.equal(actual.get(id), expected.get(id), id);
    assert.equal(actual.get('6 198.18.0.1 80'), undefined);
  });
});
