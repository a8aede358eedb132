// The fleet agent: one per director, no leader. It keeps the part of this
// director's IPVS table it owns equal to the desired state stored in etcd
// (layout.ts), through a reconciler (lib/desired/reconciler.ts):
//
// - a full read at start, after a compaction or a lost watch, and on a timer
//   (a watch can go silent: the timer is the safety net); a watch from the
//   revision after the last one seen; nothing applied before the first full
//   read (or a saved state) gives it the whole picture;
// - each update applied as the changes it holds, by key (O(change)); bursts
//   coalesce, as one transaction's keys arrive in one watch response;
// - an update removing more services and destinations than the limit is held
//   whole (never half-applied) and reported, until the limit is raised or
//   the update confirmed (PREFIX/confirm at or past its revision);
// - the store lost: the table is kept as it is (never flushed); the last
//   applied state is saved on disk, so an agent restarted without the store
//   serves it; a store revision older than the one applied is refused;
// - its status under PREFIX/status/DIRECTOR on a lease: a dead agent's goes;
// - the services' health checks (their `check` and `health` fields) run by a
//   HealthMonitor that follows each update (checks added, removed or changed;
//   the unchanged ones keep running with their states); its decisions are the
//   reconciler's overrides, and each checked destination's state is in the
//   status.
import { EventEmitter } from 'events';
import * as os from 'os';
import type { IpvsHandle } from '../ipvs-handle';
import type { Drift, Reconciler, ReconcilerCounters, ReconcileResult, ReconcilerOptions } from '../desired/reconciler';
import { hostPort } from '../address';
import type { HealthService } from '../health/document';
import { HealthMonitor, type DestinationStatus, type HealthEvent, type InitialTable } from '../health/monitor';
import { updateOverrides } from '../health/keeper';
import { initialOverrides, overrideSink } from '../health/sink';
import type { ServiceKey } from '../types';
import { describe, expectInteger, expectObject, refuseUnknown } from '../validate';
import { EtcdClient, EtcdError, type Watch, type WatchEnd, type WatchEvent } from './etcd';
import { checkDirector, checkStoredService, effectiveState, layout, parseStored, type Layout, type StoredService } from './layout';
import { readState, writeState } from './state-file';

export interface FleetAgentOptions {
  /** etcd client URLs (http://127.0.0.1:2379, ...), or a client. */
  endpoints: readonly string[] | EtcdClient;
  /** This director's name (its overrides and status key). */
  director: string;
  /** Key prefix of the fleet. Default /ipvs. */
  prefix?: string;
  /** Where the last applied state is kept; none: not kept (a restart without the store waits for it). */
  stateFile?: string;
  /** What it owns of the table (the reconciler's `owns`). Default 'all'. */
  owns?: ReconcilerOptions['owns'];
  /** Services and destinations an update may remove when the store sets no PREFIX/max-deletes. Default: no limit. */
  maxDeletes?: number;
  /** Only report: plans are computed and counted, nothing is sent. */
  dryRun?: boolean;
  drain?: ReconcilerOptions['drain'];
  /** Milliseconds between full reads of the store. Default 60,000. */
  resyncInterval?: number;
  /** Milliseconds between attempts while the store cannot be reached. Default 2,000. */
  retryInterval?: number;
  /** Milliseconds between verifies of the table (drift repaired). Default 0: on demand (verify()). */
  verifyInterval?: number;
  /** Seconds the status key outlives a silent agent (its lease). Default 15. */
  statusTtl?: number;
  /** The reconciler's coalescing (milliseconds). */
  minInterval?: number;
  maxDelay?: number;
}

/** An update held for removing too much. */
export interface HeldUpdate {
  /** The store revision of the held update (confirm at or past it to apply it). */
  revision: number;
  /** Services and destinations it would remove. */
  deletes: number;
  limit: number;
}

export interface AgentError {
  at: string;
  message: string;
}

/** A checked destination's state, as the status carries it. */
export interface DestinationHealth {
  service: string;
  /** 'address:port'. */
  destination: string;
  check: DestinationStatus['check'];
  up: boolean;
  /** Why it went down (or its last failure). */
  reason: string;
  /** The weight the checks gave it (null: out of the service). */
  weight: number | null;
}

