// A long-lived reconciler: keeps the part of the table it owns equal to a
// desired state, at a cost proportional to what changes. It reads the table
// once (adoption), then trusts a model of it (model.ts): a change is diffed
// against the model (plan.ts) and sent (run.ts), as apply() does, but for the
// services it touches only. It verifies the trust: a write answered
// 'already', refused, or lost makes it read back that service alone and
// repair it; a full verify (on demand, or on an interval) finds what was
// changed behind its back and repairs it, reporting each drift.
//
// It never changes, deletes or reports what it does not own.
import { EventEmitter } from 'events';
import { setImmediate as nextTurn } from 'timers/promises';
import type { RawServiceEntry } from '../addon';
import { Broken, CheckedDestination, CheckedKey, destinationIn, destinationOfEntry, keyOfEntry, serviceId, settleBroken, toDestination, toDestinationKey, toServiceKey } from '../convert';

type ServiceKeyRaw = CheckedKey['key'];
import type { PlanAccess } from '../handle';
import { serviceKeyOf, serviceSpecOf, destinationSettings } from '../listing';
import type { DesiredService, DestinationSpec, ServiceKey, ServiceSpec } from '../types';
import { describe, expectInteger, expectObject, refuseUnknown } from '../validate';
import { DrainClock } from './drain-clock';
import { deleteOwned, flushOwned, Teardown } from './teardown';
import { TableModel } from './model';
import { ApplyOptions, ApplyResult, ChangeResult, NO_CHANGES, Planned, PrunedService } from './operations';
import { CheckedDesired, checkOptions, checkService, CheckedOptions, destinationAt, destinationIndex, diff, operationsOf, Plan, SCAN_LIMIT, Wanted } from './plan';
import { forEachSliced, mapSliced, Slicer } from '../slices';
import { destinationDiffers, runPlan, serviceDiffers } from './run';
import { IpvsError, TOO_MANY_DELETES } from '../errors';

export interface ReconcilerOptions extends Pick<ApplyOptions, 'drain' | 'maxDeletes' | 'onError' | 'dryRun'> {
  /**
   * The part of the table it owns: a predicate over a service's key and
   * settings, or 'all' (the whole table: then deleting everything is one
   * flush). Required: a reconciler never touches what it does not own.
   */
  owns: ((service: PrunedService) => boolean) | 'all';
  /** Milliseconds from the end of one send to the start of the next, at least (changes meanwhile wait and leave as one). Default 0. */
  minInterval?: number;
  /** Milliseconds the first change of a burst waits for others to join it before it is sent. Default 10. */
  maxDelay?: number;
  /** Milliseconds between full verifies; 0 (default): only on demand (verify()). */
  verifyInterval?: number;
  /** Milliseconds between re-reads of services with draining destinations (their connection counts). Default 2,000. */
  drainPoll?: number;
}

/** What an override holds a destination at: a weight, or out of its service. */
export type Override = { weight: number } | { remove: true };

function checkOverride(value: unknown, name: string): Override | null {
  if (value === null) return null;
  const o = expectObject(value, name);
  if (o.remove !== undefined && o.weight !== undefined) throw new TypeError(`Expected either ${name}.weight or ${name}.remove but received both`);
  if (o.remove !== undefined) {
    if (o.remove !== true) throw new TypeError(`Expected true for ${name}.remove but received ${describe(o.remove)}`);
    return { remove: true };
  }
  for (const key of Object.keys(o)) if (key !== 'weight' && o[key] !== undefined) refuseUnknown(key, name, OVERRIDE_FIELDS);
  return { weight: expectInteger(o.weight, `${name}.weight`, 0, 0x7fffffff) };
}

const OVERRIDE_FIELDS = new Set(['weight', 'remove']);
/** Destinations of one service changed by key between two sends past which the service is diffed whole (one pass over it beats a scan per change). */
const SCOPE_LIMIT = 8;

/** A copy of a checked destination at another weight. */
function withWeight(d: CheckedDestination, weight: number): CheckedDestination {
  const c = new CheckedDestination(d.family, d.address, d.port);
  c.forwarding = d.forwarding;
  c.weight = weight;
  c.upperThreshold = d.upperThreshold;
  c.lowerThreshold = d.lowerThreshold;
  if (d.tunnelType !== undefined) c.tunnelType = d.tunnelType;
  if (d.tunnelPort !== undefined) c.tunnelPort = d.tunnelPort;
  if (d.tunnelFlags !== undefined) c.tunnelFlags = d.tunnelFlags;
  return c;
}

