// Desired state: apply() diffs a desired table against the kernel's and sends
// only what differs, as one packed batch in a safe order; batch() sends the
// operations of a plan. Both report every operation.
//
// Order: add services, edit services, add and edit destinations, drain,
// delete destinations, delete services. Identity: a service by its key, a
// destination by address + port within its service, addresses canonical.
// Settings that can change in place change with one SET; only a new identity
// is a delete + add (the kernel's destination trash makes re-adds costly).
import type { RawDestination, RawDestinationEntry, RawRequest, RawService, RawServiceEntry } from '../addon';
import { Command, Errno, FORWARDING_NUMBER, ServiceFlag } from '../constants';
import {
  CheckedDestination,
  CheckedKey,
  CheckedService,
  destinationId,
  serviceId,
  toDestination,
  toDestinationKey,
  toService,
  toServiceKey,
} from '../convert';
import { errnoName, Failed, failureError, IpvsError, TOO_MANY_DELETES } from '../errors';
import type { IpvsHandle } from '../handle';
import { destinationSettings, serviceSpecOf } from '../listing';
import type { Outcome } from '../queue';
import type { DesiredService, DestinationSpec, ServiceEntry, ServiceKey, ServiceSpec } from '../types';
import { forEachSliced, mapSliced, Slicer } from '../slices';
import { describe, expectInteger, expectObject, expectOneOf, refuseHidden } from '../validate';

/** One change of a plan. Edits and deletes carry what was there before (for review and rollback). */
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
 * ESRCH/ENOENT on a delete: another writer got there first). failed: refused
 * (see error). unknown: sent, but the answer was lost: it may or may not be
 * applied. skipped: not sent (dry run, or stopped after a failure).
 */
export type ChangeStatus = 'applied' | 'already' | 'failed' | 'unknown' | 'skipped';

export interface ChangeResult {
  operation: Operation;
  status: ChangeStatus;
  error?: IpvsError;
}

export type ChangeCounts = Record<ChangeStatus, number>;

export interface BatchOptions {
  /**
   * 'continue' (default): every operation is tried and reported. 'stop': no
   * operation is sent after a packed buffer that had a failure (the rest are
   * 'skipped'; those after the failure in the same buffer were still tried).
   * 'rollback': as 'stop', then what was applied is undone in reverse order
   * so the table ends as it began; `rollback` in the result says whether the
   * undo itself succeeded.
   */
  onError?: 'continue' | 'stop' | 'rollback';
  /** Called as operations complete, with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface BatchResult {
  changes: ChangeResult[];
  counts: ChangeCounts;
  /** With onError 'rollback' after a failure: the undo operations and whether all of them took effect. */
  rollback?: { changes: ChangeResult[]; counts: ChangeCounts; complete: boolean };
}

export interface ApplyOptions extends BatchOptions {
  /** Plan only: the result lists the operations, all 'skipped'; nothing is sent. */
  dryRun?: boolean;
  /**
   * Services in the kernel that `desired` lacks. Default false: left alone (a
   * library must never delete what its caller does not own). true: deleted.
   * A function: deleted when it returns true (e.g. the caller's VIP range).
   */
  prune?: boolean | ((service: ServiceEntry) => boolean);
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
   * that `desired` lacks is draining), so it survives a restart; the drain's
   * start time is known only to the process that began it (after a restart
   * the clock starts again: never early). UDP "connections" count as inactive
   * until the UDP timeout (300 s by default); on persistent services, clients
   * with an affinity template keep reaching a draining destination until the
   * template expires, unless net.ipv4.vs.expire_quiescent_template=1.
   */
  drain?: boolean | { timeout?: number };
}

export interface ApplyResult extends BatchResult {
  /** The operations, in the order sent (what a dry run would send). */
  plan: Operation[];
  /** Destinations at weight 0 waiting for their connections to end. */
  draining: Array<{ service: ServiceKey; destination: DestinationSpec; activeConnections: number; inactiveConnections: number; since: Date }>;
}

