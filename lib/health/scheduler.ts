// When checks run. One timer for all of them: due times sit in a binary heap
// and the timer is armed for the earliest, so 10,000 checks cost one timer,
// not 10,000 setIntervals. Each check keeps a fixed rate: its next run is due
// one interval after its previous due time, not after its previous run ended,
// so lateness never accumulates (keepalived #2271's drift). A check never
// has two runs at once: the next due time is set only when the run has
// finished (a command's process reaped). Runs start at most `concurrency` at
// a time (bounding sockets and processes), and at most BURST per event-loop
// turn, so a crowd of due checks never holds the loop.

/** Starts per event-loop turn. */
const BURST = 128;

export interface SchedulerStats {
  /** Runs started. */
  runs: number;
  /** Periods skipped whole because a check's previous run (or the queue ahead of it) took past the next due time. */
  skipped: number;
  /** The latest any run started after its due time, and the sum over all runs, in milliseconds. */
  maxLagMs: number;
  totalLagMs: number;
  /** Runs going now. */
  active: number;
  /** Due runs waiting for a free slot. */
  waiting: number;
}

export interface Scheduled {
  readonly intervalMs: number;
  readonly jitterMs: number;
  /** When the next run is due (performance.now() time). */
  due: number;
  /** Position in the heap, -1 when not in it (running, waiting, or removed). */
  slot: number;
  removed: boolean;
}

/**
 * `run` is one run of a check; it resolves when the run is over with the
 * delay before the next one when that is not the fixed rate (a retry after
 * a failure), or undefined.
 */
export type RunFn<T extends Scheduled> = (entry: T) => Promise<number | undefined>;

export class Scheduler<T extends Scheduled> {
  private readonly heap: T[] = [];
  private readonly ready: T[] = [];
  private readyHead = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private pumping = false;
  private stopped = false;
  readonly stats: SchedulerStats = { runs: 0, skipped: 0, maxLagMs: 0, totalLagMs: 0, active: 0, waiting: 0 };

  constructor(
    private readonly run: RunFn<T>,
    private readonly concurrency: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Schedules a check's first run at a random time within its jitter. */
  add(entry: T): void {
    entry.removed = false;
    entry.due = performance.now() + this.random() * entry.jitterMs;
    this.push(entry);
    this.arm();
  }

  /** No more runs of this check (a run going now finishes, its result still delivered). */
  remove(entry: T): void {
    entry.removed = true;
    if (entry.slot >= 0) this.take(entry.slot);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.stopped || this.heap.length === 0) return;
    const at = this.heap[0].due;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - performance.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    // Timers fire up to a millisecond early in their own rounding: take what is due within it.
    const now = performance.now() + 1;
    while (this.heap.length > 0 && this.heap[0].due <= now) this.ready.push(this.take(0));
    this.pump();
    this.arm();
  }

  private pump(): void {
    let started = 0;
    while (this.readyHead < this.ready.length && this.stats.active < this.concurrency && !this.stopped) {
      if (started === BURST) {
        this.deferPump();
        break;
      }
      const entry = this.ready[this.readyHead++];
      if (entry.removed) continue;
      started++;
      this.start(entry);
    }
    if (this.readyHead === this.ready.length) {
      this.ready.length = 0;
      this.readyHead = 0;
    }
    this.stats.waiting = this.ready.length - this.readyHead;
  }

  private start(entry: T): void {
    const started = performance.now();
    const lag = Math.max(0, started - entry.due);
    this.stats.runs++;
    this.stats.totalLagMs += lag;
    if (lag > this.stats.maxLagMs) this.stats.maxLagMs = lag;
    this.stats.active++;
    this.run(entry).then(
      (delay) => this.finished(entry, delay),
      () => this.finished(entry, undefined),
    );
  }

  private finished(entry: T, delay: number | undefined): void {
    this.stats.active--;
    if (!entry.removed && !this.stopped) {
      const now = performance.now();
      if (delay !== undefined) entry.due = now + delay;
      else {
        entry.due += entry.intervalMs;
        // Late by a whole period or more: skip to the next due time ahead, keeping the phase.
        if (entry.due <= now) {
          const periods = Math.ceil((now - entry.due) / entry.intervalMs);
          entry.due += periods * entry.intervalMs;
          this.stats.skipped += periods;
        }
      }
      this.push(entry);
      this.arm();
    }
    // Not started from here: a run ends inside an I/O callback, and the loop's poll phase can hold
    // hundreds of them; starting a run in each would make that one phase as long as all their starts.
    this.deferPump();
  }

  private deferPump(): void {
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      this.pump();
    });
  }

  // --- the heap, ordered by due time ---

  private push(entry: T): void {
    entry.slot = this.heap.length;
    this.heap.push(entry);
    this.up(entry.slot);
  }

  private take(slot: number): T {
    const heap = this.heap;
    const entry = heap[slot];
    const last = heap.pop()!;
    if (slot < heap.length) {
      heap[slot] = last;
      last.slot = slot;
      this.down(slot);
      this.up(last.slot);
    }
    entry.slot = -1;
    return entry;
  }

  private up(i: number): void {
    const heap = this.heap;
    const entry = heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].due <= entry.due) break;
      heap[i] = heap[parent];
      heap[i].slot = i;
      i = parent;
    }
    heap[i] = entry;
    entry.slot = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const entry = heap[i];
    const n = heap.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1].due < heap[child].due) child++;
      if (heap[child].due >= entry.due) break;
      heap[i] = heap[child];
      heap[i].slot = i;
      i = child;
    }
    heap[i] = entry;
    entry.slot = i;
  }
}
