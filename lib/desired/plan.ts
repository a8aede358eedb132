// Planning: a desired state checked (before anything is read or sent), then
// diffed against a table (the kernel's, read by apply(); a model of it, kept
// by the reconciler) into the operations that make the table equal it.
//
// Order: add services, edit services, add and edit destinations, drain,
// delete destinations, delete services. Identity: a service by its key, a
// destination by address + port within its service, addresses canonical.
// Settings that can change in place change with one SET; only a new identity
// is a delete + add (the kernel's destination trash makes re-adds costly).
import type { RawDestinationEntry, RawServiceEntry } from '../addon';
import { Broken, CheckedDestination, CheckedService, destinationId, destinationOfEntry, serviceId, serviceOfEntry, toDestination, toService } from '../convert';
import { IpvsError, TOO_MANY_DELETES } from '../errors';
import type { PlanAccess } from '../handle';
import { destinationSettings, serviceSpecOf } from '../listing';
import { forEachSliced, Slicer } from '../slices';
import type { DesiredService, DestinationSpec, ServiceSpec } from '../types';
import { describe, expectInteger, expectObject, expectOneOf, refuseHidden, refuseUnknown } from '../validate';
import { DrainClock } from './drain-clock';
import type { ApplyResult, Operation, PrunedService } from './operations';
import { Planned } from './operations';
import { destinationDiffers, serviceDiffers } from './run';

// --- Options ----------------------------------------------------------------------------

export interface CheckedOptions {
  dryRun: boolean;
  prune: (service: RawServiceEntry) => boolean;
  maxDeletes: number;
  drain: { timeoutMs: number; clock: DrainClock | null } | null;
  onError: 'continue' | 'stop' | 'rollback';
  strict: boolean;
  onProgress?: (done: number, total: number) => void;
}

const APPLY_OPTIONS = new Set(['dryRun', 'prune', 'maxDeletes', 'drain', 'onError', 'strict', 'onProgress']);
const BATCH_OPTIONS = new Set(['onError', 'strict', 'onProgress']);
const DRAIN_OPTIONS = new Set(['timeout', 'clock']);

