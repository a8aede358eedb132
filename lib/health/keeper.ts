// Health checks wired to the kernel: a reconciler keeps the desired state
// (the document's services, each sorry server among them), a HealthMonitor
// runs the checks, and its weight decisions reach the kernel as the
// reconciler's overrides (sink.ts). What `ipvs check FILE` runs.
//
// A restart writes nothing: the kernel's weights are read first; the
// overrides that hold them as they are go in the same send as the desired
// state, and the monitor starts from the same weights, so a weight changes
// only when a check says so.
import { EventEmitter } from 'events';
import type { IpvsHandle } from '../ipvs-handle';
import type { Reconciler, ReconcilerOptions, ReconcileResult } from '../desired/reconciler';
import type { DesiredService } from '../types';
import { serviceIdOf, type HealthService } from './document';
import type { HealthMetrics } from './metrics';
import { HealthMonitor, type HealthEvent, type HealthMonitorOptions } from './monitor';
import { runNotify, type NotifyOutcome } from './notify';
import type { InitialTable } from './monitor';
import { initialOverrides, overrideSink, withSorryServers, type OverrideChange } from './sink';

export interface HealthKeeperOptions extends Pick<ReconcilerOptions, 'drain'>, Pick<HealthMonitorOptions, 'batchWindowMs' | 'batchMaxDelayMs'> {
  /** Where the health metrics go (default: a registry of their own, `keeper.monitor.metrics.registry`). */
  metrics?: HealthMetrics;
}

/** A notify command that ran: the event it was for and how it ended. */
export interface NotifyEvent {
  state: 'up' | 'down';
  event: HealthEvent;
  command: string[];
  outcome: NotifyOutcome;
}

function failures(result: ReconcileResult): string | undefined {
  const { failed, unknown, unsent } = result.counts;
  if (failed + unknown + unsent === 0) return undefined;
  const bad = result.changes.find((x) => x.status === 'failed' || x.status === 'unknown' || x.status === 'unsent');
  return `${failed} failed, ${unknown} unknown, ${unsent} unsent${bad?.error ? `: ${bad.error.message}` : ''}`;
}

/**
 * Events: those of `monitor` (up, down, checkError, refusal, quorum,
 * sinkError) are emitted there; here 'weights' (WeightChange[]) after each
 * batch reached the kernel, and 'notify' (NotifyEvent) after each notify
 * command ends.
 */
export class HealthKeeper extends EventEmitter {
  private readonly notifying = new Set<Promise<void>>();

  /** The health specs the checks run (the sink measures its decisions against their weights). */
  private health: HealthService[];

  private constructor(
    private readonly handle: IpvsHandle,
    /** The ids of the services it owns (the reconciler's `owns`), changed by update(). */
    private readonly owned: Set<string>,
    health: readonly HealthService[],
    readonly reconciler: Reconciler,
    readonly monitor: HealthMonitor,
    /** What the first send did: the desired state and the overrides that keep the kernel's weights. */
    readonly adopted: ReconcileResult,
  ) {
    super();
    this.health = [...health];
  }