/** Something found in the kernel that the model did not expect. */
export interface Drift {
  kind: 'serviceMissing' | 'serviceAdded' | 'serviceChanged' | 'destinationMissing' | 'destinationAdded' | 'destinationChanged';
  service: ServiceSpec;
  destination?: DestinationSpec;
}

/** What one send of the reconciler did (apply()'s result, for the services it covered). */
export type ReconcileResult = ApplyResult;

export interface VerifyResult {
  drift: Drift[];
  /** The repair (nothing planned when there was no drift). */
  repair: ReconcileResult;
}

/** Counters, for the exporter. */
export interface ReconcilerCounters {
  sends: number;
  operations: number;
  verifies: number;
  drifts: number;
  readBacks: number;
}

const OPTIONS = new Set(['owns', 'minInterval', 'maxDelay', 'verifyInterval', 'drainPoll', 'drain', 'maxDeletes', 'onError', 'dryRun']);

const EMPTY_RESULT = (): ReconcileResult => ({ plan: [], changes: [], counts: { ...NO_CHANGES }, draining: [] });

/** What a send did, and the services it left unsure (read back at once) or refused (read back before the next send). */
interface Sent {
  result: ReconcileResult;
  unsure: Map<string, ServiceKeyRaw>;
  refused: Map<string, ServiceKeyRaw>;
}

