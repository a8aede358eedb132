// The health monitor: runs each distinct check once, however many services
// share the destination (keepalived #2111 ran one per virtual server), feeds
// every result to the rise/fall state of each destination it covers, and
// sends the weights the pools decide to a sink, packed: results that change a
// state gather until none has come for `batchWindowMs` (a burst of failures
// arrives spread over an interval, by the checks' phases: a fixed window cut
// 500 downs into 10 sends), for `batchMaxDelayMs` at most, or until
// `batchMax` of them; then the services they touched are evaluated once and
// all their weight changes go in one setWeights() call. Only changes go, and
// never two calls at once.
//
// Restarts do not flap: each destination starts in the state its kernel
// weight says (weight > 0: up, so `fall` failures before it goes; 0 or
// absent: down until `rise` successes), and the weights already in the
// kernel count as sent.
import { EventEmitter } from 'events';
import { toServiceKey } from '../convert';
import type { ServiceKey } from '../types';
import type { HealthDestination, HealthService } from './document';
import { HealthMetrics } from './metrics';
import { Member, Pool, SORRY_ID } from './pool';
import { ProbeResult, ProbeTarget, Run, startRun } from './probes';
import { Scheduled, Scheduler } from './scheduler';
import type { CheckedCheck, CheckType } from './spec';
import { CheckState } from './state';

/** One weight to set; null: remove the destination (onFailure 'remove'). */
export interface WeightChange {
  service: ServiceKey;
  destination: { address: string; port: number };
  weight: number | null;
}

/** Where weight changes go (the reconciler applies them to the kernel). */
export interface WeightSink {
  setWeights(changes: WeightChange[]): Promise<void>;
}

/** A table as list() returns it (only keys, destinations and weights are read): the kernel's weights at start. */
export type InitialTable = ReadonlyArray<ServiceKey & { destinations?: ReadonlyArray<{ address: string; port: number; weight: number }> }>;

export interface HealthMonitorOptions {
  sink: WeightSink;
  /** The kernel's table at start; destinations missing from it start down (weight 0 or absent). */
  initial?: InitialTable;
  /**
   * A batch is sent once no state has changed for this long (default 100 ms):
   * an isolated change waits this long, and a burst waits until it is quiet.
   */
  batchWindowMs?: number;
  /**
   * The longest a change waits while changes keep coming (default 1500 ms,
   * or batchWindowMs if longer): a long burst leaves in a send per this
   * delay, never held back for good.
   */
  batchMaxDelayMs?: number;
  /** The most results that change a state in one batch (default 10,000; the rest neither open a window nor count). */
  batchMax?: number;
  /** Runs going at once at most. Default 256. */
  concurrency?: number;
  /** Default: new metrics in a registry of their own (`monitor.metrics.registry`). */
  metrics?: HealthMetrics;
  /** For tests of the start jitter; default Math.random. */
  random?: () => number;
}

/** What every event says. */
export interface HealthEvent {
  /** 'service tcp 198.18.0.10:80'. */
  service: string;
  serviceKey: ServiceKey;
  destination: { address: string; port: number };
  check: CheckType | 'none';
  /** 'HTTP 503', 'connect timeout after 2 s', 'exit 1'. */
  reason: string;
}

export interface QuorumEvent {
  service: string;
  serviceKey: ServiceKey;
  held: boolean;
  /** The up destinations' weights, summed. */
  alive: number;
  quorum: number;
}

/** One destination's state, for an exporter or a status page. */
export interface DestinationStatus {
  service: string;
  destination: { address: string; port: number };
  check: CheckType | 'none';
  up: boolean;
  reason: string;
  /** The weight last sent (or found in the kernel); null: absent. */
  weight: number | null;
}

interface MemberRuntime {
  service: ServiceRuntime;
  destination: HealthDestination;
  state: CheckState | null;
  member: Member;
  labels: { service: string; destination: string; check: string };
}

interface ServiceRuntime {
  spec: HealthService;
  pool: Pool;
  members: MemberRuntime[];
  /** Weights as last sent, or as found in the kernel; absent: not in the kernel. */
  sent: Map<string, number | null>;
  nextStepAt: number;
}

