// Running a plan: its operations sent packed, in slices, each reported; on
// onError 'rollback', what the plan did undone from what the kernel held
// before it. Used by apply(), batch() and the reconciler alike.
import type { RawDestination, RawDestinationEntry, RawFailure, RawRequest, RawService, RawServiceEntry } from '../addon';
import { Errno, FORWARDING_NUMBER, ServiceFlag } from '../constants';
import { destinationIn, serviceId } from '../convert';
import { errnoName, failureError } from '../errors';
import type { PlanAccess } from '../handle';
import { Outcome } from '../queue';
import { mapSliced } from '../slices';
import { BatchResult, ChangeCounts, ChangeResult, ChangeStatus, isAdd, isDelete, NO_CHANGES, Operation, Planned } from './operations';

export interface RunOptions {
  onError: 'continue' | 'stop' | 'rollback';
  strict: boolean;
  onProgress?: (done: number, total: number) => void;
}

// --- Comparing with the kernel -------------------------------------------------------

/** Whether the kernel's service has other settings than `want`. */
export function serviceDiffers(want: RawService, have: RawServiceEntry): boolean {
  if (want.scheduler !== have.scheduler || want.flags !== have.flags || want.persistenceEngine !== have.persistenceEngine) return true;
  // Timeout and netmask mean something only for a persistent service.
  return (want.flags & ServiceFlag.PERSISTENT) !== 0 && (want.timeout !== have.timeout || want.netmask !== have.netmask);
}

/** Whether the kernel's destination has other settings than `want`. */
export function destinationDiffers(want: RawDestination, have: RawDestinationEntry): boolean {
  if (want.weight !== have.weight || want.forwarding !== have.forwarding) return true;
  if (want.upperThreshold !== have.upperThreshold || want.lowerThreshold !== have.lowerThreshold) return true;
  if (want.forwarding !== FORWARDING_NUMBER.tunnel) return false;
  const t = have.tunnel;
  return (want.tunnelType ?? 0) !== (t?.type ?? 0) || (want.tunnelPort ?? 0) !== (t?.port ?? 0) || (want.tunnelFlags ?? 0) !== (t?.flags ?? 0);
}

// --- Outcomes -------------------------------------------------------------------------

/** The status of an operation by its request's outcome. */
export function statusOf(operation: Operation, outcome: Outcome): ChangeStatus {
  switch (outcome.outcome) {
    case 'applied':
      return 'applied';
    case 'notTried':
      return 'skipped';
    case 'unknown':
      return 'unknown';
    case 'unsent':
      return 'unsent';
    case 'refused':
      if (isAdd(operation) && outcome.errno === Errno.EEXIST) return 'already';
      if (isDelete(operation) && (outcome.errno === Errno.ESRCH || errnoName(outcome.errno) === 'ENOENT')) return 'already';
      return 'failed';
    default:
      return 'failed';
  }
}

/** Whether a status stops a plan (onError 'stop' / 'rollback') and calls for its rollback. */
export function isFailureStatus(status: ChangeStatus, strict: boolean): boolean {
  return status === 'failed' || status === 'unknown' || status === 'unsent' || (strict && status === 'already');
}

function resultOf(access: PlanAccess, p: Planned, outcome: Outcome): ChangeResult {
  const status = statusOf(p.operation, outcome);
  if (status === 'applied' || status === 'skipped') return { operation: p.operation, status };
  const call = access.describeCall(p.operation.operation, p.service, p.settings(), p.destination?.name);
  return { operation: p.operation, status, error: failureError(outcome as RawFailure, call) };
}

