// The operations of a plan, what became of each, and the options apply() and
// batch() share: the public types of desired state, and Planned, an operation
// with the checked objects its request is built from and what the kernel held
// before it (so that a rollback undoes exactly what the plan did).
import type { RawDestinationEntry, RawRequest, RawServiceEntry } from '../addon';
import { Command } from '../constants';
import { CheckedDestination, CheckedKey, CheckedService, destinationOfEntry, serviceOfEntry } from '../convert';
import type { IpvsError } from '../errors';
import { destinationSettings, serviceSpecOf } from '../listing';
import type { DestinationSpec, ServiceKey, ServiceSpec } from '../types';
import type { DrainClock } from './drain-clock';

/** One change of a plan. Edits and deletes carry what was there before (for review). */
export type Operation =
  | { operation: 'addService'; service: ServiceSpec }
  | { operation: 'editService'; service: ServiceSpec; before?: ServiceSpec }
  | { operation: 'deleteService'; service: ServiceSpec | ServiceKey; destinations?: DestinationSpec[] }
  | { operation: 'addDestination'; service: ServiceKey; destination: DestinationSpec }
  | { operation: 'editDestination'; service: ServiceKey; destination: DestinationSpec; before?: DestinationSpec }
  | { operation: 'drainDestination'; service: ServiceKey; destination: DestinationSpec; before?: DestinationSpec }
  | { operation: 'deleteDestination'; service: ServiceKey; destination: DestinationSpec };

/**
 * applied: done. already: the kernel was already so (EEXIST on an add,
 * ESRCH/ENOENT on a delete: another writer got there first; on an add,
 * `differs` says whether the existing object's settings differ from the
 * operation's). failed: refused (see error). unknown: sent, but the answer
 * was lost: it may or may not be applied. unsent: never sent, because the
 * send stopped before it (a socket failure, a slice refused whole): a failure,
 * known not applied. skipped: not sent by choice (dry run, or onError 'stop'
 * after a failure).
 */
export type ChangeStatus = 'applied' | 'already' | 'failed' | 'unknown' | 'unsent' | 'skipped';

export interface ChangeResult {
  operation: Operation;
  status: ChangeStatus;
  error?: IpvsError;
  /** On an 'already' add: the object that exists has other settings than the operation's (it was not changed). */
  differs?: true;
}

export type ChangeCounts = Record<ChangeStatus, number>;

export interface BatchOptions {
  /**
   * 'continue' (default): every operation is tried and reported. 'stop': no
   * operation is sent after a packed buffer that had a failure (the rest are
   * 'skipped'; those after the failure in the same buffer were still tried).
   * 'rollback': as 'stop', then what the plan did is undone in reverse order
   * so the table ends as it began (only what the plan did: an add whose
   * answer was lost is undone only if its object was absent before);
   * `rollback` in the result says whether the undo itself succeeded.
   * A failure here is 'failed', 'unknown' or 'unsent', and with `strict`
   * 'already' too.
   */
  onError?: 'continue' | 'stop' | 'rollback';
  /**
   * An add of what exists or a delete of what is absent ('already') is a
   * failure for onError 'stop' and 'rollback', as `ipvsadm -R` fails such a
   * line. The status stays 'already'. Default false.
   */
  strict?: boolean;
  /** Called as operations complete, with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface BatchResult {
  changes: ChangeResult[];
  counts: ChangeCounts;
  /** With onError 'rollback' after a failure: the undo operations and whether all of them took effect. */
  rollback?: { changes: ChangeResult[]; counts: ChangeCounts; complete: boolean };
}

/** What a prune predicate is given: a service's key and settings as list() gives them, without destinations and stats. */
export type PrunedService = ServiceSpec;

export interface ApplyOptions extends BatchOptions {
  /** Plan only: the result lists the operations, all 'skipped'; nothing is sent. */
  dryRun?: boolean;
  /**
   * Services in the kernel that `desired` lacks. Default false: left alone (a
   * library must never delete what its caller does not own). true: deleted.
   * A function: deleted when it returns true (e.g. the caller's VIP range);
   * it gets the service's key and settings (no destinations, no stats).
   */
  prune?: boolean | ((service: PrunedService) => boolean);
  /**
   * Refuse, before sending anything, a plan that removes (deletes or drains)
   * more than this many services and destinations (a deleted service counts
   * with its destinations). The error (code ERR_IPVS_TOO_MANY_DELETES) says how many.
   */
  maxDeletes?: number;
  /**
   * Destinations leaving a service are first set to weight 0 (no new
   * connections), and deleted by a later apply() once they have no active
   * and no inactive connections, or once `timeout` seconds have passed since
   * their drain began. The state lives in the kernel (a weight-0 destination
   * that `desired` lacks is draining), so it survives a restart. When each
   * drain began is kept in a DrainClock: `clock` (one the caller keeps, e.g.
   * saved to a file between runs), or else the handle's own, which lasts as
   * long as the handle. A drain whose start is not on the clock starts now
   * (never early). A dry run reads the clock and changes nothing on it; an
   * apply() forgets only the clocks of destinations of the services it
   * covers that are no longer draining. UDP "connections" count as inactive
   * until the UDP timeout (300 s by default); on persistent services, clients
   * with an affinity template keep reaching a draining destination until the
   * template expires, unless net.ipv4.vs.expire_quiescent_template=1.
   */
  drain?: boolean | { timeout?: number; clock?: DrainClock };
}