/** The send that will carry the changes made so far: one promise, shared by every change it carries. */
interface NextSend {
  promise: Promise<ReconcileResult>;
  resolve: (result: ReconcileResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Events: 'drift' (Drift), 'error' (a background send or verify failed; with
 * no listener it is kept for the next call to report).
 */
export class Reconciler extends EventEmitter {
  private readonly model = new TableModel();
  /** The desired state of every owned service that has one. */
  private desired: CheckedDesired = { wanted: new Map(), broken: [] };
  /** Services whose desired state or model changed since the last send. */
  private dirty = new Set<string>();
  /**
   * Dirty services whose every change since the last send was by key, with
   * the destinations those touched: their diff covers those alone (plan.ts
   * Scope). The rest of such a service is as the model holds it, since every
   * other way a service becomes dirty (a whole service, a read-back, a
   * verify, an override, a held change) makes it whole (markWhole).
   */
  private scope = new Map<string, Array<{ address: string; port: number }>>();
  /** Changes refused before anything was sent (maxDeletes): sent again with the next change. */
  private readonly held = new Set<string>();
  /** Services to read back before the next diff (their model is not trusted). */
  private readonly readBack = new Map<string, ServiceKeyRaw>();
  private next: NextSend | null = null;
  private timer: NodeJS.Timeout | null = null;
  private firstPending = 0;
  private lastSendEnd = 0;
  private running: Promise<void> | null = null;
  private verifyTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly clock: DrainClock;
  private readonly opts: CheckedOptions;
  private readonly owned: (entry: RawServiceEntry) => boolean;
  readonly counters: ReconcilerCounters = { sends: 0, operations: 0, verifies: 0, drifts: 0, readBacks: 0 };

  private constructor(
    private readonly access: PlanAccess,
    private readonly settings: { ownsAll: boolean; minInterval: number; maxDelay: number; verifyInterval: number; drainPoll: number },
    owned: (entry: RawServiceEntry) => boolean,
    opts: CheckedOptions,
  ) {
    super();
    this.owned = owned;
    this.opts = opts;
    this.clock = opts.drain?.clock ?? new DrainClock();
  }

  /** @internal Use IpvsHandle.reconciler(). Reads the table once and adopts what it owns; changes nothing. */
  static async start(access: PlanAccess, options: ReconcilerOptions): Promise<Reconciler> {
    const o = expectObject(options, 'options');
    for (const key of Object.keys(o)) if (!OPTIONS.has(key) && o[key] !== undefined) refuseUnknown(key, 'options', OPTIONS);
    let owned: (entry: RawServiceEntry) => boolean;
    if (o.owns === 'all') owned = () => true;
    else if (typeof o.owns === 'function') {
      const predicate = o.owns as (s: PrunedService) => boolean;
      owned = (entry) => predicate(serviceSpecOf(entry)) === true;
    } else throw new TypeError(`Expected a function or 'all' for options.owns but received ${describe(o.owns)}`);
    const ms = (name: string, fallback: number) => (o[name] === undefined ? fallback : expectInteger(o[name], `options.${name}`, 0, 2 ** 31 - 1));
    const { owns: _owns, minInterval: _a, maxDelay: _b, verifyInterval: _c, drainPoll: _d, ...applyOptions } = o;
    const opts = checkOptions(applyOptions, true);
    const r = new Reconciler(
      access,
      { ownsAll: o.owns === 'all', minInterval: ms('minInterval', 0), maxDelay: ms('maxDelay', 10), verifyInterval: ms('verifyInterval', 0), drainPoll: ms('drainPoll', 2000) },
      owned,
      opts,
    );
    await access.job({ operation: 'reconciler', object: '' }, async () => {
      const slicer = new Slicer();
      for (const entry of await access.readTable()) {
        if (owned(entry)) r.model.set(serviceId(entry), entry);
        if (slicer.due()) await slicer.pause();
      }
    });
    if (r.settings.verifyInterval > 0) r.verifyTimer = setInterval(() => r.background(r.verify()), r.settings.verifyInterval).unref();
    return r;
  }

  /** The services it owns, as it believes the kernel holds them (key and settings). */
  get size(): number {
    return this.model.services.size;
  }

  // --- Desired state ------------------------------------------------------------------------

  /**
   * The whole desired state of what it owns: diffed against the model (no
   * kernel read). Owned services it lacks are deleted. Resolves with the
   * result of the send that carried it. Checked in slices (a state of
   * 20,000 services never holds the event loop for long).
   */
  setDesired(desired: readonly DesiredService[]): Promise<ReconcileResult> {
    return this.take(async () => {
      const next = await this.checkDesired(desired);
      const slicer = new Slicer();
      for (const id of this.desired.wanted.keys()) if (!next.wanted.has(id)) this.markWhole(id);
      for (const id of this.model.services.keys()) if (!next.wanted.has(id)) this.markWhole(id);
      for (const [id, w] of next.wanted) {
        if (!sameWanted(this.desired.wanted.get(id), w)) this.markWhole(id);
        if (slicer.due()) await slicer.pause();
      }
      this.desired.wanted = next.wanted;
      this.desired.broken = next.broken;
    });
  }

  /**
   * Checks a whole desired state as setDesired() would (every service owned,
   * every field valid), changing and sending nothing: a caller about to make
   * several changes that belong together (a reload) checks first, so that
   * none is made when one would be refused.
   */
  async check(desired: readonly DesiredService[]): Promise<void> {
    await this.checkDesired(desired);
  }

  private async checkDesired(desired: readonly DesiredService[]): Promise<CheckedDesired> {
    if (!Array.isArray(desired)) throw new TypeError(`Expected an array of services for desired but received ${describe(desired)}`);
    const next: CheckedDesired = { wanted: new Map(), broken: [] };
    const slicer = new Slicer();
    for (let i = 0; i < desired.length; i++) {
      this.requireOwned(checkService(this.access, desired[i], `desired[${i}]`, next), `desired[${i}]`);
      if (slicer.due()) await slicer.pause();
    }
    return next;
  }

  /** One service's desired state (with its destinations), by its key. */
  setService(service: DesiredService): Promise<ReconcileResult> {
    return this.take(() => this.putService(service));
  }

  private putService(service: DesiredService): void {
    const into: CheckedDesired = { wanted: new Map(), broken: [] };
    const w = checkService(this.access, service, 'service', into);
    this.requireOwned(w, 'service');
    // The rules this service breaks replace those it broke before.
    if (into.broken.length > 0 || this.desired.broken.length > 0)
      this.desired.broken = [...this.desired.broken.filter((b) => b.service.id !== w.s.id), ...into.broken];
    if (!sameWanted(this.desired.wanted.get(w.s.id), w)) this.markWhole(w.s.id);
    this.desired.wanted.set(w.s.id, w);
  }

  /** Removes one service (with its destinations) from the desired state. */
  deleteService(key: ServiceKey): Promise<ReconcileResult> {
    return this.take(() => {
      const id = toServiceKey(key).id;
      this.desired.wanted.delete(id);
      if (this.desired.broken.length > 0) this.desired.broken = this.desired.broken.filter((b) => b.service.id !== id);
      this.markWhole(id);
    });
  }

  /**
   * One destination of a service in the desired state added or changed (the
   * service must be in it). Checks that destination alone: a change costs
   * the same whatever the service's size.
   */
  setDestination(key: ServiceKey, destination: DestinationSpec): Promise<ReconcileResult> {
    return this.take(() => {
      const w = this.wantedOf(key);
      const into: Broken = [];
      const d = toDestination(destination, w.s, 'destination', into);
      if (d.family !== w.s.raw.family || d.tunnelType || d.tunnelFlags) this.access.requireFeatures(d, w.s, this.access.describeCall('apply', w.s, undefined, d.name));
      this.replaceBroken(w.s.id, d, into);
      const at = destinationAt(w, d.address, d.port);
      const specs = w.specs.slice();
      if (at !== undefined && sameDestination(w.checked[at], d)) {
        // The same settings: the spec is kept (what operations report), nothing to send.
        specs[at] = destination;
        this.desired.wanted.set(w.s.id, { ...w, specs });
        return;
      }
      const checked = w.checked.slice();
      if (at !== undefined) {
        specs[at] = destination;
        checked[at] = d;
      } else {
        specs.push(destination);
        checked.push(d);
      }
      this.putWanted(w, specs, checked, at === undefined, d);
    });
  }

  /** One destination removed from a service's desired state (drained first with the drain option). */
  deleteDestination(key: ServiceKey, destination: Pick<DestinationSpec, 'address' | 'port'>): Promise<ReconcileResult> {
    return this.take(() => {
      const w = this.wantedOf(key);
      const d = toDestinationKey(destination, w.s);
      const at = destinationAt(w, d.address, d.port);
      if (at === undefined) return;
      this.replaceBroken(w.s.id, d, []);
      const specs = w.specs.slice();
      const checked = w.checked.slice();
      specs.splice(at, 1);
      checked.splice(at, 1);
      this.putWanted(w, specs, checked, true, d);
    });
  }

  /** The desired state of the service at `key`; a RangeError when it has none. */
  private wantedOf(key: ServiceKey): Wanted {
    const k = toServiceKey(key);
    const w = this.desired.wanted.get(k.id);
    if (w === undefined) throw new RangeError(`Expected a service of the desired state for key but received ${k.name} (setService it first)`);
    return w;
  }

  /** A service to diff whole at the next send. */
  private markWhole(id: string): void {
    this.dirty.add(id);
    this.scope.delete(id);
  }

  /** One destination of a service to diff at the next send (the service's other changes pending, if any, keep theirs). */
  private markDestination(id: string, d: { address: string; port: number }): void {
    if (this.dirty.has(id) && !this.scope.has(id)) return; // diffed whole already
    let list = this.scope.get(id);
    if (list === undefined) this.scope.set(id, (list = []));
    for (let k = 0; k < list.length; k++) if (list[k].port === d.port && list[k].address === d.address) return;
    // Many changes to one service: one diff of it is cheaper than a scan per change.
    if (list.length >= SCOPE_LIMIT) return this.markWhole(id);
    list.push({ address: d.address, port: d.port });
    this.dirty.add(id);
  }

  /** A service's destination lists replaced (new arrays: a send under way keeps the ones it diffs); `touched` is the one changed. */
  private putWanted(w: Wanted, specs: DestinationSpec[], checked: CheckedDestination[], moved: boolean, touched: { address: string; port: number }): void {
    const ids = moved || (w.ids === null) !== (checked.length <= SCAN_LIMIT) ? destinationIndex(checked) : w.ids;
    this.desired.wanted.set(w.s.id, { spec: w.spec, s: w.s, specs, checked, ids });
    this.markDestination(w.s.id, touched);
  }

  /** The library rules one destination of a service breaks (none: `into` empty) replace those it broke before. */
  private replaceBroken(id: string, d: CheckedDestination, into: Broken): void {
    if (this.desired.broken.length === 0 && into.length === 0) return;
    this.desired.broken = [
      ...this.desired.broken.filter((b) => b.service.id !== id || b.destination === undefined || b.destination.address !== d.address || b.destination.port !== d.port),
      ...into,
    ];
  }

  /** Changes are taken in call order (a whole state is checked in slices), then sent with those made near them. */
  private intake: Promise<unknown> = Promise.resolve();
  /** Changes taken but not yet run (waiting behind one that is checked in slices). */
  private queued = 0;

  private take(change: () => void | Promise<void>): Promise<ReconcileResult> {
    if (this.closed) return Promise.reject(new Error('the reconciler is closed'));
    if (this.queued === 0) {
      // Nothing ahead of it: a change by key runs now (no promise of its own), a whole state starts now.
      let running: void | Promise<void>;
      try {
        running = change();
      } catch (error) {
        return Promise.reject(error);
      }
      if (running === undefined) return this.schedule();
      return this.chain(running);
    }
    return this.chain(this.intake.then(change));
  }

  /** Queues a change behind those taken before it; `next` (a send by default) follows once it ran. */
  private chain(taken: Promise<void>, next: () => Promise<ReconcileResult> = () => this.schedule()): Promise<ReconcileResult> {
    this.queued++;
    const done = taken.finally(() => this.queued--);
    this.intake = done.catch(() => undefined);
    return done.then(next);
  }

  private requireOwned(w: Wanted, name: string): void {
    const probe = { ...w.s.raw, stats: null } as RawServiceEntry;
    if (!this.owned(probe)) throw new RangeError(`Expected a service this reconciler owns for ${name} but received ${w.s.name}`);
  }

  // --- Overrides: decisions the desired state does not make (health checks) ---------------------

  /**
   * Holds one destination at a weight, or out of its service, whatever the
   * desired state says of its weight; null lets the desired state decide again.
   * For health checks: a resync or a new desired state never undoes an
   * override, and an override never fights a drain (a destination the desired
   * state drops leaves, override or not; an override of a destination not in
   * the desired state waits until it is). `remove` deletes it (drained first
   * with the drain option).
   */
  override(service: ServiceKey, destination: Pick<DestinationSpec, 'address' | 'port'>, override: Override | null): Promise<ReconcileResult> {
    return this.overrideMany([{ service, destination, override }]);
  }

  /** Several overrides, sent together (a burst of health results leaves as one send). */
  overrideMany(changes: ReadonlyArray<{ service: ServiceKey; destination: Pick<DestinationSpec, 'address' | 'port'>; override: Override | null }>): Promise<ReconcileResult> {
    return this.take(() => {
      if (!Array.isArray(changes)) throw new TypeError(`Expected an array of overrides but received ${describe(changes)}`);
      const checked = changes.map((c, i) => {
        const name = `changes[${i}]`;
        expectObject(c, name);
        const k = toServiceKey(c.service, `${name}.service`);
        const d = toDestinationKey(c.destination, k, `${name}.destination`);
        return { id: k.id, destination: `${d.address} ${d.port}`, override: checkOverride(c.override, `${name}.override`) };
      });
      for (const c of checked) {
        let map = this.overrides.get(c.id);
        if (c.override === null) map?.delete(c.destination);
        else (map ??= this.overrides.set(c.id, new Map()).get(c.id)!).set(c.destination, c.override);
        if (map?.size === 0) this.overrides.delete(c.id);
        this.markWhole(c.id);
      }
    });
  }

  /** Overrides by service id, then by destination ('address port'). */
  private readonly overrides = new Map<string, Map<string, Override>>();

  /** What is wanted of a service: its desired state with the overrides laid over it. */
  private effective(id: string): Wanted | undefined {
    const w = this.desired.wanted.get(id);
    const held = this.overrides.get(id);
    if (w === undefined || held === undefined) return w;
    const specs: DestinationSpec[] = [];
    const checked: CheckedDestination[] = [];
    for (let i = 0; i < w.checked.length; i++) {
      const d = w.checked[i];
      const o = held.get(`${d.address} ${d.port}`);
      if (o === undefined) {
        specs.push(w.specs[i]);
        checked.push(d);
      } else if (!('remove' in o)) {
        specs.push({ ...w.specs[i], weight: o.weight });
        checked.push(withWeight(d, o.weight));
      }
    }
    const ids = destinationIndex(checked);
    return { spec: w.spec, s: w.s, specs, checked, ids };
  }

  // --- Sending -----------------------------------------------------------------------------------

  /** A promise of the send that will carry the changes made so far. */
  private schedule(): Promise<ReconcileResult> {
    if (this.closed) return Promise.reject(new Error('the reconciler is closed'));
    for (const id of this.held) this.markWhole(id);
    this.held.clear();
    // One promise per send, not per change: a burst of 2,200 changes keeps 2,200 fewer objects alive until it leaves.
    if (this.next === null) {
      let resolve!: NextSend['resolve'];
      let reject!: NextSend['reject'];
      const promise = new Promise<ReconcileResult>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      this.next = { promise, resolve, reject };
    }
    const promise = this.next.promise;
    if (this.firstPending === 0) this.firstPending = Date.now();
    this.arm();
    return promise;
  }

  /**
   * Sets the timer for the next send: the first waiting change waits
   * maxDelay for others to join it, and a send starts no sooner than
   * minInterval after the last one ended (kube-proxy's bounded-frequency
   * runner). Changes arriving while a send runs wait for it, and leave together.
   */
  private arm(): void {
    if (this.timer !== null || this.running !== null) return;
    const now = Date.now();
    const at = Math.max(now, this.firstPending + this.settings.maxDelay, this.lastSendEnd + this.settings.minInterval);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.send().finally(() => {
        this.running = null;
        this.lastSendEnd = Date.now();
        if (this.next !== null || this.dirty.size > 0) this.arm();
      });
    }, at - now);
  }