interface Checker extends Scheduled {
  check: CheckedCheck;
  target: ProbeTarget;
  members: MemberRuntime[];
  /** Not yet given to the scheduler. */
  fresh: boolean;
  /** The run going now, if any. */
  run: Run | undefined;
}

/** One check runs per (address, port, check). */
function checkerKey(target: ProbeTarget, check: CheckedCheck): string {
  return `${target.address} ${target.port} ${check.id}`;
}

function destinationId(address: string, port: number): string {
  return `${address} ${port}`;
}

function label(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Ports a check needs: a destination on port 0 (a fwmark service's) gives it none. */
const NEEDS_PORT: ReadonlySet<CheckType> = new Set(['tcp', 'http', 'https', 'udp', 'dns']);

/** Where a destination's check runs: its address, and the check's port or else its own. */
export function checkTarget(service: HealthService, d: HealthDestination, check: CheckedCheck): ProbeTarget {
  const port = ('port' in check ? check.port : undefined) ?? d.port;
  if (port === 0 && NEEDS_PORT.has(check.type))
    throw new RangeError(`Expected a check.port for ${check.type} checks of ${service.name}'s destination ${d.address} (its port is 0) but received none`);
  return { address: d.address, port };
}

export class HealthMonitor extends EventEmitter {
  readonly metrics: HealthMetrics;
  private readonly services: ServiceRuntime[] = [];
  private readonly byId = new Map<string, ServiceRuntime>();
  private readonly checkers: Checker[] = [];
  private readonly scheduler: Scheduler<Checker>;
  private readonly sink: WeightSink;
  private readonly batchWindowMs: number;
  private readonly batchMaxDelayMs: number;
  private readonly batchMax: number;
  private readonly dirty = new Set<ServiceRuntime>();
  private pending = 0;
  private windowTimer: NodeJS.Timeout | undefined;
  /** When the open batch's first and latest changes came (performance.now()). */
  private windowOpened = 0;
  private lastChange = 0;
  private stepTimer: NodeJS.Timeout | undefined;
  private stepAt = Infinity;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private running = false;

  constructor(services: readonly HealthService[], options: HealthMonitorOptions) {
    super();
    this.sink = options.sink;
    this.batchWindowMs = options.batchWindowMs ?? 100;
    this.batchMaxDelayMs = options.batchMaxDelayMs ?? Math.max(1500, this.batchWindowMs);
    this.batchMax = options.batchMax ?? 10000;
    if (!(this.batchMaxDelayMs >= this.batchWindowMs))
      throw new RangeError(`Expected a batchMaxDelayMs of at least batchWindowMs (${this.batchWindowMs}) but received ${this.batchMaxDelayMs}`);
    this.metrics = options.metrics ?? new HealthMetrics();
    this.scheduler = new Scheduler<Checker>((c) => this.runCheck(c), options.concurrency ?? 256, options.random);
    this.metrics.watch(this.scheduler.stats);

    this.build(services, options.initial ?? []);
  }

  /**
   * Follows a new document: services, destinations and checks it adds start
   * as `initial` (the kernel's weights now) says, as at construction; the
   * ones it keeps keep their states (a destination whose check is unchanged
   * keeps its rise/fall count, and its check keeps its schedule); the ones
   * it drops stop. Every service of the document is evaluated again with
   * the next batch (a changed weight or policy is sent then).
   */
  update(services: readonly HealthService[], initial: InitialTable = []): void {
    this.build(services, initial);
    if (this.running) void this.flush();
  }

  private build(services: readonly HealthService[], initial: InitialTable): void {
    const kernel = new Map<string, Map<string, number>>();
    initial.forEach((s, i) => {
      const weights = new Map<string, number>();
      for (const d of s.destinations ?? []) weights.set(destinationId(d.address, d.port), d.weight);
      kernel.set(toServiceKey(s, `initial[${i}]`).id, weights);
    });
    const before = new Map(this.services.map((s) => [s.spec.id, s]));
    const checkersBefore = new Map(this.checkers.map((c) => [checkerKey(c.target, c.check), c]));
    const services2: ServiceRuntime[] = [];
    const byCheck = new Map<string, Checker>();
    const now = performance.now();
    for (const spec of services) {
      const inKernel = kernel.get(spec.id) ?? new Map<string, number>();
      const old = before.get(spec.id);
      before.delete(spec.id);
      const samePolicy = old !== undefined && JSON.stringify(old.spec.policy) === JSON.stringify(spec.policy);
      const service: ServiceRuntime = old ?? { spec, pool: new Pool(spec.policy), members: [], sent: new Map(), nextStepAt: Infinity };
      if (old !== undefined && !samePolicy) service.pool = new Pool(spec.policy);
      service.spec = spec;
      const oldMembers = new Map((old?.members ?? []).map((m) => [m.member.id, m]));
      // Weights the kernel holds that this monitor has not sent (new destinations, a new service) count as sent.
      for (const [id, weight] of inKernel) if (!service.sent.has(id)) service.sent.set(id, weight);
      const sorry = spec.policy.sorryServer;
      if (sorry !== undefined && !service.sent.has(SORRY_ID)) service.sent.set(SORRY_ID, inKernel.get(destinationId(sorry.address, sorry.port)) ?? null);
      service.members = [];
      for (const d of spec.destinations) {
        const id = destinationId(d.address, d.port);
        const kept = oldMembers.get(id);
        oldMembers.delete(id);
        let m: MemberRuntime;
        if (kept !== undefined && (kept.destination.check?.id ?? null) === (d.check?.id ?? null)) {
          // The same check: its state goes on; the weight it has when healthy may have changed.
          m = kept;
          m.destination = d;
          m.member.configuredWeight = d.weight;
        } else {
          if (kept !== undefined) this.metrics.up.remove(kept.labels);
          const weight = inKernel.get(id);
          const up = d.check === null || (weight !== undefined && weight > 0);
          const state = d.check === null ? null : new CheckState(d.check.rise, d.check.fall, up, -Infinity);
          // A weight the check reports (command, file) starts as the kernel has it, not at the configured weight.
          const reports = d.check !== null && (d.check.type === 'file' || (d.check.type === 'command' && d.check.dynamicWeight));
          if (state && reports && up) state.reportedWeight = weight ?? undefined;
          m = {
            service,
            destination: d,
            state,
            member: { id, configuredWeight: d.weight, up, since: -Infinity, reportedWeight: state?.reportedWeight },
            labels: { service: spec.name, destination: label(d.address, d.port), check: d.check?.type ?? 'none' },
          };
          this.metrics.up.set(m.labels, up ? 1 : 0);
        }
        service.members.push(m);
        if (d.check === null) continue;
        const target = checkTarget(spec, d, d.check);
        const key = checkerKey(target, d.check);
        let checker = byCheck.get(key);
        if (!checker) {
          checker = checkersBefore.get(key);
          checkersBefore.delete(key);
          if (checker !== undefined) checker.members = [];
          else checker = { check: d.check, target, members: [], intervalMs: d.check.intervalMs, jitterMs: d.check.jitterMs, due: now, slot: -1, removed: false, fresh: true, run: undefined };
          byCheck.set(key, checker);
        }
        checker.members.push(m);
      }
      // Destinations it no longer has: the desired state takes them out, so what was sent of them is forgotten.
      for (const m of oldMembers.values()) {
        this.metrics.up.remove(m.labels);
        service.sent.delete(m.member.id);
      }
      services2.push(service);
      this.dirty.add(service);
    }
    for (const gone of before.values()) {
      for (const m of gone.members) this.metrics.up.remove(m.labels);
      this.dirty.delete(gone);
    }
    for (const c of checkersBefore.values()) {
      this.scheduler.remove(c);
      // Its socket closed now (a native run), not at its deadline: its result has no one to go to.
      c.run?.cancel?.();
    }
    this.services.splice(0, this.services.length, ...services2);
    this.byId.clear();
    for (const s of services2) this.byId.set(s.spec.id, s);
    this.checkers.splice(0, this.checkers.length, ...byCheck.values());
    if (this.running) {
      for (const c of this.checkers) {
        if (!c.fresh) continue;
        c.fresh = false;
        this.scheduler.add(c);
      }
    }
  }

  /** How many checks run (each distinct destination, port and check once). */
  get checkCount(): number {
    return this.checkers.length;
  }

  get schedulerStats() {
    return this.scheduler.stats;
  }

  /** Starts checking; the first evaluation (weights from the kernel's states) is sent at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const c of this.checkers) {
      c.fresh = false;
      this.scheduler.add(c);
    }
    void this.flush();
  }

  /** Stops checking; resolves when the last batch is sent (runs going now finish, their results dropped). */
  async stop(): Promise<void> {
    this.running = false;
    this.scheduler.stop();
    for (const c of this.checkers) {
      this.scheduler.remove(c);
      c.run?.cancel?.();
    }
    if (this.windowTimer) clearTimeout(this.windowTimer);
    if (this.stepTimer) clearTimeout(this.stepTimer);
    this.windowTimer = this.stepTimer = undefined;
    await this.inFlight;
  }

  /** The weight last sent (or found in the kernel) of a destination of the service with this id; undefined: none known. */
  weightOf(serviceId: string, address: string, port: number): number | null | undefined {
    return this.byId.get(serviceId)?.sent.get(destinationId(address, port));
  }

  /** Every destination's state. */
  states(): DestinationStatus[] {
    return this.services.flatMap((s) =>
      s.members.map((m) => ({
        service: s.spec.name,
        destination: { address: m.destination.address, port: m.destination.port },
        check: m.destination.check?.type ?? 'none',
        up: m.member.up,
        reason: m.state?.reason ?? '',
        weight: s.sent.get(m.member.id) ?? null,
      })),
    );
  }

  private event(m: MemberRuntime, reason: string): HealthEvent {
    const d = m.destination;
    return { service: m.service.spec.name, serviceKey: m.service.spec.key, destination: { address: d.address, port: d.port }, check: d.check?.type ?? 'none', reason };
  }

  private async runCheck(c: Checker): Promise<number | undefined> {
    const started = performance.now();
    const run = startRun(c.check, c.target);
    c.run = run;
    const result = await run.result;
    c.run = undefined;
    this.metrics.duration.observe({ check: c.check.type, result: result.cannotRun ? 'error' : result.ok ? 'up' : 'down' }, (performance.now() - started) / 1000);
    // A check dropped by update() while it ran: its result has no one to go to.
    if (this.running && !c.removed) this.deliver(c, result);
    const failing = c.members.some((m) => m.state?.failing === true);
    const delay = failing && c.check.retryDelayMs !== c.check.intervalMs ? c.check.retryDelayMs : undefined;
    // The next run waits until this one's work is over. Only a command's can take long after
    // its result (its process group killed, then reaped; a socket is closed by then): only
    // those are watched, since a timer per run would cost every check.
    if (c.check.type !== 'command') {
      await run.settled;
      return delay;
    }
    let late: NodeJS.Timeout | undefined;
    const stuck = new Promise<void>((resolve) => {
      late = setTimeout(() => {
        for (const m of c.members) this.emit('checkError', this.event(m, `the previous run has not finished ${c.check.intervalMs / 1000} s after its timeout; no new run until it does`));
        this.metrics.errors.inc({ check: c.check.type });
        resolve();
      }, c.check.intervalMs);
    });
    await Promise.race([run.settled, stuck]);
    await run.settled;
    clearTimeout(late);
    return delay;
  }

  private deliver(c: Checker, result: ProbeResult): void {
    if (result.cannotRun) {
      this.metrics.errors.inc({ check: c.check.type });
      for (const m of c.members) this.emit('checkError', this.event(m, result.reason));
      return;
    }
    const now = performance.now();
    let changed = false;
    for (const m of c.members) {
      const state = m.state!;
      const weightBefore = state.reportedWeight;
      const transition = state.record(result, now);
      if (transition !== null) {
        m.member.up = state.up;
        m.member.since = state.since;
        this.metrics.up.set(m.labels, state.up ? 1 : 0);
        this.metrics.transitions.inc({ ...m.labels, to: transition });
        this.emit(transition, this.event(m, result.reason));
        this.dirty.add(m.service);
        changed = true;
      }
      if (state.reportedWeight !== weightBefore && state.up) {
        m.member.reportedWeight = state.reportedWeight;
        this.dirty.add(m.service);
        changed = true;
      }
    }
    // Only results that change something open a window, extend it or count toward batchMax:
    // at thousands of checks a second, every result would keep the window open.
    if (!changed) return;
    this.lastChange = now;
    if (++this.pending >= this.batchMax) void this.flush();
    else if (this.windowTimer === undefined) {
      this.windowOpened = now;
      this.windowTimer = setTimeout(() => this.windowEnds(), this.batchWindowMs);
    }
  }

  /**
   * The window's timer: sends if no change has come for batchWindowMs or the
   * first has waited batchMaxDelayMs, else waits for the sooner of the two.
   * One timer per batch, moved only when it fires: not one per change.
   */
  private windowEnds(): void {
    const now = performance.now();
    // Timers fire up to a millisecond early in their own rounding.
    const at = Math.min(this.lastChange + this.batchWindowMs, this.windowOpened + this.batchMaxDelayMs);
    if (at <= now + 1) void this.flush();
    else this.windowTimer = setTimeout(() => this.windowEnds(), at - now);
  }

  /** Evaluates the services that changed and sends their weight changes as one batch (tests call it to skip the window). */
  flush(): Promise<void> {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    this.pending = 0;
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.send().finally(() => {
      this.inFlight = undefined;
      if (this.again) {
        this.again = false;
        void this.flush();
      }
    });
    return this.inFlight;
  }

  private async send(): Promise<void> {
    const now = performance.now();
    const changes: WeightChange[] = [];
    const applied: Array<{ service: ServiceRuntime; id: string; weight: number | null }> = [];
    const services = [...this.dirty];
    this.dirty.clear();
    for (const s of services) {
      const decision = s.pool.evaluate(s.members.map((m) => m.member), now);
      s.nextStepAt = decision.nextStepAt;
      const policy = s.spec.policy;
      if (policy.quorum > 0) this.metrics.quorum.set({ service: s.spec.name }, decision.quorum ? 1 : 0);
      if (decision.quorumChanged)
        this.emit('quorum', { service: s.spec.name, serviceKey: s.spec.key, held: decision.quorum, alive: decision.alive, quorum: policy.quorum } satisfies QuorumEvent);
      for (const id of decision.newlyRefused) {
        const m = s.members.find((x) => x.member.id === id)!;
        this.metrics.refusals.inc({ service: s.spec.name });
        this.emit('refusal', this.event(m, `kept pooled: depooling it would leave less than ${policy.depoolThreshold} of the service's weight`));
      }
      for (const [id, weight] of decision.weights) {
        if ((s.sent.get(id) ?? null) === weight) continue;
        const d = id === SORRY_ID ? policy.sorryServer! : s.members.find((m) => m.member.id === id)!.destination;
        changes.push({ service: s.spec.key, destination: { address: d.address, port: d.port }, weight });
        applied.push({ service: s, id, weight });
      }
    }
    this.armSteps();
    if (changes.length === 0) return;
    try {
      await this.sink.setWeights(changes);
    } catch (error) {
      this.metrics.sinkFailures.inc();
      // Not recorded as sent: the services are evaluated and sent again with the next batch.
      for (const a of applied) this.dirty.add(a.service);
      this.emit('sinkError', error, changes);
      if (this.running && this.windowTimer === undefined) this.windowTimer = setTimeout(() => void this.flush(), Math.max(this.batchWindowMs, 1000));
      return;
    }
    for (const a of applied) a.service.sent.set(a.id, a.weight);
    this.metrics.weightChanges.inc(changes.length);
  }

  /** One timer for the soonest slow-start step of any service. */
  private armSteps(): void {
    let at = Infinity;
    for (const s of this.services) at = Math.min(at, s.nextStepAt);
    if (at === this.stepAt || !this.running) return;
    if (this.stepTimer) clearTimeout(this.stepTimer);
    this.stepTimer = undefined;
    this.stepAt = at;
    if (at === Infinity) return;
    this.stepTimer = setTimeout(() => {
      this.stepTimer = undefined;
      this.stepAt = Infinity;
      const now = performance.now();
      for (const s of this.services) if (s.nextStepAt <= now + 1) this.dirty.add(s);
      void this.flush();
    }, Math.max(0, at - performance.now()));
  }
}
