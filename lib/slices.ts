// Long loops on the main thread give the event loop a turn every few
// milliseconds, so that a table of 200,000 entries never freezes the host
// process (timers, sockets and other requests keep being served).
import { setImmediate as nextTurn } from 'timers/promises';

/** Work done between two yields to the event loop, in milliseconds. */
export const SLICE_MS = 8;

/** Yields to the event loop when the current slice has run SLICE_MS. */
export class Slicer {
  private started = performance.now();

  /** Call often; awaits a turn of the event loop only when one is due. */
  async due(): Promise<void> {
    if (performance.now() - this.started < SLICE_MS) return;
    await nextTurn();
    this.started = performance.now();
  }
}

/** `fn` for each item, in order, yielding to the event loop between slices. */
export async function forEachSliced<T>(items: readonly T[], fn: (item: T, index: number) => void): Promise<void> {
  const slicer = new Slicer();
  for (let i = 0; i < items.length; i++) {
    fn(items[i], i);
    if ((i & 63) === 63) await slicer.due();
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
