// Deleting everything a reconciler owns, from its model (no read of the
// table): one flush when it owns the whole table, else one delete per owned
// service, sent packed. A service's delete takes its destinations with it,
// so nothing is planned per destination; and no Planned operations are made
// (for 20,000 services, making them and recording them one by one was two
// thirds of deleteAll()'s time): each service's request and result come
// straight from the model's entry. A rollback needs the general path (each
// delete's prior, to re-create it): the reconciler keeps runPlan() for it.
import type { RawFailure, RawRequest, RawServiceEntry, RawServiceKey } from '../addon';
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

/** One delete per owned service, packed; then each one's result. */
export async function deleteOwned(access: PlanAccess, entries: readonly OwnedEntry[], options: TeardownOptions): Promise<Teardown> {
  let outcomes: Outcome[] | undefined;
  if (!options.dryRun && entries.length > 0) {
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
    outcomes = await access.send(requests, { stopOn });
  }
  return reportDeletes(access, entries, outcomes);
}

/** One flush for a reconciler that owns the whole table; each owned service reported deleted. */
export async function flushOwned(access: PlanAccess, entries: readonly OwnedEntry[], dryRun: boolean): Promise<Teardown> {
  if (dryRun) return reportDeletes(access, entries, undefined);
  const [outcome] = await access.send([{ command: Command.IPVS_CMD_FLUSH }], {});
  if (isFailure(outcome)) throw failureError(outcome, { operation: 'flush', object: '' });
  return reportDeletes(access, entries, APPLIED);
}

/**
 * Each service's operation and result: by its own outcome, or one outcome
 * for all (a flush), or none sent (a dry run: every one skipped).
 */
async function reportDeletes(access: PlanAccess, entries: readonly OwnedEntry[], outcomes: Outcome[] | Outcome | undefined): Promise<Teardown> {
  const plan: Operation[] = new Array(entries.length);
  const changes: ChangeResult[] = new Array(entries.length);
  const counts = { ...NO_CHANGES };
  const removed: string[] = [];
  const unsure = new Map<string, RawServiceKey>();
  const refused = new Map<string, RawServiceKey>();
  await forEachSliced(entries, ([id, entry], i) => {
    const operation: Operation = { operation: 'deleteService', service: serviceKeyOf(entry) };
    plan[i] = operation;
    const outcome = outcomes === undefined ? undefined : Array.isArray(outcomes) ? outcomes[i] : outcomes;
    const status = outcome === undefined ? 'skipped' : statusOf(operation, outcome);
    counts[status]++;
    if (status === 'applied') removed.push(id);
    if (status === 'applied' || status === 'skipped') {
      changes[i] = { operation, status };
      return;
    }
    const key = keyOfEntry(entry, id);
    changes[i] = { operation, status, error: failureError(outcome as RawFailure, access.describeCall('deleteService', key)) };
    (status === 'failed' ? refused : unsure).set(id, key.key);
  });
  return { result: { plan, changes, counts, draining: [] }, removed, unsure, refused };
}
