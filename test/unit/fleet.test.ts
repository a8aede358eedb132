// The fleet's pure parts: the store's key layout, services checked without a
// kernel, a director's effective state (overrides, invalid values), and the
// deletion count that decides whether an update is held.
import assert from 'assert/strict';
import { checkStoredService, countDeletes, effectiveState, fleetMetrics, layout, type AgentStatus, type StoredService } from '../../lib/fleet';

const keys = layout('/ipvs');
const svc = (i: number, destinations: number[] = [1, 2]) => ({
  protocol: 'tcp', address: `198.18.0.${i}`, port: 80, scheduler: 'rr',
  destinations: destinations.map((j) => ({ address: `198.19.0.${j}`, forwarding: 'masq', weight: 1 })),
});
const text = (value: unknown) => JSON.stringify(value);
const byId = (list: StoredService[]) => new Map(list.map((s) => [s.id, s]));

describe('fleet: store layout and desired state', () => {
  it('names keys under the prefix and refuses bad prefixes and director names', () => {
    assert.equal(keys.services, '/ipvs/services/');
    assert.equal(keys.overrides('dir-1'), '/ipvs/directors/dir-1/services/');
    assert.equal(keys.statusOf('dir-1'), '/ipvs/status/dir-1');
    assert.throws(() => layout('ipvs'), /prefix but received "ipvs"/);
    assert.throws(() => layout('/ipvs/'), RangeError);
    assert.throws(() => keys.overrides('a/b'), /director but received "a\/b"/);
  });

  it('checks a service as apply() would, naming the field, health fields included', () => {
    const s = checkStoredService(svc(1), 'services[0]');
    assert.equal(s.name, 'tcp:198.18.0.1:80');
    assert.deepEqual(s.destinations, ['198.19.0.1 80', '198.19.0.2 80']);
    assert.equal(checkStoredService({ fwmark: 7, family: 'ipv6', scheduler: 'mh' }, 'x').name, 'fwmark:7:ipv6');
    assert.equal(checkStoredService({ protocol: 'udp', address: '2001:db8::1', port: 53 }, 'x').name, 'udp:[2001:db8::1]:53');
    assert.throws(() => checkStoredService({ ...svc(1), port: 70000 }, 'services[3]'), /for services\[3\]\.port but received 70000/);
    assert.throws(() => checkStoredService({ ...svc(1), check: { type: 'tcp', timeout: -1 } }, 'services[0]'), /services\[0\]\.check\.timeout/);
    const withCheck = checkStoredService({ ...svc(1), check: { type: 'tcp' } }, 'services[0]');
    assert.equal('check' in withCheck.service, false, 'health fields are not passed to the reconciler');
  });

  it("a director's state: shared services, its overrides on top (null removes one), an invalid value keeps the applied service", () => {
    const stored = new Map<string, string>([
      ['/ipvs/services/tcp:198.18.0.1:80', text(svc(1))],
      ['/ipvs/services/tcp:198.18.0.2:80', text(svc(2))],
      ['/ipvs/services/tcp:198.18.0.3:80', '{not json'],
      ['/ipvs/services/tcp:198.18.0.9:80', text(svc(4))],
      ['/ipvs/directors/a/services/tcp:198.18.0.2:80', 'null'],
      ['/ipvs/directors/a/services/tcp:198.18.0.1:80', text(svc(1, [5]))],
      ['/ipvs/directors/b/services/tcp:198.18.0.1:80', 'null'],
    ]);
    const applied3 = checkStoredService(svc(3), 'x');
    const a = effectiveState(keys, 'a', stored, undefined, (name) => (name === applied3.name ? applied3 : undefined));
    assert.deepEqual([...a.services.values()].map((s) => s.name).sort(), ['tcp:198.18.0.1:80', 'tcp:198.18.0.3:80']);
    assert.deepEqual(a.services.get(checkStoredService(svc(1), 'x').id)!.destinations, ['198.19.0.5 80']);
    assert.equal(a.invalid.length, 2);
    assert.match(a.invalid[0], /tcp:198.18.0.3:80: not JSON/);
    assert.match(a.invalid[1], /holds tcp:198.18.0.4:80, not tcp:198.18.0.9:80/);
    const b = effectiveState(keys, 'b', stored);
    assert.deepEqual([...b.services.values()].map((s) => s.name).sort(), ['tcp:198.18.0.2:80']);
  });

  it('counts what an update removes as apply() does: a service with its destinations, a destination leaving a kept service', () => {
    const before = byId([checkStoredService(svc(1, [1, 2, 3]), 'x'), checkStoredService(svc(2, [1, 2]), 'x'), checkStoredService(svc(3), 'x')]);
    const after = byId([checkStoredService(svc(1, [1]), 'x'), checkStoredService(svc(3), 'x'), checkStoredService(svc(4, [1, 2, 3]), 'x')]);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter((id) => before.get(id)?.text !== after.get(id)?.text);
    // service 1 loses 2 destinations; service 2 goes with its 2; service 4 is new.
    assert.equal(countDeletes(changed, before, after), 2 + 3);
  });

  it("an agent's status as Prometheus metrics: applied revision, lag, held, watch restarts, writes", () => {
    const status = {
      director: 'a"1', store: 'connected', storeRevision: 12, appliedRevision: 9, held: { revision: 12, deletes: 30, limit: 10 }, heldUpdates: 2, watchRestarts: 3,
      fullReads: 4, services: 20, counters: { sends: 5, operations: 60, verifies: 7, drifts: 1, readBacks: 0 },
    } as unknown as AgentStatus;
    const text = fleetMetrics(status);
    assert.match(text, /^ipvs_fleet_applied_revision\{director="a\\"1"\} 9$/m);
    assert.match(text, /^ipvs_fleet_lag_revisions\{director="a\\"1"\} 3$/m);
    assert.match(text, /^ipvs_fleet_update_held\{director="a\\"1"\} 1$/m);
    assert.match(text, /^# TYPE ipvs_fleet_watch_restarts_total counter\nipvs_fleet_watch_restarts_total\{director="a\\"1"\} 3$/m);
    assert.match(text, /^ipvs_fleet_operations_total\{director="a\\"1"\} 60$/m);
  });
});
