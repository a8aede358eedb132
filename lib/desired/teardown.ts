// Deleting everything a reconciler owns, from its model (no read of the
// table): one flush when it owns the whole table, else one delete per owned
// service. A service's delete takes its destinations with it, so nothing is
// planned per destination; no Planned operations are made (for 20,000
// services, making and recording them was two thirds of deleteAll()'s
// time); and the deletes themselves are made by the addon from the model's
// fingerprint table, whose ids name the owned services (JSON.stringify and
// parse of 20,000 requests were a third of what was left). Each service's
// result comes straight from the model's entry. A rollback needs the
// general path (each delete's prior, to re-create it): the reconciler keeps
// runPlan() for it.
import type { RawFailure, RawFingerprints, RawRequest, RawServiceEntry, RawServiceKey } from '../addon';
import { Command } from '../constants';
import { keyOfEntry, rawKeyOfEntry } from '../convert';
import { failureError } from '../errors';
import type { PlanAccess } from '../handle';
import { serviceKeyOf } from '../listing';
import { APPLIED, isFailure, type Outcome } from '../queue';
import { forEachSliced } from '../slices';
import { NO_CHANGES, type ApplyResult, type ChangeResult, type Operation } from './operations';
import { isFailureStatus, statusOf } from './run';

/** An owned service: its id and the model's entry. */
export type OwnedEntry = readonly [id: string, entry: RawServiceEntry];

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
 * 'continue', the addon makes the deletes from `owned` (the model's
 * fingerprints, named by the same ids) on its worker thread; with 'stop',
 * they are sent from JavaScript in slices, so that a failure stops the rest.
 */
export async function deleteOwned(access: PlanAccess, entries: readonly OwnedEntry[], owned: RawFingerprints, options: TeardownOptions): Promise<Teardown> {
  if (options.dryRun || entries.length === 0) return reportDeletes(access, entries, () => undefined);
  if (options.onError === 'continue' && owned.size === entries.length) {
    const failures = await access.deleteServices(owned);
    return reportDeletes(access, entries, (_, id) => failures.get(id) ?? APPLIED);
  }
  // Made a slice at a time as they are sent (queue.ts Requests).
  const requests = {
    length: entries.length,
    slice(start: number, end: number): RawRequest[] {
      const out: RawRequest[] = [];
      for (let i = start; i < end && i < entries.length; i++) out.push({ command: Command.IPVS_CMD_DEL_SERVICE, service: rawKeyOfEntry(entries[i][1]), keyOnly: true });
      return out;
    },
  };
  const stopOn = options.onError === 'stop' ? (failure: RawFailure) => isFailureStatus(statusOf(DELETE_SERVICE, failure), options.strict) : undefined;
  const outcomes = await access.send(requests, { stopOn });
  return reportDeletes(access, entries, (i) => outcomes[i]);
}

/** One flush for a reconciler that owns the whole table; each owned service reported deleted. */
export async function flushOwned(access: PlanAccess, entries: readonly OwnedEntry[], dryRun: boolean): Promise<Teardown> {
  if (dryRun) return reportDeletes(access, entries, () => undefined);
  const [outcome] = await access.send([{ command: Command.IPVS_CMD_FLUSH }], {});
  if (isFailure(outcome)) throw failureError(outcome, { operation: 'flush', object: '' });
  return reportDeletes(access, entries, () => APPLIED);
}

/**
 * Each service's operation and result, by the outcome of its delete
 * (undefined: not sent, a dry run). Most outcomes are the one APPLIED
 * object: those take the short way (two objects per service; for 20,000
 * services they are most of a teardown's JavaScript).
 */
async function reportDeletes(access: PlanAccess, entries: readonly OwnedEntry[], outcomeOf: (index: number, id: string) => Outcome | undefined): Promise<Teardown> {
  const plan: Operation[] = new Array(entries.length);
  const changes: ChangeResult[] = new Array(entries.length);
  const counts = { ...NO_CHANGES };
  const removed: string[] = [];
  const unsure = new Map<string, RawServiceKey>();
  const refused = new Map<string, RawServiceKey>();
  await forEachSliced(entries, (owned, i) => {
    const entry = owned[1];
    const operation: Operation = { operation: 'deleteService', service: serviceKeyOf(entry) };
    plan[i] = operation;
    const outcome = outcomeOf(i, owned[0]);
    const status = outcome === APPLIED ? 'applied' : outcome === undefined ? 'skipped' : statusOf(operation, outcome);
    if (status === 'applied') {
      removed.push(owned[0]);
      changes[i] = { operation, status };
      return;
    }
    counts[status]++;
    if (status === 'skipped') {
      changes[i] = { operation, status };
      return;
    }
    const key = keyOfEntry(entry, owned[0]);
    changes[i] = { operation, status, error: failureError(outcome as RawFailure, access.describeCall('deleteService', key)) };
    (status === 'failed' ? refused : unsure).set(owned[0], key.key);
  });
  counts.applied += removed.length;
  return { result: { plan, changes, counts, draining: [] }, removed, unsure, refused };
}