  private async send(): Promise<void> {
    const next = this.next;
    this.next = null;
    this.firstPending = 0;
    try {
      const result = await this.access.job({ operation: 'reconcile', object: '' }, () => this.round());
      next?.resolve(result);
    } catch (error) {
      if (next !== null) next.reject(error);
      else this.background(Promise.reject(error));
    }
  }

  /**
   * One send, inside a job: reads back the services not trusted, diffs the
   * dirty ones against the model, sends, takes the outcomes into the model.
   * Services a lost or 'already' answer left unsure are read back and
   * repaired at once; a refused one is read back before the next send (a
   * retry now would be refused again).
   */
  private async round(): Promise<ReconcileResult> {
    await this.readBackNow();
    return this.settle(await this.sendDirty());
  }

  /** After a send: the services it left unsure are read back and repaired now, the refused ones before the next send. */
  private async settle(first: Sent): Promise<ReconcileResult> {
    let result = first.result;
    if (first.unsure.size > 0) {
      for (const [id, key] of first.unsure) this.readBack.set(id, key);
      await this.readBackNow();
      const repair = await this.sendDirty();
      result = joinResults(result, repair.result);
      for (const [id, key] of repair.unsure) this.readBack.set(id, key);
      for (const [id, key] of repair.refused) this.readBack.set(id, key);
    }
    for (const [id, key] of first.refused) this.readBack.set(id, key);
    return result;
  }

