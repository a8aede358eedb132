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
import { HealthMonitor, type HealthEvent } from './monitor';
import { runNotify, type NotifyOutcome } from './notify';
import { initialOverrides, overrideSink, withSorryServers } from './sink';

export interface HealthKeeperOptions extends Pick<ReconcilerOptions, 'drain'> {
  /** Where the health metrics go (default: a registry of their own, `keeper.monitor.metrics.registry`). */
  metrics?: HealthMetrics;
  /** Milliseconds results gather before their weight changes leave as one send (default 100). */
  batchWindowMs?: number;
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

  private constructor(
    readonly reconciler: Reconciler,
    readonly monitor: HealthMonitor,
    /** What the first send did: the desired state and the overrides that keep the kernel's weights. */
    readonly adopted: ReconcileResult,
  ) {
    super();
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
    const sink = overrideSink(reconciler, health);
    let keeper: HealthKeeper | undefined;
    const monitor = new HealthMonitor(health, {
      initial: table,
      sink: { setWeights: (changes) => sink.setWeights(changes).then(() => void keeper?.emit('weights', changes)) },
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.batchWindowMs === undefined ? {} : { batchWindowMs: options.batchWindowMs }),
    });
    keeper = new HealthKeeper(reconciler, monitor, adopted);
    const byName = new Map(health.map((s) => [s.name, s]));
    for (const state of ['up', 'down'] as const) {
      monitor.on(state, (event: HealthEvent) => {
        const command = byName.get(event.service)?.notify[state];
        if (command !== undefined) keeper.notify(command, state, event);
      });
    }
    monitor.start();
    return keeper;
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