  /**
   * Reads the kernel's weights, makes the owned part of the table (the
   * services of `desired`) equal to `desired` without changing any checked
   * destination's weight, and starts the checks. Rejects if that first send
   * fails.
   */
  static async start(handle: IpvsHandle, desired: readonly DesiredService[], health: readonly HealthService[], options: HealthKeeperOptions = {}): Promise<HealthKeeper> {
    const table = await handle.list();
    const owned = new Set(desired.map((s, i) => serviceIdOf(s, `desired[${i}]`)));
    const reconciler = await handle.reconciler({ owns: (s) => owned.has(serviceIdOf(s)), ...(options.drain === undefined ? {} : { drain: options.drain }) });
    let adopted: ReconcileResult;
    try {
      // One burst, so one send: the overrides are in place before the desired weights are diffed.
      const [held, set] = await Promise.all([reconciler.overrideMany(initialOverrides(health, table)), reconciler.setDesired(withSorryServers(desired, health))]);
      const bad = failures(set) ?? failures(held);
      if (bad !== undefined) throw new Error(`the desired state was not applied (${bad})`);
      adopted = set;
    } catch (error) {
      await reconciler.close();
      throw error;
    }
    let keeper: HealthKeeper | undefined;
    const monitor = new HealthMonitor(health, {
      initial: table,
      sink: { setWeights: (changes) => overrideSink(reconciler, keeper?.health ?? health).setWeights(changes).then(() => void keeper?.emit('weights', changes)) },
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.batchWindowMs === undefined ? {} : { batchWindowMs: options.batchWindowMs }),
      ...(options.batchMaxDelayMs === undefined ? {} : { batchMaxDelayMs: options.batchMaxDelayMs }),
    });
    keeper = new HealthKeeper(handle, owned, health, reconciler, monitor, adopted);
    for (const state of ['up', 'down'] as const) {
      monitor.on(state, (event: HealthEvent) => {
        const command = keeper.health.find((s) => s.name === event.service)?.notify[state];
        if (command !== undefined) keeper.notify(command, state, event);
      });
    }
    monitor.start();
    return keeper;
  }

  /**
   * Follows a new document (what `ipvs check` does on a reload): the owned
   * part of the table becomes `desired` (services it drops are deleted), the
   * checks follow `health` (unchanged ones keep running with their states,
   * added ones start as the kernel holds their destinations, as at start;
   * see updateOverrides), all in one send. Reads the kernel's weights once.
   */
  async update(desired: readonly DesiredService[], health: readonly HealthService[]): Promise<ReconcileResult> {
    const ids = desired.map((s, i) => serviceIdOf(s, `desired[${i}]`));
    const plain = withSorryServers(desired, health);
    // Owned now: the new services, and (until this send deletes them) the dropped ones.
    const ownedBefore = [...this.owned];
    for (const id of ids) this.owned.add(id);
    try {
      // Checked whole first: a document the reconciler would refuse changes nothing (no override, no service).
      await this.reconciler.check(plain);
    } catch (error) {
      this.owned.clear();
      for (const id of ownedBefore) this.owned.add(id);
      throw error;
    }
    const table = await this.handle.list();
    const before = new Map(this.health.map((s) => [s.id, s]));
    const after = new Map(health.map((s) => [s.id, s]));
    const changes = [...new Set([...before.keys(), ...after.keys()])].map((id) => ({ before: before.get(id), after: after.get(id) }));
    const [, set] = await Promise.all([this.reconciler.overrideMany(updateOverrides(changes, table)), this.reconciler.setDesired(plain)]);
    this.owned.clear();
    for (const id of ids) this.owned.add(id);
    this.health = [...health];
    this.monitor.update(health, table);
    return set;
  }

  private notify(command: string[], state: 'up' | 'down', event: HealthEvent): void {
    const run = runNotify(command, state, event).then((outcome) => {
      this.notifying.delete(run);
      this.emit('notify', { state, event, command, outcome } satisfies NotifyEvent);
    });
    this.notifying.add(run);
  }

  /** Stops the checks and the reconciler; the table is left as it is. Waits for a send under way and for running notify commands. */
  async stop(): Promise<void> {
    await this.monitor.stop();
    await this.reconciler.close();
    await Promise.all([...this.notifying]);
  }
}

/**
 * The overrides that go with a new document, for the services it changes
 * (each as it was, `before`, and as it is, `after`; undefined: no health
 * spec): a checked destination new to the checks (or whose check changed),
 * and a new sorry server, start as `table` (the kernel now) holds them, as at
 * start (initialOverrides: absent, out or at weight 0 until its check brings
 * it up); a destination that loses its check, or leaves, is released (the
 * desired state decides its weight again). Unchanged checks keep theirs.
 */
export function updateOverrides(changes: ReadonlyArray<{ before: HealthService | undefined; after: HealthService | undefined }>, table: InitialTable): OverrideChange[] {
  const fresh: HealthService[] = [];
  const released: OverrideChange[] = [];
  const id = (d: { address: string; port: number }) => `${d.address} ${d.port}`;
  for (const { before, after } of changes) {
    const checkBefore = new Map((before?.destinations ?? []).map((d) => [id(d), d.check?.id ?? null]));
    const stays = new Set<string>();
    if (after !== undefined) {
      for (const d of after.destinations) if (d.check !== null) stays.add(id(d));
      const sorry = after.policy.sorryServer;
      const sorryBefore = before?.policy.sorryServer;
      if (sorry !== undefined) stays.add(id(sorry));
      const sameSorry = sorry !== undefined && sorryBefore !== undefined && id(sorry) === id(sorryBefore);
      fresh.push({
        ...after,
        destinations: after.destinations.filter((d) => d.check !== null && checkBefore.get(id(d)) !== d.check.id),
        policy: sameSorry ? { ...after.policy, sorryServer: undefined } : after.policy,
      });
    }
    if (before === undefined) continue;
    const held = [...before.destinations.filter((d) => d.check !== null), ...(before.policy.sorryServer === undefined ? [] : [before.policy.sorryServer])];
    for (const d of held) if (!stays.has(id(d))) released.push({ service: before.key, destination: { address: d.address, port: d.port }, override: null });
  }
  return [...released, ...initialOverrides(fresh, table)];
}