  private async readBackNow(): Promise<void> {
    for (const [id, key] of this.readBack) {
      const entry = await this.access.readService(key);
      this.counters.readBacks++;
      this.model.set(id, entry !== null && this.owned(entry) ? entry : null);
      this.markWhole(id);
    }
    this.readBack.clear();
  }

  private async sendDirty(): Promise<Sent> {
    const dirty = this.dirty;
    const scope = this.scope;
    this.dirty = new Set();
    this.scope = new Map();
    // A held service (its last diff refused) is diffed whole: what was refused is tried again with it.
    for (const id of this.held) scope.delete(id);
    if (dirty.size === 0) return { result: EMPTY_RESULT(), unsure: new Map(), refused: new Map() };
    const wanted = new Map<string, Wanted>();
    const current = new Map<string, RawServiceEntry>();
    // In slices: the 2,200 services of a churn took 14 ms in one turn under emulation.
    const slicer = new Slicer();
    for (const id of dirty) {
      const w = this.effective(id);
      if (w !== undefined) wanted.set(id, w);
      const have = this.model.services.get(id);
      if (have !== undefined) current.set(id, have);
      if (slicer.due()) await slicer.pause();
    }
    let plan: Plan;
    try {
      // Rules broken by desired objects are accepted where the model (the kernel) holds them so.
      settleBroken(
        this.desired.broken.filter((b) => dirty.has(b.service.id)),
        (id) => current.get(id),
      );
      // Every service in `current` is owned: those no longer wanted are deleted.
      // A dry run never brings the model to the desired state, so each send diffs its services whole.
      plan = await diff(wanted, current, { ...this.opts, prune: () => true }, this.clock, this.opts.dryRun ? undefined : scope);
    } catch (error) {
      // Refused before anything was sent (maxDeletes, a rule): the changes are held, not lost,
      // and tried again with the next change or verify (not at once: they would be refused again).
      for (const id of dirty) this.held.add(id);
      throw error;
    }
    this.watchDrains(plan.drainingServices);
    return this.sendPlan(plan);
  }

