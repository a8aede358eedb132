// plan.ts diff() with a Scope (the reconciler's changes by key): a service
// whose model equals its old desired state, changed by key, gets the same
// operations from a diff of the touched destinations alone as from a diff of
// the whole service. Planning only (no kernel): the model is filled by
// TableModel.record() from a plan made against an empty table.
import assert from 'assert/strict';
import fc from 'fast-check';
import type { RawServiceEntry } from '../../lib/addon';
import { toDestination, toDestinationKey } from '../../lib/convert';
import { DrainClock } from '../../lib/desired/drain-clock';
import { TableModel } from '../../lib/desired/model';
import type { ChangeResult } from '../../lib/desired/operations';
import { checkOptions, checkService, destinationAt, destinationIndex, diff, type CheckedDesired, type Plan, type Wanted } from '../../lib/desired/plan';
import type { PlanAccess } from '../../lib/handle';
import type { DesiredService, DestinationSpec } from '../../lib/types';

/** No tunnels and no other family here: checkService() never needs the handle. */
const NO_ACCESS = {} as PlanAccess;

const service = (i: number, weights: number[]): DesiredService => ({
  protocol: 'tcp',
  address: `198.18.0.${i + 1}`,
  port: 80,
  scheduler: 'rr',
  destinations: weights.map((weight, j) => ({ address: `198.19.${j}.${i + 1}`, port: 8080, forwarding: 'masq', weight })),
});

function check(desired: DesiredService[]): CheckedDesired {
  const into: CheckedDesired = { wanted: new Map(), broken: [] };
  desired.forEach((s, i) => checkService(NO_ACCESS, s, `desired[${i}]`, into));
  return into;
}

/** A model holding `desired` as the kernel would after applying it (connection counts as given, by destination address). */
async function modelOf(desired: DesiredService[], connections: Map<string, number> = new Map()): Promise<Map<string, RawServiceEntry>> {
  const plan = await diff(check(desired).wanted, new Map(), checkOptions({}, true), new DrainClock());
  const model = new TableModel();
  await model.record(plan.planned, plan.planned.map((p): ChangeResult => ({ operation: p.operation, status: 'applied' })));
  for (const entry of model.services.values())
    for (const d of entry.destinations ?? []) d.activeConnections = connections.get(`${entry.address} ${d.address}`) ?? 0;
  return model.services;
}

type Change = { kind: 'weight' | 'add' | 'delete'; service: number; destination: number; weight: number };

/** The changes by key laid over a checked desired state, as Reconciler.setDestination/deleteDestination do; the scope they make. */
function changeByKey(into: CheckedDesired, changes: Change[]): Map<string, Array<{ address: string; port: number }>> {
  const scope = new Map<string, Array<{ address: string; port: number }>>();
  for (const c of changes) {
    const w = [...into.wanted.values()][c.service];
    const spec: DestinationSpec = { address: `198.19.${c.destination}.${c.service + 1}`, port: 8080, forwarding: 'masq', weight: c.weight };
    const d = c.kind === 'delete' ? toDestinationKey(spec, w.s) : toDestination(spec, w.s, 'destination', []);
    const at = destinationAt(w, d.address, d.port);
    const specs = w.specs.slice();
    const checked = w.checked.slice();
    if (c.kind === 'delete') {
      if (at === undefined) continue;
      specs.splice(at, 1);
      checked.splice(at, 1);
    } else if (at === undefined) {
      specs.push(spec);
      checked.push(d as typeof checked[number]);
    } else {
      specs[at] = spec;
      checked[at] = d as typeof checked[number];
    }
    const next: Wanted = { spec: w.spec, s: w.s, specs, checked, ids: destinationIndex(checked) };
    into.wanted.set(w.s.id, next);
    const list = scope.get(w.s.id) ?? [];
    if (!list.some((x) => x.address === d.address && x.port === d.port)) list.push({ address: d.address, port: d.port });
    scope.set(w.s.id, list);
  }
  return scope;
}

/** A plan as comparable text: its operations (sorted: a scope lists destinations in the order they were touched), removed and draining. */
function comparable(plan: Plan): unknown {
  const sorted = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
  return {
    operations: sorted(plan.planned.map((p) => [p.operation, p.prior ?? null])),
    // The order of the kinds of operations (adds and edits of destinations are one kind: each service's in the order given).
    kinds: plan.planned.map((p) => (p.operation.operation === 'editDestination' ? 'addDestination' : p.operation.operation)),
    removed: plan.removed,
    draining: sorted(plan.draining.map((d) => ({ ...d, since: 0 }))),
  };
}