/** The health checks' states in the status. */
export interface AgentHealth {
  /** Destinations with a check, and how many of them are up. */
  checked: number;
  up: number;
  /** Each checked destination while there are at most HEALTH_LISTED of them, else only the down ones (a status stays small enough to write often). */
  destinations: DestinationHealth[];
}

/** What an agent writes to PREFIX/status/DIRECTOR. */
export interface AgentStatus {
  director: string;
  host: string;
  pid: number;
  /** 'connected': the last call to the store worked. */
  store: 'starting' | 'connected' | 'unreachable';
  /** The latest store revision seen (a full read's, or the last change watched). */
  storeRevision: number;
  /** The store revision whose desired state the table holds (0: none yet). */
  appliedRevision: number;
  /** Where the applied state came from: the store, or the saved state file (store not read yet). */
  source: 'none' | 'saved' | 'store';
  /** Owned services in the applied desired state. */
  services: number;
  held: HeldUpdate | null;
  /** The limit in force (null: none). */
  maxDeletes: number | null;
  dryRun: boolean;
  /** Operations the last update planned (what a dry run would send). */
  planned: number;
  fullReads: number;
  watchRestarts: number;
  heldUpdates: number;
  counters: ReconcilerCounters;
  /** Drift found by verifies (repaired): the total, and the latest few. */
  drift: { total: number; last: Array<{ kind: Drift['kind']; service: string; destination?: string }> };
  /** The latest errors (store, invalid values, refused writes). */
  errors: AgentError[];
  health: AgentHealth;
  updatedAt: string;
}

const OPTIONS = new Set([
  'endpoints', 'director', 'prefix', 'stateFile', 'owns', 'maxDeletes', 'dryRun', 'drain', 'resyncInterval', 'retryInterval', 'verifyInterval', 'statusTtl', 'minInterval', 'maxDelay',
]);
const KEPT = 10;
const HEALTH_LISTED = 1000;

interface Settings {
  resyncMs: number;
  retryMs: number;
  statusTtl: number;
  maxDeletes: number;
}

/**
 * Events: 'applied' ({ revision, result }), 'held' (HeldUpdate), 'error'
 * (AgentError, also kept in the status), 'status' (AgentStatus written).
 */
export class FleetAgent extends EventEmitter {
  private readonly keys: Layout;
  private readonly etcd: EtcdClient;
  private reconciler!: Reconciler;
  private monitor!: HealthMonitor;
  /** The health specs of the applied services (what the monitor runs, and the desired weights its overrides are measured against). */
  private health: HealthService[] = [];
  /** Data keys of the store this director reads (its overrides, the shared services), as stored text. */
  private readonly stored = new Map<string, string>();
  /** Parsed values by key and text (a value is checked once). */
  private readonly parsed = new Map<string, { text: string; value: StoredService | null | Error }>();
  private storeMaxDeletes: number | undefined;
  private confirmed = 0;
  private storeKnown = false;
  /** The applied desired state, by service id. */
  private applied = new Map<string, StoredService>();
  private firstSync = true;
  private pendingSignature = '';
  private pendingRevision = 0;
  private watch: Watch | null = null;
  private watchFrom = 0;
  private resyncTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private lease: string | null = null;
  private syncing: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private readonly state: AgentStatus;

  private constructor(
    private readonly handle: IpvsHandle,
    private readonly options: FleetAgentOptions,
    private readonly settings: Settings,
  ) {
    super();
    this.keys = layout(options.prefix);
    this.etcd = options.endpoints instanceof EtcdClient ? options.endpoints : new EtcdClient(options.endpoints);
    this.state = {
      director: options.director, host: os.hostname(), pid: process.pid, store: 'starting', storeRevision: 0, appliedRevision: 0, source: 'none', services: 0,
      held: null, maxDeletes: null, dryRun: options.dryRun === true, planned: 0, fullReads: 0, watchRestarts: 0, heldUpdates: 0,
      counters: { sends: 0, operations: 0, verifies: 0, drifts: 0, readBacks: 0 }, drift: { total: 0, last: [] }, errors: [], health: { checked: 0, up: 0, destinations: [] },
      updatedAt: new Date().toISOString(),
    };
  }