const ADDS = new Set(['addService', 'addDestination']);
const DELETES = new Set(['deleteService', 'deleteDestination']);

const COMMAND: Record<Operation['operation'], number> = {
  addService: Command.IPVS_CMD_NEW_SERVICE,
  editService: Command.IPVS_CMD_SET_SERVICE,
  deleteService: Command.IPVS_CMD_DEL_SERVICE,
  addDestination: Command.IPVS_CMD_NEW_DEST,
  editDestination: Command.IPVS_CMD_SET_DEST,
  drainDestination: Command.IPVS_CMD_SET_DEST,
  deleteDestination: Command.IPVS_CMD_DEL_DEST,
};

/**
 * A planned operation with its checked service (and destination): enough to
 * build its request, name it in an error and undo it. One small object per
 * operation (apply() makes 220,000 of them for a 20,000 x 10 table), so the
 * request, the error's naming and the undo are made only when needed.
 */
class Planned {
  constructor(
    readonly handle: IpvsHandle,
    readonly op: Operation,
    readonly s: CheckedKey,
    readonly d?: CheckedDestination,
  ) {}

  request(): RawRequest {
    const command = COMMAND[this.op.operation];
    // Destination requests and deletes carry the service's key alone (less JSON to write and parse).
    if (this.d !== undefined) return { command, service: this.s.key, destination: this.d.raw };
    return this.op.operation === 'deleteService' ? { command, service: this.s.key, keyOnly: true } : { command, service: this.s.raw };
  }

  failed(): Failed {
    const settings = this.d === undefined && this.op.operation !== 'deleteService' ? (this.s.raw as RawService) : undefined;
    return this.handle.failed(this.op.operation, this.s, settings, this.d?.name);
  }

  /** What undoes it (when a rollback needs it). */
  undo(): Planned[] {
    const { handle, op, s, d } = this;
    switch (op.operation) {
      case 'addService':
        return [new Planned(handle, { operation: 'deleteService', service: op.service, destinations: [] }, s)];
      case 'editService':
        return op.before === undefined ? [] : [new Planned(handle, { operation: 'editService', service: op.before, before: op.service }, toService(op.before))];
      case 'deleteService': {
        const restored = toService(op.service);
        return [
          new Planned(handle, { operation: 'addService', service: op.service }, restored),
          ...(op.destinations ?? []).map(
            (spec) => new Planned(handle, { operation: 'addDestination', service: op.service, destination: spec }, restored, toDestination(spec, restored)),
          ),
        ];
      }
      case 'addDestination':
        return [new Planned(handle, { operation: 'deleteDestination', service: op.service, destination: op.destination }, s, d)];
      case 'editDestination':
      case 'drainDestination':
        return op.before === undefined
          ? []
          : [new Planned(handle, { operation: 'editDestination', service: op.service, destination: op.before, before: op.destination }, s, toDestination(op.before, s))];
      case 'deleteDestination':
        return [new Planned(handle, { operation: 'addDestination', service: op.service, destination: op.destination }, s, toDestination(op.destination, s))];
    }
  }
}

// --- Comparing with the kernel ----------------------------------------------------

function serviceDiffers(want: RawService, have: RawServiceEntry): boolean {
  if (want.scheduler !== have.scheduler || want.flags !== have.flags || want.persistenceEngine !== have.persistenceEngine) return true;
  // Timeout and netmask mean something only for a persistent service.
  return (want.flags & ServiceFlag.PERSISTENT) !== 0 && (want.timeout !== have.timeout || want.netmask !== have.netmask);
}

function destinationDiffers(want: RawDestination, have: RawDestinationEntry): boolean {
  if (want.weight !== have.weight || want.forwarding !== have.forwarding) return true;
  if (want.upperThreshold !== have.upperThreshold || want.lowerThreshold !== have.lowerThreshold) return true;
  if (want.forwarding !== FORWARDING_NUMBER.tunnel) return false;
  const t = have.tunnel;
  return (want.tunnelType ?? 0) !== (t?.type ?? 0) || (want.tunnelPort ?? 0) !== (t?.port ?? 0) || (want.tunnelFlags ?? 0) !== (t?.flags ?? 0);
}