  /** Sends a plan and takes what it did into the model; says which services to read back. */
  private async sendPlan(plan: Pick<Plan, 'planned' | 'draining'>): Promise<Sent> {
    const unsure = new Map<string, ServiceKeyRaw>();
    const refused = new Map<string, ServiceKeyRaw>();
    // The diff and the send in turns of their own: for one change, the timer's
    // turn ran both (0.3 ms natively, 7-11 ms on the emulated test VM). An
    // empty plan has nothing to send.
    if (plan.planned.length > 0) await nextTurn();
    const operations = await operationsOf(plan.planned);
    if (this.opts.dryRun || plan.planned.length === 0) {
      const changes = await mapSliced(operations, (operation): ChangeResult => ({ operation, status: 'skipped' }));
      return { result: { plan: operations, changes, counts: { ...NO_CHANGES, skipped: changes.length }, draining: plan.draining }, unsure, refused };
    }
    const result = await runPlan(this.access, plan.planned, this.opts);
    this.counters.sends++;
    this.counters.operations += plan.planned.length;
    await this.model.record(plan.planned, result.changes);
    for (let i = 0; i < result.changes.length; i++) {
      const status = result.changes[i].status;
      const p = plan.planned[i];
      if (status === 'failed') refused.set(p.service.id, p.service.key);
      else if (status !== 'applied' && status !== 'skipped') unsure.set(p.service.id, p.service.key);
    }
    // A rollback's operations changed the kernel too: what they touched is read back.
    for (const c of result.rollback?.changes ?? []) {
      const k = toServiceKey(c.operation.service);
      unsure.set(k.id, k.key);
    }
    return { result: { plan: operations, ...result, draining: plan.draining }, unsure, refused };
  }