  /**
   * Starts an agent on `handle` (its network namespace's table): adopts the
   * table (one read, no writes), serves the saved state if there is one,
   * then reads the store and follows it until close().
   */
  static async start(handle: IpvsHandle, options: FleetAgentOptions): Promise<FleetAgent> {
    const o = expectObject(options, 'options');
    for (const key of Object.keys(o)) if (!OPTIONS.has(key) && o[key] !== undefined) refuseUnknown(key, 'options', OPTIONS);
    checkDirector(o.director);
    const ms = (name: string, fallback: number, min = 0) => (o[name] === undefined ? fallback : expectInteger(o[name], `options.${name}`, min, 2 ** 31 - 1));
    if (o.stateFile !== undefined && (typeof o.stateFile !== 'string' || o.stateFile.length === 0))
      throw new TypeError(`Expected a file name for options.stateFile but received ${describe(o.stateFile)}`);
    const settings: Settings = {
      resyncMs: ms('resyncInterval', 60_000, 1),
      retryMs: ms('retryInterval', 2_000, 1),
      statusTtl: ms('statusTtl', 15, 2),
      maxDeletes: o.maxDeletes === undefined ? Infinity : expectInteger(o.maxDeletes, 'options.maxDeletes', 0, Number.MAX_SAFE_INTEGER),
    };
    const agent = new FleetAgent(handle, options, settings);
    await agent.begin();
    return agent;
  }

  private async begin(): Promise<void> {
    const o = this.options;
    const saved = o.stateFile === undefined ? undefined : await readState(o.stateFile);
    // maxDeletes is the agent's own (it holds whole updates); the reconciler gets none.
    this.reconciler = await this.handle.reconciler({
      owns: o.owns ?? 'all', dryRun: o.dryRun, drain: o.drain, verifyInterval: o.verifyInterval, minInterval: o.minInterval, maxDelay: o.maxDelay,
    });
    this.reconciler.on('drift', (d: Drift) => this.noteDrift(d));
    this.reconciler.on('error', (error: unknown) => this.fail(`reconciler: ${(error as Error)?.message ?? error}`));
    // The kernel's weights: checks start in the states they say, so a restart changes no weight until a check does.
    const table = await this.handle.list();
    this.monitor = new HealthMonitor([], {
      initial: table,
      // Once a batch is in the table the status says so (the weights it reports are the ones sent).
      sink: { setWeights: (changes) => overrideSink(this.reconciler, this.health).setWeights(changes).then(() => this.scheduleStatus()) },
    });
    for (const state of ['up', 'down'] as const) this.monitor.on(state, (event: HealthEvent) => this.onHealth(state, event));
    this.monitor.on('sinkError', (error: unknown) => this.fail(`health: ${(error as Error)?.message ?? error}`));
    if (saved !== undefined) {
      // The last applied state: what the table held when this agent (or its predecessor) last applied.
      const services = new Map<string, StoredService>();
      saved.services.forEach((text, i) => {
        const s = parseStored(`${o.stateFile}: services[${i}]`, text);
        if (s !== null) services.set(s.id, s);
      });
      this.health = healthOf(services);
      // The overrides that keep the kernel's weights of checked destinations go in the same send as the state.
      const [, result] = await Promise.all([
        this.reconciler.overrideMany(initialOverrides(this.health, table)),
        this.reconciler.setDesired([...services.values()].map((s) => s.service)),
      ]);
      this.monitor.update(this.health, table);
      this.applied = services;
      this.firstSync = false;
      this.state.appliedRevision = saved.revision;
      this.state.storeRevision = saved.revision;
      this.state.source = 'saved';
      this.note(result);
    } else {
      // No saved state: what an update removes is counted against the table as adopted.
      const owned = this.options.owns ?? 'all';
      for (const service of table) {
        if (owned !== 'all' && owned(service) !== true) continue;
        // apply() takes list()'s shape as it is; the text is never a store's, so every service counts as changed at the first read.
        const s = checkStoredService(service, 'table', '');
        this.applied.set(s.id, s);
      }
    }
    this.state.services = this.applied.size;
    this.monitor.start();
    this.scheduleStatus();
    this.keepAliveTimer = setInterval(() => void this.keepAlive(), Math.max(1, Math.floor(this.settings.statusTtl / 3)) * 1000);
    void this.fullRead();
  }