export interface ApplyResult extends BatchResult {
  /** The operations, in the order sent (what a dry run would send). */
  plan: Operation[];
  /** Destinations at weight 0 waiting for their connections to end. */
  draining: Array<{ service: ServiceKey; destination: DestinationSpec; activeConnections: number; inactiveConnections: number; since: Date }>;
}

export const NO_CHANGES: Readonly<ChangeCounts> = Object.freeze({ applied: 0, already: 0, failed: 0, unknown: 0, unsent: 0, skipped: 0 });

const COMMAND: Record<Operation['operation'], number> = {
  addService: Command.IPVS_CMD_NEW_SERVICE,
  editService: Command.IPVS_CMD_SET_SERVICE,
  deleteService: Command.IPVS_CMD_DEL_SERVICE,
  addDestination: Command.IPVS_CMD_NEW_DEST,
  editDestination: Command.IPVS_CMD_SET_DEST,
  drainDestination: Command.IPVS_CMD_SET_DEST,
  deleteDestination: Command.IPVS_CMD_DEL_DEST,
};

export function isAdd(op: Operation): boolean {
  return op.operation === 'addService' || op.operation === 'addDestination';
}

export function isDelete(op: Operation): boolean {
  return op.operation === 'deleteService' || op.operation === 'deleteDestination';
}

/**
 * What the kernel held before an operation, as its own entries: the service
 * (with its destinations, for a deleted service) or the destination; null
 * when the object was absent; undefined when not known (batch() without
 * rollback reads nothing).
 */
export type Prior = RawServiceEntry | RawDestinationEntry | null | undefined;

/**
 * A planned operation with its checked service (and destination): enough to
 * build its request, name it in an error and undo it. One small object per
 * operation (apply() makes 220,000 of them for a 20,000 x 10 table), so the
 * request, the error's naming and the undo are made only when needed.
 */
export class Planned {
  constructor(
    readonly operation: Operation,
    readonly service: CheckedKey,
    readonly destination?: CheckedDestination,
    public prior?: Prior,
  ) {}

  request(): RawRequest {
    const command = COMMAND[this.operation.operation];
    // Destination requests and deletes carry the service's key alone (less JSON to write and parse).
    if (this.destination !== undefined) return { command, service: this.service.key, destination: this.destination };
    return this.operation.operation === 'deleteService' ? { command, service: this.service.key, keyOnly: true } : { command, service: this.service.raw };
  }

  /** The settings an error names (the scheduler's hint), for service adds and edits. */
  settings(): CheckedService['raw'] | undefined {
    return this.destination === undefined && this.operation.operation !== 'deleteService' ? (this.service as CheckedService).raw : undefined;
  }

  /**
   * What undoes it, built from the kernel's own entries (never through the
   * input checks: the kernel may hold what they refuse). `maybe`: its
   * outcome is unknown (it may not have happened): an add is then undone only
   * if its object was known absent before, so that nothing that existed
   * before the plan is deleted.
   */
  undo(maybe: boolean): Planned[] {
    const { operation: op, service: s, destination: d, prior } = this;
    switch (op.operation) {
      case 'addService':
        if (maybe && prior !== null) return [];
        return [new Planned({ operation: 'deleteService', service: op.service, destinations: [] }, s)];
      case 'addDestination':
        if (maybe && prior !== null) return [];
        return [new Planned({ operation: 'deleteDestination', service: op.service, destination: op.destination }, s, d)];
      case 'editService': {
        const before = prior as RawServiceEntry | null | undefined;
        if (!before) return [];
        return [new Planned({ operation: 'editService', service: serviceSpecOf(before), before: op.service }, serviceOfEntry(before))];
      }
      case 'deleteService': {
        const before = prior as RawServiceEntry | null | undefined;
        if (!before) return [];
        const restored = serviceOfEntry(before);
        const spec = serviceSpecOf(before);
        const out = [new Planned({ operation: 'addService', service: spec }, restored)];
        for (const hd of before.destinations ?? [])
          out.push(new Planned({ operation: 'addDestination', service: spec, destination: destinationSettings(hd) }, restored, destinationOfEntry(hd)));
        return out;
      }
      case 'editDestination':
      case 'drainDestination': {
        const before = prior as RawDestinationEntry | null | undefined;
        if (!before) return [];
        const spec = destinationSettings(before);
        return [new Planned({ operation: 'editDestination', service: op.service, destination: spec, before: op.destination }, s, destinationOfEntry(before))];
      }
      case 'deleteDestination': {
        const before = prior as RawDestinationEntry | null | undefined;
        if (!before) return [];
        return [new Planned({ operation: 'addDestination', service: op.service, destination: destinationSettings(before) }, s, destinationOfEntry(before))];
      }
    }
  }
}
