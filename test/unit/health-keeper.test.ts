// updateOverrides(): what goes with a new document besides the desired state
// (used by HealthKeeper.update() and the fleet agent). Pure: no kernel.
import assert from 'assert/strict';
import { splitHealth } from '../../lib/health';
import { updateOverrides } from '../../lib/health/keeper';

const check = { type: 'tcp', interval: 1 };
const other = { type: 'tcp', interval: 2 };
const health = (destinations: unknown[], extra: Record<string, unknown> = {}) =>
  splitHealth([{ protocol: 'tcp', address: '198.18.0.10', port: 80, ...extra, destinations }]).health[0];
const table = [{ protocol: 'tcp' as const, address: '198.18.0.10', port: 80, destinations: [{ address: '198.19.0.1', port: 80, weight: 0 }, { address: '198.19.0.2', port: 80, weight: 5 }] }];
const rows = (changes: ReturnType<typeof updateOverrides>) => changes.map((c) => [c.destination.address, c.override]);

describe('unit: health keeper updates (updateOverrides)', () => {
  it('leaves unchanged checks alone: their overrides are the monitor\'s', () => {
    const h = health([{ address: '198.19.0.1', weight: 5, check }, { address: '198.19.0.2', weight: 5, check }]);
    assert.deepEqual(updateOverrides([{ before: h, after: h }], table), []);
  });

  it('starts a new or changed check as the table holds its destination, an absent one at 0', () => {
    const before = health([{ address: '198.19.0.1', weight: 5 }, { address: '198.19.0.2', weight: 5, check }]);
    const after = health([{ address: '198.19.0.1', weight: 5, check }, { address: '198.19.0.2', weight: 5, check: other }, { address: '198.19.0.3', weight: 5, check }]);
    assert.deepEqual(rows(updateOverrides([{ before, after }], table)), [
      ['198.19.0.1', { weight: 0 }], // held at the table's 0 until its check says up
      ['198.19.0.3', { weight: 0 }], // absent: in at 0
    ]);
    const remove = health([{ address: '198.19.0.3', weight: 5, check }], { health: { onFailure: 'remove' } });
    assert.deepEqual(rows(updateOverrides([{ before: undefined, after: remove }], table)), [['198.19.0.3', { remove: true }]]);
  });

  it('releases the destinations that lose their check or leave, and a service that loses its health', () => {
    const before = health([{ address: '198.19.0.1', weight: 5, check }, { address: '198.19.0.2', weight: 5, check }, { address: '198.19.0.4', weight: 5, check }]);
    const after = health([{ address: '198.19.0.1', weight: 5, check: null }, { address: '198.19.0.2', weight: 5, check }]);
    assert.deepEqual(rows(updateOverrides([{ before, after }], table)), [['198.19.0.1', null], ['198.19.0.4', null]]);
    assert.deepEqual(rows(updateOverrides([{ before: after, after: undefined }], table)), [['198.19.0.2', null]]);
  });
});