  /** The agent's status (what it writes to the store). */
  status(): AgentStatus {
    const s = this.state;
    s.counters = { ...this.reconciler.counters };
    s.drift.total = this.reconciler.counters.drifts;
    const limit = this.limit();
    s.maxDeletes = limit === Infinity ? null : limit;
    s.health = this.healthStatus();
    s.updatedAt = new Date().toISOString();
    return { ...s, drift: { total: s.drift.total, last: [...s.drift.last] }, errors: [...s.errors] };
  }

  /** Verifies the table now (drift repaired); see Reconciler.verify(). */
  async verify(): Promise<{ drift: Drift[] }> {
    const result = await this.reconciler.verify();
    this.scheduleStatus();
    return { drift: result.drift };
  }

  /** Stops following the store; the table is left as it is; the status key is removed with its lease. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    for (const t of [this.resyncTimer, this.statusTimer]) if (t !== null) clearTimeout(t);
    if (this.keepAliveTimer !== null) clearInterval(this.keepAliveTimer);
    await this.syncing;
    await this.monitor.stop();
    await this.reconciler.close();
    if (this.lease !== null) await this.etcd.revokeLease(this.lease).catch(() => undefined);
  }

  // --- Reading the store --------------------------------------------------------------------------

  /** Keys this agent reads: everything under the prefix before PREFIX/status/ (statuses change often and are not its input). */
  private get readEnd(): string {
    return this.keys.status;
  }

  private async fullRead(): Promise<void> {
    if (this.closed) return;
    if (this.resyncTimer !== null) clearTimeout(this.resyncTimer);
    this.resyncTimer = null;
    let read: { revision: number; kvs: Array<{ key: string; value: string }> };
    try {
      read = await this.etcd.range(`${this.keys.prefix}/`, this.readEnd);
    } catch (error) {
      this.unreachable(error);
      this.resyncTimer = setTimeout(() => void this.fullRead(), this.settings.retryMs);
      return;
    }
    if (this.closed) return;
    this.state.store = 'connected';
    if (read.revision < this.state.appliedRevision) {
      // seesaw's rule: an older state never replaces a newer one (a store restored from an old backup, say).
      this.fail(`the store is at revision ${read.revision}, older than the applied ${this.state.appliedRevision}: kept the applied state`);
      this.resyncTimer = setTimeout(() => void this.fullRead(), this.settings.resyncMs);
      return;
    }
    this.stored.clear();
    this.storeMaxDeletes = undefined;
    this.confirmed = 0;
    for (const kv of read.kvs) this.take(kv.key, kv.value);
    this.state.fullReads++;
    this.state.storeRevision = read.revision;
    this.storeKnown = true;
    this.startWatch(read.revision + 1);
    this.resyncTimer = setTimeout(() => void this.fullRead(), this.settings.resyncMs);
    this.kick();
  }

  private startWatch(from: number): void {
    this.watch?.close();
    this.watchFrom = from;
    this.watch = this.etcd.watch(`${this.keys.prefix}/`, this.readEnd, from, (events, _revision) => this.onEvents(events), (end) => this.onWatchEnd(end));
  }