  /** Services with draining destinations are re-read every drainPoll (their connection counts decide the delete). */
  private readonly draining = new Set<string>();

  private watchDrains(ids: Iterable<string>): void {
    for (const id of ids) this.draining.add(id);
    if (this.draining.size === 0 || this.drainTimer !== null || this.closed) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      const ids = [...this.draining];
      this.draining.clear();
      for (const id of ids) {
        const w = this.desired.wanted.get(id);
        if (w !== undefined) this.readBack.set(id, w.s.key);
      }
      if (ids.length > 0) this.background(this.schedule());
    }, this.settings.drainPoll).unref();
  }

  // --- Verify -----------------------------------------------------------------------------------

  /**
   * Compares the kernel's table with the model on the addon's worker thread
   * (fingerprints: a table without drift makes no JavaScript objects), then
   * reports each drift inside what it owns (made behind its back: 'drift'
   * events, counters) and repairs it toward the desired state, in one job.
   */
  verify(): Promise<VerifyResult> {
    if (this.closed) return Promise.reject(new Error('the reconciler is closed'));
    return this.access.job({ operation: 'verify', object: '' }, async () => {
      this.counters.verifies++;
      for (const id of this.held) this.markWhole(id);
      this.held.clear();
      const drift: Drift[] = [];
      const found = await this.access.verify(this.model.fingerprints);
      for (const entry of found.differing) {
        const id = serviceId(entry);
        const have = this.model.services.get(id);
        if (have === undefined) continue;
        compareEntries(have, entry, drift);
        this.takeTruth(id, entry);
      }
      for (const entry of found.unexpected) {
        if (!this.owned(entry)) continue;
        drift.push({ kind: 'serviceAdded', service: serviceSpecOf(entry) });
        this.takeTruth(serviceId(entry), entry);
      }
      for (const id of found.missing) {
        const have = this.model.services.get(id);
        if (have === undefined) continue;
        drift.push({ kind: 'serviceMissing', service: serviceSpecOf(have) });
        this.takeTruth(id, null);
      }
      this.counters.drifts += drift.length;
      for (const d of drift) this.emit('drift', d);
      const repair = await this.round();
      return { drift, repair };
    });
  }

  private takeTruth(id: string, entry: RawServiceEntry | null): void {
    this.model.set(id, entry);
    this.markWhole(id);
  }

  // --- Teardown ---------------------------------------------------------------------------------

  /**
   * Deletes everything it owns, from the model (no read): one flush when it
   * owns the whole table, else one delete per service, packed. Its
   * operations name each service by its key (the model's services are many,
   * and what they held is gone). Its counts are there at once; its `plan`
   * and `changes` (one per service) are made when first read.
   */
  deleteAll(): Promise<ReconcileResult> {
    if (this.closed) return Promise.reject(new Error('the reconciler is closed'));
    const forget = () => {
      this.desired = { wanted: new Map(), broken: [] };
    };
    const teardown = () => (this.settings.ownsAll ? this.flushAll() : this.deleteOwned());
    // In call order with the changes by key, as take() keeps them.
    if (this.queued > 0) return this.chain(this.intake.then(forget), teardown);
    forget();
    return teardown();
  }

  /**
   * Pending changes that deleteAll() makes moot (their services are no longer
   * desired) are dropped; those of services desired again since it was called
   * stay, for the send that follows it.
   */
  private dropMoot(): void {
    for (const set of [this.dirty, this.held]) for (const id of set) if (!this.desired.wanted.has(id)) set.delete(id);
    for (const id of this.scope.keys()) if (!this.dirty.has(id)) this.scope.delete(id);
  }

  /** The objects the model holds (services and their destinations): what deleting them all removes. */
  private removedByDeleteAll(): number {
    if (this.opts.maxDeletes === Infinity) return 0;
    let removed = 0;
    for (const e of this.model.services.values()) removed += 1 + (e.destinations?.length ?? 0);
    return removed;
  }

  private refuseDeleteAll(): void {
    const removed = this.removedByDeleteAll();
    if (removed > this.opts.maxDeletes)
      throw new IpvsError(`deleteAll would remove ${removed} services and destinations, more than maxDeletes (${this.opts.maxDeletes}); nothing was sent`, {
        code: TOO_MANY_DELETES, errno: 0, operation: 'deleteAll', object: '',
      });
  }

  private deleteOwned(): Promise<ReconcileResult> {
    return this.access.job({ operation: 'deleteAll', object: '' }, async () => {
      // What is not trusted is read first (a lost add may have made a service the model lacks).
      await this.readBackNow();
      this.dropMoot();
      this.refuseDeleteAll();
      if (this.opts.onError === 'rollback' && !this.opts.dryRun) {
        // A rollback re-creates what was deleted: each delete carries its prior (the service as the model holds it).
        const planned: Planned[] = [];
        await forEachSliced([...this.model.services], ([id, e]) => {
          planned.push(new Planned({ operation: 'deleteService', service: serviceKeyOf(e) }, keyOfEntry(e, id), undefined, e));
        });
        return this.settle(await this.sendPlan({ planned, draining: [] }));
      }
      const options = { ...this.opts, onError: this.opts.onError === 'stop' ? ('stop' as const) : ('continue' as const) };
      const operations = this.model.services.size;
      return this.settle(this.takeTeardown(await deleteOwned(this.access, this.model.services, this.model.fingerprints, options), operations));
    });
  }

  private flushAll(): Promise<ReconcileResult> {
    return this.access.job({ operation: 'flush', object: '' }, async () => {
      this.dropMoot();
      this.readBack.clear();
      this.refuseDeleteAll();
      return this.takeTeardown(await flushOwned(this.access, this.model.services, this.opts.dryRun), 1).result;
    });
  }

  /** Takes a teardown's deletes into the model and the counters. */
  private takeTeardown(t: Teardown, operations: number): Sent {
    if (!this.opts.dryRun) {
      if (t.removed.length === this.model.services.size) this.model.clear();
      else for (const id of t.removed) this.model.set(id, null);
      this.counters.sends++;
      this.counters.operations += operations;
    }
    return { result: t.result, unsure: t.unsure, refused: t.refused };
  }

  /** Stops its timers; waits for a send under way. Its table is left as it is. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of [this.timer, this.verifyTimer, this.drainTimer]) if (t !== null) clearTimeout(t);
    if (this.verifyTimer !== null) clearInterval(this.verifyTimer);
    this.timer = this.verifyTimer = this.drainTimer = null;
    this.next?.reject(new Error('the reconciler is closed'));
    this.next = null;
    await this.running;
  }

  /** A background task's failure: an 'error' event when someone listens. */
  private background(task: Promise<unknown>): void {
    task.catch((error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
  }
}

/** Adds to `drift` each difference between the model's entry and the kernel's. */
function compareEntries(have: RawServiceEntry, entry: RawServiceEntry, drift: Drift[]): void {
  const service = serviceSpecOf(entry);
  if (serviceDiffers(have, entry)) drift.push({ kind: 'serviceChanged', service });
  const kernel = entry.destinations ?? [];
  const model = have.destinations ?? [];
  for (const hd of model) {
    const kd = destinationIn(entry, hd);
    if (kd === undefined) drift.push({ kind: 'destinationMissing', service, destination: destinationSettings(hd) });
    else if (destinationDiffers(destinationOfEntry(hd), kd)) drift.push({ kind: 'destinationChanged', service, destination: destinationSettings(kd) });
  }
  for (const kd of kernel)
    if (destinationIn(have, kd) === undefined) drift.push({ kind: 'destinationAdded', service, destination: destinationSettings(kd) });
}

function joinResults(a: ReconcileResult, b: ReconcileResult): ReconcileResult {
  const counts = { ...a.counts };
  for (const k of Object.keys(counts) as Array<keyof typeof counts>) counts[k] += b.counts[k];
  return { plan: [...a.plan, ...b.plan], changes: [...a.changes, ...b.changes], counts, draining: [...a.draining, ...b.draining], rollback: a.rollback ?? b.rollback };
}


/** Whether two checked states of one service ask for the same (each field of what is sent). */
function sameWanted(a: Wanted | undefined, b: Wanted): boolean {
  if (a === undefined) return false;
  const x = a.s.raw;
  const y = b.s.raw;
  if (x.scheduler !== y.scheduler || x.flags !== y.flags || x.timeout !== y.timeout || x.netmask !== y.netmask || x.persistenceEngine !== y.persistenceEngine) return false;
  if (a.checked.length !== b.checked.length) return false;
  for (let i = 0; i < a.checked.length; i++) if (!sameDestination(a.checked[i], b.checked[i])) return false;
  return true;
}

/** Whether two checked destinations ask for the same (each field that is sent). */
function sameDestination(d: CheckedDestination, e: CheckedDestination): boolean {
  if (d.address !== e.address || d.port !== e.port || d.weight !== e.weight || d.forwarding !== e.forwarding) return false;
  if (d.upperThreshold !== e.upperThreshold || d.lowerThreshold !== e.lowerThreshold) return false;
  return d.tunnelType === e.tunnelType && d.tunnelPort === e.tunnelPort && d.tunnelFlags === e.tunnelFlags;
}