describe('unit: diff() of the destinations changed by key (Scope)', () => {
  it('plans what a diff of the whole service plans, drains included', async () => {
    const arbitrary = fc.record({
      weights: fc.array(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 6 }), { minLength: 1, maxLength: 5 }),
      changes: fc.array(
        fc.record({ kind: fc.constantFrom('weight', 'add', 'delete'), service: fc.nat(), destination: fc.integer({ min: 0, max: 7 }), weight: fc.integer({ min: 0, max: 5 }) }),
        { maxLength: 12 },
      ),
      drain: fc.boolean(),
      busy: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ weights, changes, drain, busy }) => {
        const desired = weights.map((w, i) => service(i, w));
        // Some destinations hold connections, so that a drain of theirs is still draining.
        const connections = new Map<string, number>();
        if (busy) desired.forEach((s) => s.destinations!.forEach((d, j) => j % 2 === 0 && connections.set(`${s.address} ${d.address}`, 3)));
        const current = await modelOf(desired, connections);
        const into = check(desired);
        const scope = changeByKey(into, changes.map((c) => ({ ...c, service: c.service % desired.length })) as Change[]);
        const wanted = new Map([...into.wanted].filter(([id]) => scope.has(id)));
        const opts = { ...checkOptions(drain ? { drain: true } : {}, true), prune: () => true };
        const wholeClock = new DrainClock();
        const whole = await diff(wanted, current, opts, wholeClock);
        const clock = new DrainClock();
        const scoped = await diff(wanted, current, opts, clock, scope);
        assert.deepEqual(comparable(scoped), comparable(whole));
        // The same drains on the clock.
        assert.deepEqual(Object.keys(clock.toJSON().starts).sort(), Object.keys(wholeClock.toJSON().starts).sort());
      }),
      { numRuns: 300 },
    );
  });

  it("leaves the service's other destinations alone: another's drain is neither reported, deleted nor forgotten", async () => {
    const desired = [service(0, [1, 1, 1])];
    const current = await modelOf(desired);
    const id = [...current.keys()][0];
    // The third destination was drained earlier (weight 0 in the kernel, its clock running) and holds no connection now.
    const drained = current.get(id)!.destinations![2];
    drained.weight = 0;
    const clock = new DrainClock();
    clock.start(id, `${drained.address} ${drained.port}`, Date.now() - 1000);
    const into = check([service(0, [1, 1])]);
    const scope = changeByKey(into, [{ kind: 'weight', service: 0, destination: 0, weight: 4 }]);
    const opts = { ...checkOptions({ drain: true }, true), prune: () => true };
    const scoped = await diff(into.wanted, current, opts, clock, scope);
    assert.deepEqual(
      scoped.planned.map((p) => [p.operation.operation, p.destination?.address, p.destination?.weight]),
      [['editDestination', '198.19.0.1', 4]],
    );
    assert.deepEqual(scoped.draining, []);
    assert.equal(clock.size, 1, 'the drain is still on the clock');
    // A diff of the whole service deletes it (no connection left).
    const whole = await diff(into.wanted, current, opts, clock);
    assert.deepEqual(
      whole.planned.map((p) => p.operation.operation),
      ['editDestination', 'deleteDestination'],
    );
  });

  it('forgets the drain of a destination wanted again by key', async () => {
    const desired = [service(0, [1, 1])];
    const current = await modelOf(desired);
    const id = [...current.keys()][0];
    const d = current.get(id)!.destinations![1];
    d.weight = 0;
    const clock = new DrainClock();
    clock.start(id, `${d.address} ${d.port}`, Date.now());
    const into = check([service(0, [1])]);
    const scope = changeByKey(into, [{ kind: 'add', service: 0, destination: 1, weight: 2 }]);
    const plan = await diff(into.wanted, current, { ...checkOptions({ drain: true }, true), prune: () => true }, clock, scope);
    assert.deepEqual(plan.planned.map((p) => [p.operation.operation, p.destination?.weight]), [['editDestination', 2]]);
    assert.equal(clock.size, 0);
  });
});