/** When each draining destination's drain began, per handle (see ApplyOptions.drain). */
const drainStarts = new WeakMap<IpvsHandle, Map<string, number>>();

/**
 * A desired service's own fields but its destinations (and stats), and its
 * destination list: each read once, so that what is checked and sent is
 * what the operations report (a getter cannot answer differently the second
 * time). A loop rather than object rest (`{ destinations, ...spec }`), which
 * V8 runs through a slow runtime call.
 */
function settingsAndDestinations(value: unknown, name: string): { spec: ServiceSpec; list: unknown } {
  const service = expectObject(value, name);
  const spec: Record<string, unknown> = {};
  let list: unknown;
  const keys = Object.keys(service);
  refuseHidden(service, keys.length, name);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key === 'destinations') list = service.destinations;
    else if (key !== 'stats') spec[key] = service[key];
  }
  return { spec: spec as unknown as ServiceSpec, list };
}

/** The index of the destination at address and port among the first `count` checked ones (addresses canonical). */
function scan(checked: CheckedDestination[], count: number, address: string, port: number): number | undefined {
  for (let k = 0; k < count; k++) if (checked[k].raw.port === port && checked[k].raw.address === address) return k;
  return undefined;
}

/** A desired service, checked: its destinations in the order given, and where each id is. */
interface Wanted {
  spec: ServiceSpec;
  s: CheckedService;
  specs: DestinationSpec[];
  checked: CheckedDestination[];
  /** Where each destination id is, for services with many destinations (null: few, found by a scan). */
  ids: Map<string, number> | null;
}

interface CheckedOptions {
  dryRun: boolean;
  prune: (service: RawServiceEntry) => boolean;
  maxDeletes: number;
  drain: { timeoutMs: number } | null;
  onError: 'continue' | 'stop' | 'rollback';
  onProgress?: (done: number, total: number) => void;
}

