// Long loops on the main thread give the event loop a turn every few
// milliseconds, so that a table of 200,000 entries never freezes the host
// process (timers, sockets and other requests keep being served).
import { setImmediate as nextTurn } from 'timers/promises';

/**
 * Work done between two yields to the event loop, in milliseconds. Small, so
 * that a slice, the caller's own work in the same turn and a young-generation
 * collection together still block the loop for less than an idle process's
 * own noise does under emulation (about 9 ms); a turn costs a setImmediate.
 */
export const SLICE_MS = 4;

/** Yields to the event loop when the current slice has run SLICE_MS. */
export class Slicer {
  private started = performance.now();
  private calls = 0;

  /**
   * `every`: calls between two reads of the clock: 16 for small items; fewer
   * where an item is a whole service (its destinations diffed or
   * fingerprinted: 16 of them ran 30 ms under emulation); 1 for items that
   * take long, like a listing's chunks.
   */
  constructor(private readonly every: 1 | 4 | 16 = 16) {}

  /**
   * Whether a yield is due; cheap enough to call per item: it reads the clock
   * every `every` calls only, and costs no promise (an `await` per item would: a
   * microtask each, which adds up to seconds over 20,000 services in the
   * emulated test VM). Use as `if (slicer.due()) await slicer.pause();`.
   */
  due(): boolean {
    return ++this.calls % this.every === 0 && performance.now() - this.started >= SLICE_MS;
  }

  /** Gives the event loop a turn and starts a new slice. */
  async pause(): Promise<void> {
    await nextTurn();
    this.started = performance.now();
  }
}

/** `fn` for each item, in order, yielding to the event loop between slices. */
export async function forEachSliced<T>(items: readonly T[], fn: (item: T, index: number) => void): Promise<void> {
  const slicer = new Slicer();
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
