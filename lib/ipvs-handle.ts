// IpvsHandle, what open() gives: the kernel calls of KernelHandle (handle.ts)
// plus the desired-state tools of lib/desired/ (apply, batch), which reach
// the handle through its one narrow interface, PlanAccess.
import { addon } from './addon';
import { apply, batch } from './desired/apply';
import { DrainClock } from './desired/drain-clock';
import type { ApplyOptions, ApplyResult, BatchOptions, BatchResult, Operation } from './desired/operations';
import { Reconciler, type ReconcilerOptions } from './desired/reconciler';
import { fromNative } from './errors';
import { KernelHandle } from './handle';
import type { DesiredService } from './types';
import { describe, expectInteger, fields } from './validate';

/** A handle on one network namespace's IPVS. Make one with open(). */
export class IpvsHandle extends KernelHandle {
  /** When each drain began, for apply()s without a clock of their own (see ApplyOptions.drain). */
  private readonly drainClock = new DrainClock();

  /**
   * Makes the table equal `desired` (services in the shape list() returns):
   * adds, changes in place and removes only what differs. See ApplyOptions.
   */
  apply(desired: readonly DesiredService[], options: ApplyOptions = {}): Promise<ApplyResult> {
    // Not async: apply() takes its place in call order now, not a turn later.
    try {
      return apply(this.access, desired, options, this.drainClock);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A long-lived reconciler of the part of the table `options.owns` names:
   * reads the table once and adopts it (changing nothing), then keeps it
   * equal to a desired state at the cost of what changes. See Reconciler.
   */
  reconciler(options: ReconcilerOptions): Promise<Reconciler> {
    try {
      return Reconciler.start(this.access, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends the operations of a plan (what apply({ dryRun: true }) returns), packed, each reported. */
  batch(operations: readonly Operation[], options: BatchOptions = {}): Promise<BatchResult> {
    try {
      return batch(this.access, operations, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** Options of open(). */
export interface OpenOptions {
  /**
   * The network namespace whose IPVS to program: a name under /run/netns
   * (as `ip netns add` makes) or a path such as /proc/<pid>/ns/net.
   * Defaults to the caller's own namespace.
   */
  netns?: string;
  /**
   * How far below the event loop the handle's kernel work runs: each call's
   * thread-pool thread adds this to its nice value while the call runs and
   * gives it back after (an integer from 0 to 19; default 10; 0 leaves the
   * thread's priority alone). Where the loop and the pool share a CPU (a
   * one-CPU VM or container, or every core busy), a long dump or a large
   * send then no longer stretches the loop's turns; the call still gets
   * every cycle the loop leaves idle. Done only where the process may give
   * the priority back (CAP_SYS_NICE or RLIMIT_NICE); elsewhere nothing
   * changes. A higher value favours the loop more against this process's
   * own calls, and also runs those calls behind other processes on a busy
   * machine.
   */
  workerNice?: number;
}

const OPEN_FIELDS = new Set(['netns', 'workerNice']);

function netnsPath(netns: unknown): string | undefined {
  if (netns === undefined) return undefined;
  if (typeof netns !== 'string' || netns.length === 0 || netns.includes('\0'))
    throw new TypeError(`Expected a namespace name or path for options.netns but received ${describe(netns)}`);
  if (netns.includes('/')) return netns;
  if (netns === '.' || netns === '..') throw new RangeError(`Expected a namespace name for options.netns but received ${describe(netns)}`);
  return `/run/netns/${netns}`;
}

/** Opens a handle on the IPVS of this (or the given) network namespace. */
export async function open(options: OpenOptions = {}): Promise<IpvsHandle> {
  const handle = createHandle(options);
  try {
    await handle.ready;
  } catch (error) {
    // A path is named in full unless absurdly long (the message never echoes megabytes).
    const netns = handle.netns && handle.netns.length > 256 ? `${handle.netns.slice(0, 256)}... (${handle.netns.length} characters)` : handle.netns;
    throw fromNative(error, { operation: 'open', object: netns ? `network namespace ${netns}` : '' });
  }
  return handle;
}

/**
 * A handle whose socket is still opening: calls made on it wait for the open
 * and fail with its error if it fails. Validates `options` at once.
 */
export function createHandle(options: OpenOptions = {}): IpvsHandle {
  const o = fields(options, 'options', OPEN_FIELDS);
  const path = netnsPath(o.netns);
  // Absent: the addon's default (native/worker_priority.h).
  const workerNice = o.workerNice === undefined ? undefined : expectInteger(o.workerNice, 'options.workerNice', 0, 19);
  const native = new addon.Handle();
  return new IpvsHandle(native, native.open(path, workerNice), path);
}

