// One read of a whole IPVS table in a fresh process, for `npm run bench`'s
// "read the whole table in a fresh process" phase (bench/guest.ts starts it
// inside the sandbox, three times per table): peak RSS (VmHWM) is a
// process's lifetime high-water mark, so each way of reading gets a process
// of its own, and one that only opens a handle gives what the others grow by.
//
//   node --expose-gc dist/bench/listing.js NETNS open|list|services|verify
//
// list: handle.list(), the whole table held at once (as its callers hold it);
// services: handle.services() in its default batches, each batch counted and
// dropped; verify: a reconciler owning the whole table adopts it (not timed),
// then one no-op verify() is timed, with the JS heap sampled every 5 ms.
// Prints one JSON line: the time, the objects read, the peak RSS in MiB, and
// the event loop's longest block and p99 during the read.
// With IPVS_BENCH_BLOCKS=1 it also prints, to stderr, each event-loop block
// of 25 ms or more with its end time (ms since the process started, as
// --trace-gc stamps its lines), to tell which step a block comes from.
import { closeSync, openSync, readFileSync, readSync } from 'fs';
import { monitorEventLoopDelay, performance } from 'perf_hooks';
import * as ipvs from '../lib';

export interface ListingFigures {
  how: 'open' | 'list' | 'services' | 'verify';
  ms: number;
  services: number;
  objects: number;
  peakRssMiB: number;
  loopMaxMs: number;
  loopP99Ms: number;
  /** verify only: the JS heap's growth during it, and the drift it found (0 for a no-op). */
  heapGrowthMiB?: number;
  drift?: number;
  /** process.memoryUsage() in MiB when the sampled RSS peaked (every 5 ms; verify, or IPVS_BENCH_AT_PEAK=1): what the peak is made of. */
  atPeakMiB?: { rss: number; heapTotal: number; heapUsed: number; external: number };
}

const HOWS = ['open', 'list', 'services', 'verify'];

/**
 * Logs every gap of 25 ms or more between 1 ms ticks (IPVS_BENCH_BLOCKS=1)
 * with the main thread's own time on the CPU during it (schedstat): a block
 * with little CPU time was the thread waiting for the CPU (the worker thread,
 * or the VM descheduled by its host), not this process's JavaScript. The
 * converse does not hold in the emulated VM: a stall of the VM while this
 * thread was the one running is counted as its CPU time.
 * Returns the stop function.
 */
function logBlocks(): () => void {
  if (process.env.IPVS_BENCH_BLOCKS !== '1') return () => undefined;
  const fd = openSync('/proc/thread-self/schedstat', 'r');
  const text = Buffer.alloc(128);
  const onCpuMs = () => {
    const n = readSync(fd, text, 0, text.length, 0);
    return Number(text.toString('latin1', 0, n).split(' ')[0]) / 1e6;
  };
  let last = performance.now();
  let lastCpu = onCpuMs();
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = onCpuMs();
    if (now - last >= 25) console.error(`block ${(now - last).toFixed(0)} ms (main thread on CPU ${(cpu - lastCpu).toFixed(0)} ms) ending at ${now.toFixed(0)} ms`);
    last = now;
    lastCpu = cpu;
  }, 1);
  return () => {
    clearInterval(timer);
    closeSync(fd);
  };
}

/** A stamped line on stderr when blocks are logged (IPVS_BENCH_BLOCKS=1). */
function mark(what: string): void {
  if (process.env.IPVS_BENCH_BLOCKS === '1') console.error(`${what} at ${performance.now().toFixed(0)} ms`);
}

/** The library's default batch (SERVICES_BATCH). */
export const STREAM_BATCH = ipvs.SERVICES_BATCH;

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no VmHWM in /proc/self/status');
  return Number(m[1]) / 1024;
}

async function main(): Promise<void> {
  const [netns, how] = process.argv.slice(2);
  if (!netns || !HOWS.includes(how)) throw new Error(`usage: listing.js NETNS ${HOWS.join('|')}`);
  const handle = await ipvs.open({ netns });
  let services = 0;
  let objects = 0;
  let held: ipvs.Service[] = [];
  const reconciler = how === 'verify' ? await handle.reconciler({ owns: 'all' }) : null;
  (globalThis as { gc?: () => void }).gc?.();
  // A forced full collection leaves sweeping to finish on the main thread
  // when it next allocates: let it end before the timed part (it is the
  // bench's doing, not the read's).
  await new Promise((r) => setTimeout(r, 500));
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  let atPeak = process.memoryUsage();
  // Sampled only where asked for (verify's heap; IPVS_BENCH_AT_PEAK=1 for what
  // the peak RSS is made of): on the VM's one vCPU, process.memoryUsage() every
  // 5 ms costs the read 30-50 % of its time and adds to its event-loop blocks.
  // The peak RSS itself is the kernel's high-water mark, read at the end.
  const sampling = how === 'verify' || process.env.IPVS_BENCH_AT_PEAK === '1';
  const sampler = sampling
    ? setInterval(() => {
        const u = process.memoryUsage();
        heapPeak = Math.max(heapPeak, u.heapUsed);
        if (u.rss > atPeak.rss) atPeak = u;
      }, 5)
    : undefined;
  let drift: number | undefined;
  const stopLog = logBlocks();
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  if (reconciler) {
    const result = await reconciler.verify();
    drift = result.drift.length + result.repair.plan.length;
  } else if (how === 'list') {
    held = await handle.list();
    services = held.length;
    for (const s of held) objects += 1 + s.destinations.length;
  } else if (how === 'services') {
    for await (const batch of handle.services({ batchSize: STREAM_BATCH })) {
      if (services === 0) mark('first batch');
      services += batch.length;
      for (const s of batch) objects += 1 + s.destinations.length;
    }
  }
  const ms = performance.now() - t0;
  mark('done');
  // One more tick of the histogram's timer (see bench/guest.ts timed()).
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  stopLog();
  clearInterval(sampler);
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  const figures: ListingFigures = {
    how: how as ListingFigures['how'],
    ms,
    services,
    objects,
    peakRssMiB: peakRssMiB(),
    loopMaxMs: h.max / 1e6,
    loopP99Ms: h.percentile(99) / 1e6,
  };
  if (sampling)
    figures.atPeakMiB = {
      rss: atPeak.rss / 2 ** 20,
      heapTotal: atPeak.heapTotal / 2 ** 20,
      heapUsed: atPeak.heapUsed / 2 ** 20,
      external: atPeak.external / 2 ** 20,
    };
  if (reconciler) {
    figures.heapGrowthMiB = (heapPeak - heapBefore) / 2 ** 20;
    figures.drift = drift;
    await reconciler.close();
  }
  held = [];
  await handle.close();
  console.log(JSON.stringify(figures));
}

if (require.main === module)
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
