// The slicer's share of the event loop's turn: alone, a slice runs SLICE_MS;
// beside a caller that works in 2 ms slices of its own in the same turns, it
// runs what is left of SLICE_MS (at least SLICE_MIN_MS), so that a turn is
// about SLICE_MS long, not the caller's 2 ms plus ours.
import assert from 'assert/strict';
import { setImmediate as nextTurn } from 'timers/promises';
import { SLICE_MIN_MS, SLICE_MS, Slicer } from '../../lib/slices';

function busy(ms: number): void {
  const t = performance.now();
  while (performance.now() - t < ms);
}

/** Slices of `items` busy items of 0.05 ms each, as a library loop runs them: each slice's length, in ms. */
async function sliced(items: number): Promise<number[]> {
  const slicer = new Slicer(1);
  const lengths: number[] = [];
  let start = performance.now();
  for (let i = 0; i < items; i++) {
    busy(0.05);
    if (slicer.due()) {
      lengths.push(performance.now() - start);
      await slicer.pause();
      start = performance.now();
    }
  }
  return lengths;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

describe('unit: slices', () => {
  it('alone, a slice runs SLICE_MS', async () => {
    const lengths = await sliced(4000);
    assert.ok(lengths.length > 20, `${lengths.length} slices`);
    const m = median(lengths.slice(1));
    // SLICE_MS less the loop's own turn between two slices (a setImmediate: microseconds).
    assert.ok(m >= SLICE_MS - 0.25 && m < SLICE_MS + 1, `median slice ${m.toFixed(2)} ms`);
  });

  it("beside a caller's 2 ms slices in the same turns, a slice runs what is left of SLICE_MS, at least SLICE_MIN_MS", async () => {
    let stop = false;
    const turns: number[] = [];
    const caller = (async () => {
      let last = performance.now();
      while (!stop) {
        busy(2);
        await nextTurn();
        const now = performance.now();
        turns.push(now - last);
        last = now;
      }
    })();
    const lengths = await sliced(4000);
    stop = true;
    await caller;
    const m = median(lengths.slice(1));
    assert.ok(m >= SLICE_MIN_MS && m < SLICE_MIN_MS + 0.5, `median slice ${m.toFixed(2)} ms`);
    // The caller's turns: its own 2 ms and our share, not 2 ms + SLICE_MS.
    const t = median(turns.slice(1));
    assert.ok(t < 2 + SLICE_MIN_MS + 0.6, `median turn ${t.toFixed(2)} ms`);
  });
});