function checkOptions(value: unknown, apply: boolean): CheckedOptions {
  const o = expectObject(value, 'options');
  const known = apply ? ['dryRun', 'prune', 'maxDeletes', 'drain', 'onError', 'onProgress'] : ['onError', 'onProgress'];
  for (const key of Object.keys(o))
    if (!known.includes(key) && o[key] !== undefined) throw new TypeError(`Unknown property '${key.length > 64 ? key.slice(0, 64) + '...' : key}' in options; expected only ${known.join(', ')}`);
  if (o.dryRun !== undefined && typeof o.dryRun !== 'boolean') throw new TypeError(`Expected a boolean for options.dryRun but received ${describe(o.dryRun)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    throw new TypeError(`Expected a function for options.onProgress but received ${describe(o.onProgress)}`);
  let prune: CheckedOptions['prune'] = () => false;
  if (o.prune === true) prune = () => true;
  else if (typeof o.prune === 'function') {
    const predicate = o.prune as (s: ServiceEntry) => boolean;
    prune = (s) => predicate(serviceSpecOf(s) as unknown as ServiceEntry) === true;
  } else if (o.prune !== undefined && o.prune !== false)
    throw new TypeError(`Expected a boolean or a function for options.prune but received ${describe(o.prune)}`);
  let drain: CheckedOptions['drain'] = null;
  if (o.drain === true) drain = { timeoutMs: Infinity };
  else if (o.drain !== undefined && o.drain !== false) {
    const d = expectObject(o.drain, 'options.drain');
    for (const key of Object.keys(d))
      if (key !== 'timeout' && d[key] !== undefined) throw new TypeError(`Unknown property '${key.length > 64 ? key.slice(0, 64) + '...' : key}' in options.drain; expected only timeout`);
    drain = { timeoutMs: d.timeout === undefined ? Infinity : expectInteger(d.timeout, 'options.drain.timeout', 0, 2 ** 31) * 1000 };
  }
  return {
    dryRun: o.dryRun === true,
    prune,
    maxDeletes: o.maxDeletes === undefined ? Infinity : expectInteger(o.maxDeletes, 'options.maxDeletes', 0, Number.MAX_SAFE_INTEGER),
    drain,
    onError: o.onError === undefined ? 'continue' : expectOneOf(o.onError, 'options.onError', ['continue', 'stop', 'rollback'] as const),
    onProgress: o.onProgress as CheckedOptions['onProgress'],
  };
}

// --- apply() ----------------------------------------------------------------------

/**
 * Takes its place among the handle's calls when called: the read of the
 * table, the plan and the send (and a rollback) run as one job, after every
 * call made before and before every call made after, so no call of this
 * handle lands between the read and the send. Validation starts at once (in
 * slices, while earlier calls run) and nothing is read or sent if it fails.
 */
export function apply(handle: IpvsHandle, desired: readonly DesiredService[], options: ApplyOptions): Promise<ApplyResult> {
  const opts = checkOptions(options, true);
  if (!Array.isArray(desired)) throw new TypeError(`Expected an array of services for desired but received ${describe(desired)}`);
  const wanted = checkDesired(handle, desired);
  wanted.catch(() => undefined); // a closed handle refuses the job before it awaits this
  return handle.exclusive({ operation: 'apply', object: '' }, async () => planAndRun(handle, await wanted, opts));
}

/** Every desired service and destination checked, before anything is read or sent. */
async function checkDesired(handle: IpvsHandle, desired: readonly DesiredService[]): Promise<Map<string, Wanted>> {
  const slicer = new Slicer();
  const wanted = new Map<string, Wanted>();
  // A destination's name in messages, joined only if one is needed.
  const path = { i: 0, j: 0, toString: () => `desired[${path.i}].destinations[${path.j}]` };
  for (let i = 0; i < desired.length; i++) {
    const name = `desired[${i}]`;
    // The operations name the service by its settings alone (not its destination list); they are what is checked.
    const { spec, list } = settingsAndDestinations(desired[i], name);
    const s = toService(spec, name);
    if (wanted.has(s.id)) throw new RangeError(`Expected each service once in desired but ${name} repeats ${s.name}`);
    if (list !== undefined && !Array.isArray(list)) throw new TypeError(`Expected an array for ${name}.destinations but received ${describe(list)}`);
    const specs: DestinationSpec[] = list ?? [];
    const checked: CheckedDestination[] = new Array(specs.length);
    // A map per service only where a scan would cost more (most services have a handful).
    const ids = specs.length > 8 ? new Map<string, number>() : null;
    for (let j = 0; j < specs.length; j++) {
      path.i = i;
      path.j = j;
      const d = toDestination(specs[j], s, path);
      const id = ids === null ? '' : d.id; // a string made per destination only where the map needs it
      if ((ids === null ? scan(checked, j, d.raw.address, d.raw.port) : ids.get(id)) !== undefined)
        throw new RangeError(`Expected each destination once in ${name}.destinations but [${j}] repeats ${d.name}`);
      if (d.raw.family !== s.raw.family || d.raw.tunnelType || d.raw.tunnelFlags) handle.checkDestination(d, s, handle.failed('apply', s, undefined, d.name));
      ids?.set(id, j);
      checked[j] = d;
    }
    wanted.set(s.id, { spec, s, specs, checked, ids });
    if (slicer.due()) await slicer.pause();
  }
  return wanted;
}

async function planAndRun(handle: IpvsHandle, wanted: Map<string, Wanted>, opts: CheckedOptions): Promise<ApplyResult> {
  const slicer = new Slicer();

  const table = await handle.readTable();
  const starts = drainStarts.get(handle) ?? new Map<string, number>();
  drainStarts.set(handle, starts);
  const now = Date.now();
  const seenDraining = new Set<string>();

  const addServices: Planned[] = [];
  const editServices: Planned[] = [];
  const destinationChanges: Planned[] = [];
  const drains: Planned[] = [];
  const deleteDestinations: Planned[] = [];
  const deleteServices: Planned[] = [];
  const draining: ApplyResult['draining'] = [];
  let removed = 0;

  const current = new Map<string, RawServiceEntry>();
  for (let i = 0; i < table.length; i++) {
    current.set(serviceId(table[i]), table[i]);
    if (slicer.due()) await slicer.pause();
  }

  for (const { spec, s, specs, checked, ids } of wanted.values()) {
    if (slicer.due()) await slicer.pause();
    const have = current.get(s.id);
    if (have === undefined) {
      addServices.push(new Planned(handle, { operation: 'addService', service: spec }, s));
      for (let j = 0; j < checked.length; j++)
        destinationChanges.push(new Planned(handle, { operation: 'addDestination', service: spec, destination: specs[j] }, s, checked[j]));
      continue;
    }
    if (serviceDiffers(s.raw, have)) editServices.push(new Planned(handle, { operation: 'editService', service: spec, before: serviceSpecOf(have) }, s));
    // One pass over the kernel's destinations: each either matches a desired one or is leaving.
    const matched: Array<RawDestinationEntry | undefined> = new Array(checked.length);
    let leaving: RawDestinationEntry[] | null = null;
    for (const hd of have.destinations ?? []) {
      const j = ids === null ? scan(checked, checked.length, hd.address, hd.port) : ids.get(destinationId(hd.address, hd.port));
      if (j !== undefined) matched[j] = hd;
      else (leaving ??= []).push(hd);
    }
    for (let j = 0; j < checked.length; j++) {
      const d = checked[j];
      const hd = matched[j];
      if (hd === undefined) destinationChanges.push(new Planned(handle, { operation: 'addDestination', service: spec, destination: specs[j] }, s, d));
      else if (destinationDiffers(d.raw, hd))
        destinationChanges.push(new Planned(handle, { operation: 'editDestination', service: spec, destination: specs[j], before: destinationSettings(hd) }, s, d));
    }
    for (let k = 0; leaving !== null && k < leaving.length; k++) {
      const hd = leaving[k];
      const id = destinationId(hd.address, hd.port);
      const before = destinationSettings(hd);
      const d = toDestinationKey(before, s);
      removed++;
      if (opts.drain === null) {
        deleteDestinations.push(new Planned(handle, { operation: 'deleteDestination', service: spec, destination: before }, s, d));
        continue;
      }
      const drainKey = `${s.id}|${id}`;
      seenDraining.add(drainKey);
      if (hd.weight > 0) {
        const weightZero = { ...before, weight: 0 };
        drains.push(new Planned(handle, { operation: 'drainDestination', service: spec, destination: weightZero, before }, s, toDestination(weightZero, s)));
        if (!opts.dryRun) starts.set(drainKey, now);
        draining.push({ service: spec, destination: weightZero, activeConnections: hd.activeConnections, inactiveConnections: hd.inactiveConnections, since: new Date(now) });
        continue;
      }
      const since = starts.get(drainKey) ?? now;
      if (!starts.has(drainKey) && !opts.dryRun) starts.set(drainKey, now);
      if (hd.activeConnections + hd.inactiveConnections === 0 || now - since >= opts.drain.timeoutMs) {
        deleteDestinations.push(new Planned(handle, { operation: 'deleteDestination', service: spec, destination: before }, s, d));
      } else {
        removed--; // still draining: nothing removed by this apply
        draining.push({ service: spec, destination: before, activeConnections: hd.activeConnections, inactiveConnections: hd.inactiveConnections, since: new Date(since) });
      }
    }
  }
  for (const [id, have] of current) {
    if (slicer.due()) await slicer.pause();
    if (wanted.has(id) || !opts.prune(have)) continue;
    const before = serviceSpecOf(have);
    const destinations = (have.destinations ?? []).map((hd) => destinationSettings(hd));
    deleteServices.push(new Planned(handle, { operation: 'deleteService', service: before, destinations }, toServiceKey(before)));
    removed += 1 + destinations.length;
  }
  for (const key of starts.keys()) if (!seenDraining.has(key)) starts.delete(key);

  if (removed > opts.maxDeletes)
    throw new IpvsError(`apply would remove ${removed} services and destinations, more than maxDeletes (${opts.maxDeletes}); nothing was sent`, {
      code: TOO_MANY_DELETES,
      errno: 0,
      operation: 'apply',
      object: '',
    });

  // The plan and its operations in the order sent, in one pass, in slices (a spread of 220,000 is one long block).
  const plan: Planned[] = [];
  const operations: Operation[] = [];
  for (const part of [addServices, editServices, destinationChanges, drains, deleteDestinations, deleteServices])
    await forEachSliced(part, (p) => {
      plan.push(p);
      operations.push(p.op);
    });
  if (opts.dryRun) {
    const changes = await mapSliced(operations, (operation): ChangeResult => ({ operation, status: 'skipped' }));
    return { plan: operations, changes, counts: { ...NO_CHANGES, skipped: changes.length }, draining };
  }
  const result = await run(handle, plan, opts);
  return { plan: operations, ...result, draining };
}

// --- batch() ----------------------------------------------------------------------

const OPERATIONS = ['addService', 'editService', 'deleteService', 'addDestination', 'editDestination', 'drainDestination', 'deleteDestination'] as const;

function toPlanned(handle: IpvsHandle, value: unknown, name: string): Planned {
  const op = expectObject(value, name) as Operation;
  const kind = expectOneOf(op.operation, `${name}.operation`, OPERATIONS);
  switch (kind) {
    case 'addService':
      return new Planned(handle, op, toService(op.service, `${name}.service`));
    case 'editService': {
      const o = op as Extract<Operation, { operation: 'editService' }>;
      if (o.before !== undefined) toService(o.before, `${name}.before`);
      return new Planned(handle, op, toService(o.service, `${name}.service`));
    }
    case 'deleteService':
      return new Planned(handle, op, toServiceKey(op.service, `${name}.service`));
    default: {
      const o = op as Extract<Operation, { destination: DestinationSpec }>;
      const s = toServiceKey(o.service, `${name}.service`);
      if (kind === 'deleteDestination') return new Planned(handle, op, s, toDestinationKey(o.destination, s, `${name}.destination`));
      const d = toDestination(o.destination, s, `${name}.destination`);
      handle.checkDestination(d, s, handle.failed(kind, s, undefined, d.name));
      const before = (o as { before?: DestinationSpec }).before;
      if (before !== undefined) toDestination(before, s, `${name}.before`);
      return new Planned(handle, op, s, d);
    }
  }
}

/** Checks every operation at once; then, in call order as one job (see apply()), reads what a rollback needs and sends. */
export function batch(handle: IpvsHandle, operations: readonly Operation[], options: BatchOptions): Promise<BatchResult> {
  const opts = checkOptions(options, false);
  if (!Array.isArray(operations)) throw new TypeError(`Expected an array of operations but received ${describe(operations)}`);
  const plan = operations.map((op, i) => toPlanned(handle, op, `operations[${i}]`));
  return handle.exclusive({ operation: 'batch', object: '' }, async () => {
    if (opts.onError === 'rollback') await fillBefore(handle, plan);
    return run(handle, plan, opts);
  });
}

/** Reads what edits and deletes without a `before` would overwrite, so that a rollback can restore it. */
async function fillBefore(handle: IpvsHandle, plan: Planned[]): Promise<void> {
  const needs = (p: Planned) => !ADDS.has(p.op.operation) && (p.op as { before?: unknown }).before === undefined;
  if (!plan.some(needs)) return;
  const table = new Map<string, RawServiceEntry>();
  for (const entry of await handle.readTable()) table.set(serviceId(entry), entry);
  for (let i = 0; i < plan.length; i++) {
    const p = plan[i];
    const have = needs(p) ? table.get(p.s.id) : undefined;
    if (have === undefined) continue;
    const op = p.op;
    let filled: Operation;
    if (op.operation === 'editService') filled = { ...op, before: serviceSpecOf(have) };
    else if (op.operation === 'deleteService')
      filled = { ...op, service: serviceSpecOf(have), destinations: (have.destinations ?? []).map((hd) => destinationSettings(hd)) };
    else if (op.operation !== 'addService' && op.operation !== 'addDestination') {
      const d = p.d as CheckedDestination;
      const hd = (have.destinations ?? []).find((x) => x.address === d.raw.address && x.port === d.raw.port);
      if (hd === undefined) continue;
      filled = op.operation === 'deleteDestination' ? { ...op, destination: destinationSettings(hd) } : { ...op, before: destinationSettings(hd) };
    } else continue;
    plan[i] = new Planned(handle, filled, p.s, p.d);
  }
}

// --- Sending and reporting -----------------------------------------------------------

const NO_CHANGES: ChangeCounts = { applied: 0, already: 0, failed: 0, unknown: 0, skipped: 0 };

function result(p: Planned, outcome: Outcome): ChangeResult {
  if (outcome === undefined) return { operation: p.op, status: 'applied' };
  if (outcome === null) return { operation: p.op, status: 'skipped' };
  const error = failureError(outcome, p.failed());
  if (outcome.outcome === 'refused') {
    const code = errnoName(outcome.errno);
    if (ADDS.has(p.op.operation) && outcome.errno === Errno.EEXIST) return { operation: p.op, status: 'already', error };
    if (DELETES.has(p.op.operation) && (code === 'ESRCH' || code === 'ENOENT')) return { operation: p.op, status: 'already', error };
  }
  if (outcome.outcome === 'unknown') return { operation: p.op, status: 'unknown', error };
  // Never sent: a socket failure before it (the error says which).
  if (outcome.outcome === 'unsent') return { operation: p.op, status: 'skipped', error };
  return { operation: p.op, status: 'failed', error };
}

async function send(handle: IpvsHandle, plan: Planned[], stop: boolean, onProgress?: (done: number, total: number) => void): Promise<BatchResult> {
  // Each slice's requests are made as it is sent, not all 220,000 up front.
  const requests = {
    length: plan.length,
    slice(start: number, end: number): RawRequest[] {
      const out: RawRequest[] = [];
      for (let i = start; i < end && i < plan.length; i++) out.push(plan[i].request());
      return out;
    },
  };
  const outcomes = await handle.send(requests, {
    stopOnFailure: stop,
    onProgress: onProgress && ((done) => onProgress(done, plan.length)),
  });
  const counts = { ...NO_CHANGES };
  const changes = await mapSliced(plan, (p, i) => {
    const r = result(p, outcomes[i]);
    counts[r.status]++;
    return r;
  });
  return { changes, counts };
}

async function run(handle: IpvsHandle, plan: Planned[], opts: CheckedOptions): Promise<BatchResult> {
  const { changes, counts } = await send(handle, plan, opts.onError !== 'continue', opts.onProgress);
  if (opts.onError !== 'rollback' || (counts.failed === 0 && counts.unknown === 0)) return { changes, counts };
  // Undo what may have taken effect, newest first. An unknown outcome is undone
  // too: its undo is harmless if it had not been applied ('already').
  const undo: Planned[] = [];
  for (let i = changes.length - 1; i >= 0; i--)
    if (changes[i].status === 'applied' || changes[i].status === 'unknown') undo.push(...plan[i].undo());
  const rolledBack = await send(handle, undo, false);
  const complete = rolledBack.counts.applied + rolledBack.counts.already === rolledBack.changes.length;
  return { changes, counts, rollback: { ...rolledBack, complete } };
}