  private onEvents(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'put') this.take(e.key, e.value);
      else this.drop(e.key);
      this.watchFrom = Math.max(this.watchFrom, e.modRevision + 1);
      this.state.storeRevision = Math.max(this.state.storeRevision, e.modRevision);
    }
    this.state.store = 'connected';
    this.kick();
  }

  private onWatchEnd(end: WatchEnd): void {
    this.watch = null;
    if (this.closed) return;
    this.state.watchRestarts++;
    if (end.reason === 'compacted') {
      void this.fullRead();
      return;
    }
    this.unreachable(end.error);
    // Resumed from the revision after the last seen: nothing missed, nothing applied twice.
    setTimeout(() => {
      if (!this.closed && this.watch === null) this.startWatch(this.watchFrom);
    }, this.settings.retryMs);
  }

  /** Takes one key of the store into the view. */
  private take(key: string, value: string): void {
    if (key === this.keys.maxDeletes) {
      const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n)) {
        this.fail(`${key}: expected a non-negative integer but received ${JSON.stringify(value)}: limit 0 until it is one`);
        this.storeMaxDeletes = 0;
      } else this.storeMaxDeletes = n;
    } else if (key === this.keys.confirm) {
      const n = Number(value.trim());
      this.confirmed = Number.isSafeInteger(n) ? n : 0;
    } else if (key.startsWith(this.keys.services) || key.startsWith(this.keys.overrides(this.options.director))) this.stored.set(key, value);
  }

  private drop(key: string): void {
    if (key === this.keys.maxDeletes) this.storeMaxDeletes = undefined;
    else if (key === this.keys.confirm) this.confirmed = 0;
    else this.stored.delete(key);
  }

  private limit(): number {
    return this.storeMaxDeletes ?? this.settings.maxDeletes;
  }

  // --- Applying -----------------------------------------------------------------------------------

  /** Runs a sync now, or once more after the one under way. */
  private kick(): void {
    if (this.syncing !== null) {
      this.again = true;
      return;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        try {
          await this.sync();
        } catch (error) {
          this.fail(`apply: ${(error as Error)?.message ?? error}`);
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.syncing = null;
    });
  }

  private parse(key: string, text: string): StoredService | null | Error {
    const cached = this.parsed.get(key);
    if (cached !== undefined && cached.text === text) return cached.value;
    let value: StoredService | null | Error;
    try {
      value = parseStored(key, text);
    } catch (error) {
      value = error as Error;
    }
    this.parsed.set(key, { text, value });
    return value;
  }

  /** The effective desired state of this director (an invalid value keeps that service's applied state). */
  private effective(): { services: Map<string, StoredService>; invalid: string[] } {
    const appliedByName = new Map<string, StoredService>();
    for (const s of this.applied.values()) appliedByName.set(s.name, s);
    const state = effectiveState(this.keys, this.options.director, this.stored, (key, text) => this.parse(key, text), (name) => appliedByName.get(name));
    for (const p of this.parsed.keys()) if (!this.stored.has(p)) this.parsed.delete(p);
    return state;
  }

  private async sync(): Promise<void> {
    if (!this.storeKnown || this.closed) return;
    const revision = this.state.storeRevision;
    const { services, invalid } = this.effective();
    for (const message of invalid) this.fail(message);
    const changed: string[] = [];
    for (const [id, s] of services) if (this.applied.get(id)?.text !== s.text) changed.push(id);
    for (const id of this.applied.keys()) if (!services.has(id)) changed.push(id);
    if (changed.length === 0 && !this.firstSync) {
      this.state.held = null;
      this.state.source = 'store';
      if (revision !== this.state.appliedRevision) {
        this.state.appliedRevision = revision;
        await this.save();
      }
      this.scheduleStatus();
      return;
    }
    // The held update is known by its content: the revision it had when it last changed.
    const signature = changed.sort().map((id) => `${id}=${services.get(id)?.text ?? ''}`).join('\n');
    if (signature !== this.pendingSignature) {
      this.pendingSignature = signature;
      this.pendingRevision = revision;
    }
    const deletes = countDeletes(changed, this.applied, services);
    const limit = this.limit();
    if (deletes > limit && this.confirmed < this.pendingRevision) {
      const held = { revision: this.pendingRevision, deletes, limit };
      if (this.state.held?.revision !== held.revision) {
        this.state.heldUpdates++;
        this.emit('held', held);
      }
      this.state.held = held;
      this.scheduleStatus();
      return;
    }
    this.state.held = null;
    const results = await this.send(changed, services);
    this.state.appliedRevision = revision;
    this.state.source = 'store';
    this.state.services = this.applied.size;
    this.state.planned = results.reduce((n, r) => n + r.plan.length, 0);
    for (const r of results) this.note(r);
    await this.save();
    this.emit('applied', { revision, results });
    this.scheduleStatus();
  }

  /** Hands the changed services to the reconciler: the whole state the first time (owned services it lacks go), then by key. */
  private async send(changed: string[], services: Map<string, StoredService>): Promise<ReconcileResult[]> {
    // The checks' view of the changed services: the weights the table holds now (the applied state, the checks' decisions over it).
    const table = this.tableOf(this.firstSync ? [...this.applied.keys()] : changed);
    const ids = this.firstSync ? [...new Set([...this.applied.keys(), ...services.keys()])] : changed;
    const overrides = updateOverrides(ids.map((id) => ({ before: this.applied.get(id)?.health, after: services.get(id)?.health })), table);
    if (this.firstSync) {
      const [, result] = await Promise.all([this.reconciler.overrideMany(overrides), this.reconciler.setDesired([...services.values()].map((s) => s.service))]);
      this.firstSync = false;
      this.applied = new Map(services);
      this.followHealth(table);
      return [result];
    }
    const held = this.reconciler.overrideMany(overrides);
    const calls = changed.map((id) => {
      const s = services.get(id);
      return s !== undefined ? this.reconciler.setService(s.service) : this.reconciler.deleteService(this.applied.get(id)!.service);
    });
    const settled = await Promise.allSettled(calls);
    const results = new Set<ReconcileResult>();
    settled.forEach((outcome, i) => {
      const id = changed[i];
      if (outcome.status === 'rejected') {
        // Refused before anything was sent (a check the kernel's features decide): that service keeps its applied state.
        this.fail(`${services.get(id)?.name ?? this.applied.get(id)?.name}: ${(outcome.reason as Error)?.message ?? outcome.reason}`);
        return;
      }
      results.add(outcome.value);
      const s = services.get(id);
      if (s !== undefined) this.applied.set(id, s);
      else this.applied.delete(id);
    });
    await held.catch((error: unknown) => this.fail(`health overrides: ${(error as Error)?.message ?? error}`));
    this.followHealth(table);
    return [...results];
  }

  /** The table as the checks see it, for the services with these ids: each applied destination at the weight it holds now. */
  private tableOf(ids: readonly string[]): InitialTable {
    const table: Array<ServiceKey & { destinations: Array<{ address: string; port: number; weight: number }> }> = [];
    for (const id of ids) {
      const s = this.applied.get(id);
      if (s === undefined) continue;
      const destinations: Array<{ address: string; port: number; weight: number }> = [];
      (s.service.destinations ?? []).forEach((d, j) => {
        // StoredService.destinations holds each one's checked 'address port', in order.
        const [address, port] = splitDestination(s.destinations[j]);
        const held = this.monitor.weightOf(id, address, port);
        if (held === null) return; // taken out of the service by its check
        destinations.push({ address, port, weight: held ?? d.weight ?? 1 });
      });
      table.push({ ...keyOf(s.service), destinations });
    }
    return table;
  }

  /** Hands the applied services' health specs to the monitor (the changed services' checks start from `table`). */
  private followHealth(table: InitialTable): void {
    this.health = healthOf(this.applied);
    this.monitor.update(this.health, table);
    this.scheduleStatus();
  }

  private onHealth(state: 'up' | 'down', event: HealthEvent): void {
    this.emit('health', { state, event });
    this.scheduleStatus();
  }

  private healthStatus(): AgentHealth {
    const checked = this.monitor.states().filter((d) => d.check !== 'none');
    const up = checked.filter((d) => d.up).length;
    const listed = checked.length <= HEALTH_LISTED ? checked : checked.filter((d) => !d.up);
    return {
      checked: checked.length,
      up,
      destinations: listed.map((d) => ({ service: d.service, destination: hostPort(d.destination.address, d.destination.port), check: d.check, up: d.up, reason: d.reason, weight: d.weight })),
    };
  }

  /** Reports the failures of a send (each change's own status). */
  private note(result: ReconcileResult): void {
    for (const c of result.changes) {
      if (c.status === 'failed' || c.status === 'unknown' || c.status === 'unsent') {
        const op = c.operation;
        const what = 'destination' in op && op.destination !== undefined ? `${op.operation} ${JSON.stringify(op.service)} ${JSON.stringify(op.destination)}` : `${op.operation} ${JSON.stringify(op.service)}`;
        this.fail(`${what}: ${c.status}${c.error ? `: ${c.error.message}` : ''}`);
      }
    }
  }

  private async save(): Promise<void> {
    if (this.options.stateFile === undefined || this.options.dryRun) return;
    try {
      await writeState(this.options.stateFile, { revision: this.state.appliedRevision, services: [...this.applied.values()].map((s) => s.text) });
    } catch (error) {
      this.fail(`state file: ${(error as Error).message}`);
    }
  }

  // --- Status -------------------------------------------------------------------------------------

  private noteDrift(d: Drift): void {
    const last = this.state.drift.last;
    last.push({ kind: d.kind, service: JSON.stringify(d.service), destination: d.destination === undefined ? undefined : `${d.destination.address}:${d.destination.port}` });
    if (last.length > KEPT) last.shift();
    this.scheduleStatus();
  }

  private fail(message: string): void {
    const e = { at: new Date().toISOString(), message };
    this.state.errors.push(e);
    if (this.state.errors.length > KEPT) this.state.errors.shift();
    if (this.listenerCount('error') > 0) this.emit('error', e);
    this.scheduleStatus();
  }

  private unreachable(error: unknown): void {
    if (this.state.store !== 'unreachable') this.fail(`store: ${(error as Error)?.message ?? error}`);
    this.state.store = 'unreachable';
  }

  /** Writes the status soon (changes close together make one write). */
  private scheduleStatus(): void {
    if (this.statusTimer !== null || this.closed) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      void this.writeStatus();
    }, 50);
  }

  private async writeStatus(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const status = this.status();
      try {
        if (this.lease === null) this.lease = await this.etcd.grantLease(this.settings.statusTtl);
        await this.etcd.put(this.keys.statusOf(this.options.director), JSON.stringify(status), this.lease);
        this.emit('status', status);
        this.reached();
        return;
      } catch (error) {
        this.lease = null;
        // The store answered but refused: the lease went (expired while the store was down). A new one, at once.
        if (error instanceof EtcdError && error.code === 'ERR_ETCD_REFUSED' && attempt === 1) continue;
        // Written again at the next renewal.
        this.unreachable(error);
        return;
      }
    }
  }

  private async keepAlive(): Promise<void> {
    if (this.closed) return;
    if (this.lease === null) {
      await this.writeStatus();
      return;
    }
    try {
      if ((await this.etcd.keepAlive(this.lease)) === 0) {
        this.lease = null;
        await this.writeStatus();
      } else this.reached();
    } catch (error) {
      this.unreachable(error);
    }
  }

  /** A call to the store worked: it is reachable again (a resumed watch says nothing until a change comes). */
  private reached(): void {
    if (this.state.store === 'connected') return;
    this.state.store = 'connected';
    this.scheduleStatus();
  }
}

