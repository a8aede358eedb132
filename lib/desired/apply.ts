// apply(): makes the table equal a desired state, sending only what differs,
// as one packed batch in a safe order (see plan.ts); batch(): sends the
// operations of a plan. Both run as one job in the handle's call order and
// report every operation (see run.ts).
import { settleBroken, toDestination, toDestinationKey, toService, toServiceKey, type Broken } from '../convert';
import type { PlanAccess } from '../handle';
import { mapSliced } from '../slices';
import type { DesiredService, DestinationSpec } from '../types';
import { describe, expectObject, expectOneOf } from '../validate';
import type { DrainClock } from './drain-clock';
import { ApplyOptions, ApplyResult, BatchOptions, BatchResult, ChangeResult, NO_CHANGES, Operation, Planned } from './operations';
import { byServiceId, checkDesired, checkOptions, diff, operationsOf } from './plan';
import { fillPrior, readServices, runPlan } from './run';

/**
 * Takes its place among the handle's calls when called: the read of the
 * table, the plan and the send (and a rollback) run as one job, after every
 * call made before and before every call made after, so no call of this
 * handle lands between the read and the send. Validation starts at once (in
 * slices, while earlier calls run) and nothing is read or sent if it fails.
 * `clock`: the handle's drain clock, used when the options give none.
 */
export function apply(access: PlanAccess, desired: readonly DesiredService[], options: ApplyOptions, clock: DrainClock): Promise<ApplyResult> {
  const opts = checkOptions(options, true);
  if (!Array.isArray(desired)) throw new TypeError(`Expected an array of services for desired but received ${describe(desired)}`);
  const checking = checkDesired(access, desired);
  checking.catch(() => undefined); // a closed handle refuses the job before it awaits this
  return access.job({ operation: 'apply', object: '' }, async () => {
    const { wanted, broken } = await checking;
    const current = await byServiceId(await access.readTable());
    settleBroken(broken, (id) => current.get(id));
    const plan = await diff(wanted, current, opts, opts.drain?.clock ?? clock);
    const operations = await operationsOf(plan.planned);
    if (opts.dryRun) {
      const changes = await mapSliced(operations, (operation): ChangeResult => ({ operation, status: 'skipped' }));
      return { plan: operations, changes, counts: { ...NO_CHANGES, skipped: changes.length }, draining: plan.draining };
    }
    const result = await runPlan(access, plan.planned, opts);
    return { plan: operations, ...result, draining: plan.draining };
  });
}

const OPERATIONS = ['addService', 'editService', 'deleteService', 'addDestination', 'editDestination', 'drainDestination', 'deleteDestination'] as const;

/** One operation of a batch, checked. `before` fields describe the kernel's state: checked for shape, not held to the library's rules. */
function toPlanned(access: PlanAccess, value: unknown, name: string, broken: Broken): Planned {
  const op = expectObject(value, name) as Operation;
  const kind = expectOneOf(op.operation, `${name}.operation`, OPERATIONS);
  switch (kind) {
    case 'addService':
      return new Planned(op, toService(op.service, `${name}.service`, broken));
    case 'editService': {
      const o = op as Extract<Operation, { operation: 'editService' }>;
      if (o.before !== undefined) toService(o.before, `${name}.before`, []);
      return new Planned(op, toService(o.service, `${name}.service`, broken));
    }
    case 'deleteService':
      return new Planned(op, toServiceKey(op.service, `${name}.service`));
    default: {
      const o = op as Extract<Operation, { destination: DestinationSpec }>;
      const s = toServiceKey(o.service, `${name}.service`);
      if (kind === 'deleteDestination') return new Planned(op, s, toDestinationKey(o.destination, s, `${name}.destination`));
      const d = toDestination(o.destination, s, `${name}.destination`, broken);
      access.requireFeatures(d, s, access.describeCall(kind, s, undefined, d.name));
      const before = (o as { before?: DestinationSpec }).before;
      if (before !== undefined) toDestination(before, s, `${name}.before`, []);
      return new Planned(op, s, d);
    }
  }
}

/**
 * Checks every operation at once; then, in call order as one job (see
 * apply()), reads what it needs (what a rollback restores; the services an
 * operation breaking a rule of the library's touches) and sends.
 */
export function batch(access: PlanAccess, operations: readonly Operation[], options: BatchOptions): Promise<BatchResult> {
  const opts = checkOptions(options, false);
  if (!Array.isArray(operations)) throw new TypeError(`Expected an array of operations but received ${describe(operations)}`);
  const broken: Broken = [];
  const plan = operations.map((op, i) => toPlanned(access, op, `operations[${i}]`, broken));
  return access.job({ operation: 'batch', object: '' }, async () => {
    if (broken.length > 0) {
      const touched = await readServices(access, plan.filter((p) => broken.some((b) => b.service.id === p.service.id)));
      settleBroken(broken, (id) => touched.get(id));
    }
    if (opts.onError === 'rollback') await fillPrior(access, plan);
    return runPlan(access, plan, opts);
  });
}
