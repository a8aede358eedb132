// The event-loop baseline: the longest event-loop block while plain
// JavaScript, with no library, no addon and no kernel, builds the objects
// that list() and apply() hand back for an N x M table, in slices of 2 ms
// that yield to the loop between them. Every one of those objects is new and
// stays alive, so the young-generation collections that copy them stop the
// loop however the work around them is sliced. It is a reference, not a
// bound: the library's list() builds its objects with JSON.parse, which
// allocates them faster than object literals do, and can block for less.
// It tells what blocks come from V8 and the machine rather than from the
// library: in the emulated test VM they are far above 20 ms. It also times
// the machine's own noise: an idle loop, and a busy one that keeps nothing.
//
// Run alone: node dist/bench/baseline.js [--n 20000] [--m 10] [--json]
// (inside the sandbox for the VM's figures); bench/guest.ts runs it in a
// fresh process once per size. `--idle` times only the machine's noise (idle
// and busy; bench/stream-check.ts bounds its own figures by it).
import { monitorEventLoopDelay, performance } from 'perf_hooks';
import { setImmediate as nextTurn } from 'timers/promises';

/** Longest blocks, in ms. */
export interface Baseline {
  /** The machine's own noise: 5 s of an idle loop, and 5 s of 2 ms slices of arithmetic that keep nothing. */
  idleMs: number;
  busyMs: number;
  /**
   * Building list()'s services, destinations and stats; first in the fresh
   * process, then again (V8 may by then allocate such objects straight into
   * the old generation).
   */
  listMs: [first: number, again: number];
  /** Building apply()'s result for creating the table (an operation and a change per object), the same twice. */
  applyResultMs: [first: number, again: number];
}

const zero = () => ({ conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n, cps: 0n, inpps: 0n, outpps: 0n, inbps: 0n, outbps: 0n });

function listedService(i: number, m: number): unknown {
  const destinations = new Array(m);
  for (let j = 0; j < m; j++)
    destinations[j] = {
      address: `198.19.${j & 255}.${(i % 250) + 1}`,
      port: 80,
      weight: 1,
      forwarding: 'masq',
      upperThreshold: 0,
      lowerThreshold: 0,
      family: 'ipv4',
      activeConnections: 0,
      inactiveConnections: 0,
      persistentConnections: 0,
      tunnel: null,
      stats: zero(),
    };
  return {
    family: 'ipv4',
    protocol: 'tcp',
    address: `198.18.${(i >> 8) & 255}.${i & 255}`,
    port: 80,
    scheduler: 'rr',
    persistence: null,
    persistenceEngine: null,
    onePacket: false,
    schedulerFlags: [],
    stats: zero(),
    destinations,
  };
}

/** The longest event-loop block while `build(i)` runs for i = 0..n-1 in 2 ms slices, everything it returns kept. */
async function longestBlock(n: number, build: (i: number, keep: unknown[]) => void): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let keep: unknown[] | null = [];
  for (let i = 0; i < n; ) {
    const t = performance.now();
    while (i < n && performance.now() - t < 2) build(i++, keep);
    await nextTurn();
  }
  // One more tick of the histogram's timer (see bench/guest.ts timed()).
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  keep = null;
  return h.max / 1e6;
}

/** The longest block in `seconds` of `work` (run again and again until then). */
async function longestBlockFor(seconds: number, work: () => Promise<void>): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) await work();
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  return h.max / 1e6;
}

/** The machine's own noise: the longest blocks of 5 s of an idle loop and of 5 s of 2 ms busy slices that keep nothing. */
export async function machineNoise(): Promise<Pick<Baseline, 'idleMs' | 'busyMs'>> {
  const idleMs = await longestBlockFor(5, () => new Promise((r) => setTimeout(r, 100)));
  let x = 0;
  const busyMs = await longestBlockFor(5, async () => {
    const t = performance.now();
    while (performance.now() - t < 2) x = Math.sqrt(x + 1);
    await nextTurn();
  });
  return { idleMs, busyMs };
}

export async function eventLoopBaseline(n: number, m: number): Promise<Baseline> {
  const { idleMs, busyMs } = await machineNoise();
  const list = (i: number, keep: unknown[]) => keep.push(listedService(i, m));
  const listMs: Baseline['listMs'] = [await longestBlock(n, list), await longestBlock(n, list)];
  // apply()'s input is the caller's, made before the call: only the result is new.
  const desired = Array.from({ length: n }, (_, i) => ({
    protocol: 'tcp',
    address: `198.18.${(i >> 8) & 255}.${i & 255}`,
    port: 80,
    scheduler: 'rr',
    destinations: Array.from({ length: m }, (_, j) => ({ address: `198.19.${j & 255}.${(i % 250) + 1}`, forwarding: 'masq', weight: 1 })),
  }));
  await new Promise((r) => setTimeout(r, 50));
  const result = (i: number, keep: unknown[]) => {
    const service = { protocol: 'tcp', address: desired[i].address, port: 80, scheduler: 'rr' };
    keep.push({ operation: { operation: 'addService', service }, status: 'applied' });
    for (const destination of desired[i].destinations) keep.push({ operation: { operation: 'addDestination', service, destination }, status: 'applied' });
  };
  const applyResultMs: Baseline['applyResultMs'] = [await longestBlock(n, result), await longestBlock(n, result)];
  return { idleMs, busyMs, listMs, applyResultMs };
}

if (require.main === module) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const n = arg('n', 20000);
  const m = arg('m', 10);
  const ms = (pair: number[]) => pair.map((x) => `${x.toFixed(1)} ms`).join(', then ');
  if (process.argv.includes('--idle'))
    void machineNoise().then((f) =>
      console.log(process.argv.includes('--json') ? JSON.stringify(f) : `machine noise: idle ${f.idleMs.toFixed(1)} ms, busy keeping nothing ${f.busyMs.toFixed(1)} ms`),
    );
  else
    void eventLoopBaseline(n, m).then((f) =>
    console.log(
      process.argv.includes('--json')
        ? JSON.stringify(f)
        : `event-loop baseline at ${n}x${m}: idle ${f.idleMs.toFixed(1)} ms, busy keeping nothing ${f.busyMs.toFixed(1)} ms; ` +
          `list()'s objects ${ms(f.listMs)}; apply()'s result ${ms(f.applyResultMs)}`,
    ),
  );
}
