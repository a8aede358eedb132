// addon.Fingerprints.update(): many changes in one call into the addon (the
// reconciler's model hands each send's changes over at once). No kernel is
// involved: the table is the addon's own.
import assert from 'assert/strict';
import { addon } from '../../lib/addon';
import { toDestination, toService, destinationOfEntry } from '../../lib/convert';
import { TableModel } from '../../lib/desired/model';
import { Planned, type ChangeResult } from '../../lib/desired/operations';
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

  it("record(): destinations added, changed (tunnel ones too) and deleted keep each service's fingerprint equal to one made afresh", async () => {
    const model = new TableModel();
    const spec = { protocol: 'tcp' as const, address: '198.18.0.7', port: 80, scheduler: 'rr' };
    const s = toService(spec);
    model.set(s.id, entry(7, 1));
    const dest = (address: string, extra: object) => toDestination({ address, port: 8080, ...extra }, s);
    const steps: Array<[Planned['operation']['operation'], ReturnType<typeof dest>]> = [
      ['editDestination', dest('198.19.1.7', { forwarding: 'masq', weight: 5 })],
      ['addDestination', dest('198.19.3.7', { port: 80, forwarding: 'tunnel', weight: 2, tunnel: { type: 'gue', port: 6080 } })],
      ['editDestination', dest('198.19.3.7', { port: 80, forwarding: 'tunnel', weight: 4, tunnel: { type: 'gre', checksum: 'checksum' } })],
      ['deleteDestination', dest('198.19.2.7', { forwarding: 'masq' })],
      ['addDestination', dest('198.19.4.7', { port: 80, forwarding: 'route', weight: 0, upperThreshold: 9 })],
      ['deleteDestination', dest('198.19.3.7', { port: 80, forwarding: 'masq' })],
    ];
    for (const [operation, d] of steps) {
      const p = new Planned({ operation, service: spec, destination: { address: d.address, port: d.port } } as Planned['operation'], s, d);
      await model.record([p], [{ operation: p.operation, status: 'applied' } as ChangeResult]);
      const e = model.services.get(s.id)!;
      assert.equal(model.fingerprints.get(s.id), fingerprint(e, e.destinations!.map(destinationOfEntry)), `after ${operation} ${d.address}`);
    }
    assert.deepEqual(model.services.get(s.id)!.destinations!.map((d) => [d.address, d.weight]), [['198.19.1.7', 5], ['198.19.4.7', 0]]);
    // The service edited and deleted: its fingerprint follows.
    const edited = toService({ ...spec, scheduler: 'wlc' });
    await model.record([new Planned({ operation: 'editService', service: { ...spec, scheduler: 'wlc' } }, edited)], [{ operation: { operation: 'editService', service: spec }, status: 'applied' }]);
    const e = model.services.get(s.id)!;
    assert.equal(model.fingerprints.get(s.id), fingerprint(e, e.destinations!.map(destinationOfEntry)));
    await model.record([new Planned({ operation: 'deleteService', service: spec }, s)], [{ operation: { operation: 'deleteService', service: spec }, status: 'applied' }]);
    assert.equal(model.fingerprints.get(s.id), undefined);
  });
});