/** apply()'s options (`apply`), or batch()'s, checked. */
export function checkOptions(value: unknown, apply: boolean): CheckedOptions {
  const o = expectObject(value, 'options');
  const known = apply ? APPLY_OPTIONS : BATCH_OPTIONS;
  for (const key of Object.keys(o)) if (!known.has(key) && o[key] !== undefined) refuseUnknown(key, 'options', known);
  if (o.dryRun !== undefined && typeof o.dryRun !== 'boolean') throw new TypeError(`Expected a boolean for options.dryRun but received ${describe(o.dryRun)}`);
  if (o.strict !== undefined && typeof o.strict !== 'boolean') throw new TypeError(`Expected a boolean for options.strict but received ${describe(o.strict)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    throw new TypeError(`Expected a function for options.onProgress but received ${describe(o.onProgress)}`);
  let prune: CheckedOptions['prune'] = () => false;
  if (o.prune === true) prune = () => true;
  else if (typeof o.prune === 'function') {
    const predicate = o.prune as (s: PrunedService) => boolean;
    prune = (s) => predicate(serviceSpecOf(s)) === true;
  } else if (o.prune !== undefined && o.prune !== false)
    throw new TypeError(`Expected a boolean or a function for options.prune but received ${describe(o.prune)}`);
  let drain: CheckedOptions['drain'] = null;
  if (o.drain === true) drain = { timeoutMs: Infinity, clock: null };
  else if (o.drain !== undefined && o.drain !== false) {
    const d = expectObject(o.drain, 'options.drain');
    for (const key of Object.keys(d)) if (!DRAIN_OPTIONS.has(key) && d[key] !== undefined) refuseUnknown(key, 'options.drain', DRAIN_OPTIONS);
    if (d.clock !== undefined && !(d.clock instanceof DrainClock))
      throw new TypeError(`Expected a DrainClock for options.drain.clock but received ${describe(d.clock)}`);
    drain = {
      timeoutMs: d.timeout === undefined ? Infinity : expectInteger(d.timeout, 'options.drain.timeout', 0, 2 ** 31) * 1000,
      clock: (d.clock as DrainClock | undefined) ?? null,
    };
  }
  return {
    dryRun: o.dryRun === true,
    prune,
    maxDeletes: o.maxDeletes === undefined ? Infinity : expectInteger(o.maxDeletes, 'options.maxDeletes', 0, Number.MAX_SAFE_INTEGER),
    drain,
    onError: o.onError === undefined ? 'continue' : expectOneOf(o.onError, 'options.onError', ['continue', 'stop', 'rollback'] as const),
    strict: o.strict === true,
    onProgress: o.onProgress as CheckedOptions['onProgress'],
  };
}

// --- The desired state, checked ----------------------------------------------------------

/**
 * Services with more destinations than this find one by id in a map; fewer,
 * by a scan (cheaper than making and hashing an id string per lookup).
 */
export const SCAN_LIMIT = 32;

/** Where each destination id is, for a service with more than SCAN_LIMIT destinations (else null: found by a scan). */
export function destinationIndex(checked: readonly CheckedDestination[]): Map<string, number> | null {
  if (checked.length <= SCAN_LIMIT) return null;
  const ids = new Map<string, number>();
  for (let j = 0; j < checked.length; j++) ids.set(checked[j].id, j);
  return ids;
}

/** A desired service, checked: its destinations in the order given, and where each id is. */
export interface Wanted {
  spec: ServiceSpec;
  s: CheckedService;
  specs: DestinationSpec[];
  checked: CheckedDestination[];
  /** Where each destination id is (destinationIndex()). */
  ids: Map<string, number> | null;
}

/** A checked desired state: the services by id, and the library's rules they break (see convert.ts), to settle against a table. */
export interface CheckedDesired {
  wanted: Map<string, Wanted>;
  broken: Broken;
}

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

/** Where the destination at address and port (canonical) is in a wanted service's list, or undefined. */
export function destinationAt(w: Pick<Wanted, 'checked' | 'ids'>, address: string, port: number): number | undefined {
  return w.ids === null ? scan(w.checked, w.checked.length, address, port) : w.ids.get(destinationId(address, port));
}

/** The index of the destination at address and port among the first `count` of a list (checked or the kernel's; addresses canonical). */
export function scan(list: ReadonlyArray<{ address: string; port: number }>, count: number, address: string, port: number): number | undefined {
  for (let k = 0; k < count; k++) if (list[k].port === port && list[k].address === address) return k;
  return undefined;
}

/** One desired service checked (its destinations too), added to `into`. */
export function checkService(access: PlanAccess, value: unknown, name: string, into: CheckedDesired): Wanted {
  // A destination's name in messages, joined only if one is needed.
  const path = { j: 0, toString: () => `${name}.destinations[${path.j}]` };
  // The operations name the service by its settings alone (not its destination list); they are what is checked.
  const { spec, list } = settingsAndDestinations(value, name);
  const s = toService(spec, name, into.broken);
  if (into.wanted.has(s.id)) throw new RangeError(`Expected each service once in desired but ${name} repeats ${s.name}`);
  if (list !== undefined && !Array.isArray(list)) throw new TypeError(`Expected an array for ${name}.destinations but received ${describe(list)}`);
  const specs: DestinationSpec[] = list ?? [];
  const checked: CheckedDestination[] = new Array(specs.length);
  // A map per service only where a scan would cost more (most services have a handful).
  const ids = specs.length > SCAN_LIMIT ? new Map<string, number>() : null;
  for (let j = 0; j < specs.length; j++) {
    path.j = j;
    const d = toDestination(specs[j], s, path, into.broken);
    const id = ids === null ? '' : d.id; // a string made per destination only where the map needs it
    if ((ids === null ? scan(checked, j, d.address, d.port) : ids.get(id)) !== undefined)
      throw new RangeError(`Expected each destination once in ${name}.destinations but [${j}] repeats ${d.name}`);
    if (d.family !== s.raw.family || d.tunnelType || d.tunnelFlags) access.requireFeatures(d, s, access.describeCall('apply', s, undefined, d.name));
    ids?.set(id, j);
    checked[j] = d;
  }
  const w: Wanted = { spec, s, specs, checked, ids };
  into.wanted.set(s.id, w);
  return w;
}

/** Every desired service and destination checked, in slices, before anything is read or sent. */
export async function checkDesired(access: PlanAccess, desired: readonly DesiredService[]): Promise<CheckedDesired> {
  const slicer = new Slicer();
  const into: CheckedDesired = { wanted: new Map(), broken: [] };
  for (let i = 0; i < desired.length; i++) {
    checkService(access, desired[i], `desired[${i}]`, into);
    if (slicer.due()) await slicer.pause();
  }
  return into;
}

// --- The diff ---------------------------------------------------------------------------------

/** A plan: its operations in the order sent, and what apply() reports beside them. */
export interface Plan {
  planned: Planned[];
  draining: ApplyResult['draining'];
  /** The ids of the services with destinations in `draining`. */
  drainingServices: Set<string>;
  /** Services and destinations it removes (what maxDeletes bounds). */
  removed: number;
}

/**
 * The destinations changes by key touched, by service id (addresses
 * canonical, each once): the diff of such a service covers those
 * destinations alone. For the reconciler, whose model already equals its
 * desired state in the rest of such a service: a weight change costs one
 * destination's diff, not its service's.
 */
export type Scope = ReadonlyMap<string, ReadonlyArray<{ address: string; port: number }>>;

/**
 * The operations that make `current` (by service id) equal `wanted`, for the
 * services in `wanted`, and for the others those `prune` says to delete. Each
 * operation keeps the kernel's entry it changes (its `prior`, for rollback).
 * A service in `scope` that `current` holds is diffed in the destinations
 * named there only (its service settings and other destinations as `current`
 * holds them; their drains neither reported nor forgotten).
 */
export async function diff(
  wanted: Map<string, Wanted>,
  current: Map<string, RawServiceEntry>,
  opts: CheckedOptions,
  clock: DrainClock,
  scope?: Scope,
): Promise<Plan> {
  // A service at a time: each diffs all its destinations (the clock read at
  // each: four of them overran the slice to 8-20 ms under emulation).
  const slicer = new Slicer(1);
  const now = Date.now();
  /** Destinations found draining, by service: their clocks are kept. */
  const seenDraining = new Map<string, Set<string>>();

  const addServices: Planned[] = [];
  const editServices: Planned[] = [];
  const destinationChanges: Planned[] = [];
  const drains: Planned[] = [];
  const deleteDestinations: Planned[] = [];
  const deleteServices: Planned[] = [];
  const draining: ApplyResult['draining'] = [];
  const drainingServices = new Set<string>();
  let removed = 0;
  /** Services diffed whole: the drains of theirs not found draining are forgotten. */
  const covered: string[] = [];
  /** Destinations diffed alone (a scope's), by service id and destination id: the same for each. */
  const coveredDestinations: Array<[string, string]> = [];

  /** A destination of the kernel's that is not wanted: deleted, or drained (weight 0 until idle or timed out). */
  const leave = (spec: ServiceSpec, s: CheckedService, hd: RawDestinationEntry): void => {
    const before = destinationSettings(hd);
    removed++;
    if (opts.drain === null) {
      deleteDestinations.push(new Planned({ operation: 'deleteDestination', service: spec, destination: before }, s, destinationOfEntry(hd), hd));
      return;
    }
    const drainId = destinationId(hd.address, hd.port);
    let seen = seenDraining.get(s.id);
    if (seen === undefined) seenDraining.set(s.id, (seen = new Set()));
    seen.add(drainId);
    if (hd.weight > 0) {
      const weightZero = destinationOfEntry(hd);
      weightZero.weight = 0;
      const spec0 = { ...before, weight: 0 };
      drains.push(new Planned({ operation: 'drainDestination', service: spec, destination: spec0, before }, s, weightZero, hd));
      if (!opts.dryRun) clock.start(s.id, drainId, now);
      draining.push({ service: spec, destination: spec0, activeConnections: hd.activeConnections, inactiveConnections: hd.inactiveConnections, since: new Date(now) });
      drainingServices.add(s.id);
      return;
    }
    const recorded = clock.since(s.id, drainId);
    const since = recorded ?? now;
    if (recorded === undefined && !opts.dryRun) clock.start(s.id, drainId, now);
    if (hd.activeConnections + hd.inactiveConnections === 0 || now - since >= opts.drain.timeoutMs) {
      deleteDestinations.push(new Planned({ operation: 'deleteDestination', service: spec, destination: before }, s, destinationOfEntry(hd), hd));
    } else {
      removed--; // still draining: nothing removed by this apply
      draining.push({ service: spec, destination: before, activeConnections: hd.activeConnections, inactiveConnections: hd.inactiveConnections, since: new Date(since) });
      drainingServices.add(s.id);
    }
  };

  for (const { spec, s, specs, checked, ids } of wanted.values()) {
    if (slicer.due()) await slicer.pause();
    const have = current.get(s.id);
    const only = have === undefined ? undefined : scope?.get(s.id);
    if (only !== undefined) {
      // The destinations changed by key, alone: the rest of the service is as `current` holds it.
      const list = have!.destinations ?? [];
      for (let k = 0; k < only.length; k++) {
        const { address, port } = only[k];
        const j = destinationAt({ checked, ids }, address, port);
        const h = scan(list, list.length, address, port);
        const hd = h === undefined ? undefined : list[h];
        if (j !== undefined && hd === undefined)
          destinationChanges.push(new Planned({ operation: 'addDestination', service: spec, destination: specs[j] }, s, checked[j], null));
        else if (j !== undefined && destinationDiffers(checked[j], hd!))
          destinationChanges.push(
            new Planned({ operation: 'editDestination', service: spec, destination: specs[j], before: destinationSettings(hd!) }, s, checked[j], hd!),
          );
        else if (j === undefined && hd !== undefined) leave(spec, s, hd);
        coveredDestinations.push([s.id, destinationId(address, port)]);
      }
      continue;
    }
    covered.push(s.id);
    if (have === undefined) {
      addServices.push(new Planned({ operation: 'addService', service: spec }, s, undefined, null));
      for (let j = 0; j < checked.length; j++)
        destinationChanges.push(new Planned({ operation: 'addDestination', service: spec, destination: specs[j] }, s, checked[j], null));
      continue;
    }
    if (serviceDiffers(s.raw, have)) editServices.push(new Planned({ operation: 'editService', service: spec, before: serviceSpecOf(have) }, s, undefined, have));
    // One pass over the kernel's destinations: each either matches a desired one or is leaving.
    const matched: Array<RawDestinationEntry | undefined> = new Array(checked.length);
    let leaving: RawDestinationEntry[] | null = null;
    for (const hd of have.destinations ?? []) {
      const j = destinationAt({ checked, ids }, hd.address, hd.port);
      if (j !== undefined) matched[j] = hd;
      else (leaving ??= []).push(hd);
    }
    for (let j = 0; j < checked.length; j++) {
      const hd = matched[j];
      if (hd === undefined) destinationChanges.push(new Planned({ operation: 'addDestination', service: spec, destination: specs[j] }, s, checked[j], null));
      else if (destinationDiffers(checked[j], hd))
        destinationChanges.push(
          new Planned({ operation: 'editDestination', service: spec, destination: specs[j], before: destinationSettings(hd) }, s, checked[j], hd),
        );
    }
    // Leaving destinations are built from the kernel's own entries (never refused: see convert.ts).
    for (let k = 0; leaving !== null && k < leaving.length; k++) leave(spec, s, leaving[k]);
  }
  const pruned = new Set<string>();
  for (const [id, have] of current) {
    if (slicer.due()) await slicer.pause();
    if (wanted.has(id) || !opts.prune(have)) continue;
    const before = serviceSpecOf(have);
    const destinations = (have.destinations ?? []).map((hd) => destinationSettings(hd));
    deleteServices.push(new Planned({ operation: 'deleteService', service: before, destinations }, serviceOfEntry(have), undefined, have));
    pruned.add(id);
    removed += 1 + destinations.length;
  }
  // The drains of the services covered that are not draining any more are
  // forgotten; others' are kept. In slices: a churn of 2,200 changes forgets
  // 2,200 (9 ms in one turn under emulation).
  if (!opts.dryRun) {
    for (const part of [covered, pruned])
      for (const id of part) {
        clock.forgetService(id, seenDraining.get(id));
        if (slicer.due()) await slicer.pause();
      }
    for (const [service, destination] of coveredDestinations) {
      if (seenDraining.get(service)?.has(destination) !== true) clock.forgetOne(service, destination);
      if (slicer.due()) await slicer.pause();
    }
  }

  if (removed > opts.maxDeletes)
    throw new IpvsError(`apply would remove ${removed} services and destinations, more than maxDeletes (${opts.maxDeletes}); nothing was sent`, {
      code: TOO_MANY_DELETES,
      errno: 0,
      operation: 'apply',
      object: '',
    });

  // The operations in the order sent, in one pass, in slices (a spread of 220,000 is one long block).
  const planned: Planned[] = [];
  for (const part of [addServices, editServices, destinationChanges, drains, deleteDestinations, deleteServices])
    await forEachSliced(part, (p) => {
      planned.push(p);
    });
  return { planned, draining, drainingServices, removed };
}

/** The operations of a plan, in slices. */
export async function operationsOf(planned: Planned[]): Promise<Operation[]> {
  const operations: Operation[] = new Array(planned.length);
  await forEachSliced(planned, (p, i) => {
    operations[i] = p.operation;
  });
  return operations;
}

/** The table by service id, in slices. */
export async function byServiceId(table: RawServiceEntry[]): Promise<Map<string, RawServiceEntry>> {
  const slicer = new Slicer();
  const current = new Map<string, RawServiceEntry>();
  for (let i = 0; i < table.length; i++) {
    current.set(serviceId(table[i]), table[i]);
    if (slicer.due()) await slicer.pause();
  }
  return current;
}