function healthOf(services: Map<string, StoredService>): HealthService[] {
  const out: HealthService[] = [];
  for (const s of services.values()) if (s.health !== undefined) out.push(s.health);
  return out;
}

/** 'address port' (StoredService.destinations) as its parts. */
function splitDestination(text: string): [string, number] {
  const at = text.lastIndexOf(' ');
  return [text.slice(0, at), Number(text.slice(at + 1))];
}

function keyOf(service: StoredService['service']): ServiceKey {
  const { protocol, address, port, fwmark, family } = service as ServiceKey & { family?: unknown };
  return (fwmark !== undefined ? { fwmark, ...(family === undefined ? {} : { family }) } : { protocol, address, port }) as ServiceKey;
}

/** Services and destinations that replacing `applied` with `next` removes (what maxDeletes bounds, counted as apply() does). */
export function countDeletes(changed: readonly string[], applied: Map<string, StoredService>, next: Map<string, StoredService>): number {
  let n = 0;
  for (const id of changed) {
    const before = applied.get(id);
    if (before === undefined) continue;
    const after = next.get(id);
    if (after === undefined) {
      n += 1 + before.destinations.length;
      continue;
    }
    const kept = new Set(after.destinations);
    for (const d of before.destinations) if (!kept.has(d)) n++;
  }
  return n;
}