/** Sends the plan's requests (made a slice at a time), and reports each operation. */
async function send(access: PlanAccess, plan: Planned[], options: RunOptions): Promise<BatchResult> {
  // Each slice's requests are made as it is sent, not all 220,000 up front.
  const requests = {
    length: plan.length,
    slice(start: number, end: number): RawRequest[] {
      const out: RawRequest[] = [];
      for (let i = start; i < end && i < plan.length; i++) out.push(plan[i].request());
      return out;
    },
  };
  const stops = options.onError !== 'continue';
  const outcomes = await access.send(requests, {
    stopOn: stops ? (failure, index) => isFailureStatus(statusOf(plan[index].operation, failure), options.strict) : undefined,
    onProgress: options.onProgress && ((done) => options.onProgress!(done, plan.length)),
  });
  const counts: ChangeCounts = { ...NO_CHANGES };
  const changes = await mapSliced(plan, (p, i) => {
    const r = resultOf(access, p, outcomes[i]);
    counts[r.status]++;
    return r;
  });
  await markDiffering(access, plan, changes);
  return { changes, counts };
}

/**
 * Reads back the objects of 'already' adds (a service alone, or the whole
 * table when many), and marks those whose settings differ from the add's:
 * 'already' never hides a difference.
 */
async function markDiffering(access: PlanAccess, plan: Planned[], changes: ChangeResult[]): Promise<void> {
  const already: number[] = [];
  for (let i = 0; i < changes.length; i++) if (changes[i].status === 'already' && isAdd(changes[i].operation)) already.push(i);
  if (already.length === 0) return;
  const lookup = await readServices(access, already.map((i) => plan[i]));
  for (const i of already) {
    const p = plan[i];
    const have = lookup.get(p.service.id);
    if (have === undefined) continue; // gone again since: nothing to compare
    const differs =
      p.destination === undefined
        ? serviceDiffers(p.settings()!, have)
        : (() => {
            const hd = destinationIn(have, p.destination);
            return hd !== undefined && destinationDiffers(p.destination, hd);
          })();
    if (differs) changes[i].differs = true;
  }
}

/** Reading one service at a time stops paying past this many: then the table is read once. */
const READ_ONE_BY_ONE = 64;

/** The kernel's entries of the services the operations touch, by service id (absent ones left out). */
export async function readServices(access: PlanAccess, plan: readonly Planned[]): Promise<Map<string, RawServiceEntry>> {
  const wanted = new Map<string, Planned>();
  for (const p of plan) if (!wanted.has(p.service.id)) wanted.set(p.service.id, p);
  const out = new Map<string, RawServiceEntry>();
  if (wanted.size > READ_ONE_BY_ONE) {
    for (const entry of await access.readTable()) {
      const id = serviceId(entry);
      if (wanted.has(id)) out.set(id, entry);
    }
    return out;
  }
  for (const [id, p] of wanted) {
    const entry = await access.readService(p.service.key);
    if (entry !== null) out.set(id, entry);
  }
  return out;
}

/**
 * Sends a plan and, with onError 'rollback' after a failure, undoes what it
 * did, newest first. Each operation's `prior` must be known for a rollback
 * (apply() plans from a read; batch() reads first).
 */
export async function runPlan(access: PlanAccess, plan: Planned[], options: RunOptions): Promise<BatchResult> {
  const { changes, counts } = await send(access, plan, options);
  if (options.onError !== 'rollback') return { changes, counts };
  if (!changes.some((c) => isFailureStatus(c.status, options.strict))) return { changes, counts };
  // Undo what took effect, and what may have (unknown) where undoing it
  // cannot harm what was there before the plan (Planned.undo).
  const undo: Planned[] = [];
  for (let i = changes.length - 1; i >= 0; i--) {
    const status = changes[i].status;
    if (status === 'applied' || status === 'unknown') for (const u of plan[i].undo(status === 'unknown')) undo.push(u);
  }
  const rolledBack = await send(access, undo, { onError: 'continue', strict: false });
  const complete = rolledBack.counts.applied + rolledBack.counts.already === rolledBack.changes.length;
  return { changes, counts, rollback: { ...rolledBack, complete } };
}

/** Fills in each operation's `prior` from the kernel (what a rollback restores, and whether an add's object existed). */
export async function fillPrior(access: PlanAccess, plan: Planned[]): Promise<void> {
  const table = await readServices(access, plan);
  for (const p of plan) {
    const have = table.get(p.service.id) ?? null;
    p.prior = p.destination === undefined ? have : destinationIn(have, p.destination) ?? null;
  }
}
