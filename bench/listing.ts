// One read of a whole IPVS table in a fresh process, for `npm run bench`'s
// "read the whole table in a fresh process" phase (bench/guest.ts starts it
// inside the sandbox, three times per table): peak RSS (VmHWM) is a
// process's lifetime high-water mark, so each way of reading gets a process
// of its own, and one that only opens a handle gives what the others grow by.
//
//   node dist/bench/listing.js NETNS open|list|services
//
// list: handle.list(), the whole table held at once (as its callers hold it);
// services: handle.services({ batchSize: 256 }), each batch counted and
// dropped. Prints one JSON line: the time, the objects read, the peak RSS in
// MiB, and the event loop's longest block and p99 during the read.
import { readFileSync } from 'fs';
import { monitorEventLoopDelay, performance } from 'perf_hooks';
import * as ipvs from '../lib';

export interface ListingFigures {
  how: 'open' | 'list' | 'services';
  ms: number;
  services: number;
  objects: number;
  peakRssMiB: number;
  loopMaxMs: number;
  loopP99Ms: number;
}

export const STREAM_BATCH = 256;

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no VmHWM in /proc/self/status');
  return Number(m[1]) / 1024;
}

async function main(): Promise<void> {
  const [netns, how] = process.argv.slice(2);
  if (!netns || !['open', 'list', 'services'].includes(how)) throw new Error('usage: listing.js NETNS open|list|services');
  const handle = await ipvs.open({ netns });
  let services = 0;
  let objects = 0;
  let held: ipvs.Service[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  if (how === 'list') {
    held = await handle.list();
    services = held.length;
    for (const s of held) objects += 1 + s.destinations.length;
  } else if (how === 'services') {
    for await (const batch of handle.services({ batchSize: STREAM_BATCH })) {
      services += batch.length;
      for (const s of batch) objects += 1 + s.destinations.length;
    }
  }
  const ms = performance.now() - t0;
  // One more tick of the histogram's timer (see bench/guest.ts timed()).
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  const figures: ListingFigures = {
    how: how as ListingFigures['how'],
    ms,
    services,
    objects,
    peakRssMiB: peakRssMiB(),
    loopMaxMs: h.max / 1e6,
    loopP99Ms: h.percentile(99) / 1e6,
  };
  held = [];
  await handle.close();
  console.log(JSON.stringify(figures));
}

if (require.main === module)
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
