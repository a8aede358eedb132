// Deleting everything a reconciler owns, from its model (no read of the
// table): one flush when it owns the whole table, else one delete per owned
// service. A service's delete takes its destinations with it, so nothing is
// planned per destination; no Planned operations are made (for 20,000
// services, making and recording them was two thirds of deleteAll()'s
// time); and the deletes themselves are made by the addon from the model's
// fingerprint table, whose ids name the owned services (JSON.stringify and
// parse of 20,000 requests were a third of what was left). Each service's
// result comes straight from the model's entry, made when the caller first
// reads the result's plan or changes. A rollback needs the
// general path (each delete's prior, to re-create it): the reconciler keeps
// runPlan() for it.
import type { RawFailure, RawFingerprints, RawRequest, RawServiceEntry, RawServiceKey } from '../addon';
import { Command } from '../constants';
import { keyOfEntry, rawKeyOfEntry } from '../convert';
import { failureError } from '../errors';
import type { PlanAccess } from '../handle';
import { serviceKeyOf } from '../listing';
import { APPLIED, isFailure, type Outcome } from '../queue';
import { Slicer } from '../slices';
import { NO_CHANGES, type ApplyResult, type ChangeResult, type Operation } from './operations';
import { isFailureStatus, statusOf } from './run';

/** The owned services: the model's entries by service id. */
export type Owned = ReadonlyMap<string, RawServiceEntry>;

export interface Teardown {
  result: ApplyResult;
  /** Deleted: out of the model now. */
  removed: string[];
  /** Not known to be deleted ('already', unknown, unsent): read back at once. */
  unsure: Map<string, RawServiceKey>;
  /** Refused by the kernel: read back before the next send. */
  refused: Map<string, RawServiceKey>;
}

export interface TeardownOptions {
  dryRun: boolean;
  onError: 'continue' | 'stop';
  strict: boolean;
}

/** What statusOf() needs to know of each operation here: a service delete. */
const DELETE_SERVICE: Operation = { operation: 'deleteService', service: { fwmark: 1 } };

/**
 * One delete per owned service; then each one's result. With onError
 * 'continue', the addon makes the deletes from `fingerprints` (the model's,
 * named by the same ids) on its worker thread; with 'stop', they are sent
 * from JavaScript in slices, so that a failure stops the rest.
 */
export async function deleteOwned(access: PlanAccess, owned: Owned, fingerprints: RawFingerprints, options: TeardownOptions): Promise<Teardown> {
  if (options.dryRun || owned.size === 0) return reportDeletes(access, owned, undefined);
  if (options.onError === 'continue' && fingerprints.size === owned.size) {
    const failures = await access.deleteServices(fingerprints);
    return reportDeletes(access, owned, failures.size === 0 ? APPLIED : (_, id) => failures.get(id) ?? APPLIED);
  }
  const entries = [...owned.values()];
  // Made a slice at a time as they are sent (queue.ts Requests).
  const requests = {
    length: entries.length,
    slice(start: number, end: number): RawRequest[] {
      const out: RawRequest[] = [];
      for (let i = start; i < end && i < entries.length; i++) out.push({ command: Command.IPVS_CMD_DEL_SERVICE, service: rawKeyOfEntry(entries[i]), keyOnly: true });
      return out;
    },
  };
  const stopOn = options.onError === 'stop' ? (failure: RawFailure) => isFailureStatus(statusOf(DELETE_SERVICE, failure), options.strict) : undefined;
  const outcomes = await access.send(requests, { stopOn });
  return reportDeletes(access, owned, (i) => outcomes[i]);
}

/** One flush for a reconciler that owns the whole table; each owned service reported deleted. */
export async function flushOwned(access: PlanAccess, owned: Owned, dryRun: boolean): Promise<Teardown> {
  if (dryRun) return reportDeletes(access, owned, undefined);
  const [outcome] = await access.send([{ command: Command.IPVS_CMD_FLUSH }], {});
  if (isFailure(outcome)) throw failureError(outcome, { operation: 'flush', object: '' });
  return reportDeletes(access, owned, APPLIED);
}

/**
 * Each service's operation and result, by the outcome of its delete: one
 * for all (a flush, or no failure), or each its own; undefined: not sent (a
 * dry run). The statuses, counts and what to read back are found now; the
 * per-service report (`plan` and `changes`, two objects per service) is
 * made when first read: for 20,000 services making it was about 0.25 s of
 * a 0.55 s flush under emulation, and a caller that checks the counts
 * never reads it.
 */
async function reportDeletes(access: PlanAccess, owned: Owned, outcomes: Outcome | ((index: number, id: string) => Outcome) | undefined): Promise<Teardown> {
  const counts = { ...NO_CHANGES };
  const unsure = new Map<string, RawServiceKey>();
  const refused = new Map<string, RawServiceKey>();
  // Two flat arrays (made by the engine's own Map iteration) walked by index: faster than iterating the map's entries.
  const ids = [...owned.keys()];
  const entries = [...owned.values()];
  // The results that are not the common one (applied, or skipped in a dry run), by index.
  const uncommon = new Map<number, ChangeResult>();
  let removed: string[];
  if (outcomes === APPLIED) {
    removed = ids;
    counts.applied = ids.length;
  } else if (outcomes === undefined) {
    removed = [];
    counts.skipped = ids.length;
  } else {
    removed = [];
    const slicer = new Slicer();
    for (let i = 0; i < ids.length; i++) {
      const outcome = typeof outcomes === 'function' ? outcomes(i, ids[i]) : outcomes;
      if (outcome === APPLIED) {
        removed.push(ids[i]);
        continue;
      }
      const status = statusOf(DELETE_SERVICE, outcome);
      if (status === 'applied') {
        removed.push(ids[i]);
        continue;
      }
      counts[status]++;
      const operation: Operation = { operation: 'deleteService', service: serviceKeyOf(entries[i]) };
      if (status === 'skipped') uncommon.set(i, { operation, status });
      else {
        const key = keyOfEntry(entries[i], ids[i]);
        uncommon.set(i, { operation, status, error: failureError(outcome as RawFailure, access.describeCall('deleteService', key)) });
        (status === 'failed' ? refused : unsure).set(ids[i], key.key);
      }
      if (slicer.due()) await slicer.pause();
    }
    counts.applied = removed.length;
  }
  const common = outcomes === undefined ? 'skipped' : 'applied';
  let made: { plan: Operation[]; changes: ChangeResult[] } | undefined;
  const make = () => {
    if (made !== undefined) return made;
    const plan: Operation[] = new Array(entries.length);
    const changes: ChangeResult[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const change = uncommon.get(i) ?? { operation: { operation: 'deleteService', service: serviceKeyOf(entries[i]) }, status: common };
      plan[i] = change.operation;
      changes[i] = change;
    }
    return (made = { plan, changes });
  };
  const result = { counts, draining: [] } as unknown as ApplyResult;
  // Enumerable getters (JSON.stringify and a spread see them), each replaced by its value when first read.
  for (const field of ['plan', 'changes'] as const)
    Object.defineProperty(result, field, {
      enumerable: true,
      configurable: true,
      get() {
        const value = make()[field];
        Object.defineProperty(result, field, { value, enumerable: true, configurable: true, writable: true });
        return value;
      },
      set(value: unknown) {
        Object.defineProperty(result, field, { value, enumerable: true, configurable: true, writable: true });
      },
    });
  return { result, removed, unsure, refused };
}
