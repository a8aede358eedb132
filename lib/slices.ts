// Long loops on the main thread give the event loop a turn every few
// milliseconds, so that a table of 200,000 entries never freezes the host
// process (timers, sockets and other requests keep being served).
import { setImmediate as nextTurn } from 'timers/promises';

/**
 * Work done between two yields to the event loop, in milliseconds. Small, so
 * that a slice, the caller's own work in the same turn and a young-generation
 * collection together still block the loop for less than an idle process's
 * own noise does under emulation (5-11 ms); a turn costs a setImmediate.
 * In warm rounds of a churn at 20,000 x 10 on the emulated test VM, the
 * longest block of each round was 8-13 ms with 2 ms slices and 12-29 ms
 * with 4 ms ones (one boot). Other work shares each turn (a caller making
 * changes in 2 ms slices: its slice and ours run in the same check phase):
 * a Slicer's slice is what is left of SLICE_MS.
 */
export const SLICE_MS = 2;

/**
 * The least a slice runs: when the rest of the loop's turn (a caller's own
 * slice, I/O callbacks, timers) already took SLICE_MS or more, a slice still
 * does this much, so that work shared with a busy caller goes on at a
 * quarter of its speed instead of stopping.
 */
export const SLICE_MIN_MS = 0.5;

/**
 * Yields to the event loop when the current slice has run its share of the
 * loop's turn: SLICE_MS less what the rest of the turn took (the time from
 * its last yield to its resumption, when everything else in the loop ran),
 * and at least SLICE_MIN_MS. So a slice and a caller's own 2 ms slice in the
 * same turn add up to about SLICE_MS plus SLICE_MIN_MS, not twice SLICE_MS.
 * In the bench's churn at 20,000 x 10 (2,200 changes made by a caller
 * working in 2 ms slices; emulated test VM, kernel 6.12, two runs each way
 * alternating in one boot) the longest event-loop block was 11.6 and 8.9 ms
 * (p99 8.4 and 7.3) against 14.5 and 13.7 ms (p99 11.8 and 10.1) with
 * slices of SLICE_MS whatever the rest of the turn took; the churn took 533
 * and 421 ms against 424 and 417.
 */
export class Slicer {
  private started = performance.now();
  private budget = SLICE_MS;
  private calls = 0;

  /**
   * `every`: calls between two reads of the clock: 16 for tiny items, 4 for
   * small ones (a change, a listed entry), 1 where an item is a whole service
   * (its destinations diffed or fingerprinted: 16 of them ran 30 ms, 4 of
   * them 8-20 ms, under emulation) or takes long.
   */
  constructor(private readonly every: 1 | 4 | 16 = 16) {}

  /**
   * Whether a yield is due; cheap enough to call per item: it reads the clock
   * every `every` calls only, and costs no promise (an `await` per item would: a
   * microtask each, which adds up to seconds over 20,000 services in the
   * emulated test VM). Use as `if (slicer.due()) await slicer.pause();`.
   */
  due(): boolean {
    return ++this.calls % this.every === 0 && performance.now() - this.started >= this.budget;
  }

  /**
   * Gives the event loop a turn and starts a new slice. The first pause of a
   * slicer yields twice: its first slice most often ran in a timer or an I/O
   * callback (a send's answer, the reconciler's timer), and a setImmediate
   * made there runs in the same iteration of the loop, before its timers get
   * another turn, so that slice and the next added up to one block (on the
   * emulated test VM, blocks of 8-17 ms made of 4 ms slices). From the check
   * phase, where every later slice starts, one setImmediate is the next
   * iteration's: the time it takes to come back is what the rest of the
   * loop's turn took.
   */
  async pause(): Promise<void> {
    if (!this.paused) {
      this.paused = true;
      await nextTurn();
    }
    const yielded = performance.now();
    await nextTurn();
    this.started = performance.now();
    this.budget = Math.max(SLICE_MIN_MS, SLICE_MS - (this.started - yielded));
  }

  private paused = false;
}

/**
 * `fn` for each item, in order, yielding to the event loop between slices
 * (the clock read every 4 items: every 16 overran the slice to 6-7 ms under
 * emulation where an item is a change's result).
 */
export async function forEachSliced<T>(items: readonly T[], fn: (item: T, index: number) => void): Promise<void> {
  const slicer = new Slicer(4);
  for (let i = 0; i < items.length; i++) {
    fn(items[i], i);
    if (slicer.due()) await slicer.pause();
  }
}

/** items.map(fn), yielding to the event loop between slices. */
export async function mapSliced<T, U>(items: readonly T[], fn: (item: T, index: number) => U): Promise<U[]> {
  const out: U[] = new Array(items.length);
  await forEachSliced(items, (item, i) => {
    out[i] = fn(item, i);
  });
  return out;
}
