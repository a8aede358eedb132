// Issue 17's memory and event-loop bounds of the streamed listing and the
// no-op verify, checked alone (npm run bench checks them among much else):
//
//   npm run build && gcc -O2 -o bench/build/ceiling bench/ceiling.c &&
//   scripts/sandbox --kernel 6.12 --mem 8192 -- node dist/bench/stream-check.js [--n 20000] [--m 10] [--runs 1] [--trace]
//
// Inside the VM: the ceiling (bench/ceiling.c) makes an N x M table in a
// fresh network namespace, then each of these runs in a fresh process of its
// own (peak RSS is a process's lifetime mark, and a fresh process runs cold
// code, as a CLI or a restarted agent does): the idle loop (bench/baseline.ts
// --idle), a process that only opens a handle, list(), services() in its
// default batches, and a reconciler's no-op verify() (bench/listing.ts). It prints
// each one's JSON line and then the bounds: services()'s peak RSS growth over
// the open-only process at most a fifth of list()'s; the longest block of
// services() and of verify() at most the idle loop's + 20 ms; verify()'s JS
// heap growth under 20 MB. `--trace` runs the children with --trace-gc and
// IPVS_BENCH_BLOCKS=1 (each block of 25 ms or more, stamped), to find where
// a block comes from.
import { execFileSync, spawnSync } from 'child_process';
import { existsSync, writeFileSync } from 'fs';
import { join } from 'path';
import type { ListingFigures } from './listing';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const N = Number(arg('n', '20000'));
const M = Number(arg('m', '10'));
const RUNS = Number(arg('runs', '1'));
const TRACE = process.argv.includes('--trace');
/** Extra node flags for the children (experiments), e.g. --node-flags "--max-semi-space-size=4". */
const NODE_FLAGS = arg('node-flags', '').split(' ').filter(Boolean);
/** Only these of open, list, services, verify (the bounds need all four). */
const ONLY = arg('only', 'open,list,services,verify').split(',');
const CEILING = arg('ceiling', join(__dirname, '..', '..', 'bench', 'build', 'ceiling'));
const NS = 'ipvs-stream-check';

// The ceiling's operations file (see bench/ceiling.c): NEW_SERVICE 1, NEW_DEST 5.
function createOps(path: string): void {
  const records = N * (1 + M);
  const buf = Buffer.alloc(12 + 16 * records);
  buf.write('IPVSOPS1', 0, 'latin1');
  buf.writeUInt32LE(records, 8);
  let o = 12;
  for (let i = 0; i < N; i++) {
    // VIPs 198.18.x.y:80+; backends 198.19.j.(i % 250 + 1), both in the benchmarking range.
    const vip = (198 << 24) | (18 << 16) | (((i >> 8) & 255) << 8) | (i & 255);
    const port = 80 + (i >> 16);
    buf.writeUInt8(1, o);
    buf.writeUInt16LE(port, o + 2);
    buf.writeUInt32BE(vip >>> 0, o + 4);
    o += 16;
    for (let j = 0; j < M; j++) {
      buf.writeUInt8(5, o);
      buf.writeUInt16LE(port, o + 2);
      buf.writeUInt32BE(vip >>> 0, o + 4);
      buf.writeUInt32BE(((198 << 24) | (19 << 16) | ((j & 255) << 8) | ((i % 250) + 1)) >>> 0, o + 8);
      buf.writeUInt16LE(8080, o + 12);
      buf.writeUInt16LE(1, o + 14);
      o += 16;
    }
  }
  writeFileSync(path, buf);
}

/** Runs a child node process; its last stdout line is JSON. Stderr (traces) is passed on. */
function child(args: string[]): unknown {
  const flags = ['--expose-gc', '--max-old-space-size=6144', ...(TRACE ? ['--trace-gc'] : []), ...NODE_FLAGS];
  const r = spawnSync(process.execPath, [...flags, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, ...(TRACE ? { IPVS_BENCH_BLOCKS: '1' } : {}) },
  });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  // --trace-gc writes to stdout too: the figures are the one JSON line.
  const json = lines.filter((line) => line.startsWith('{'));
  if (TRACE) {
    // Only the pauses of 10 ms or more, with the block log.
    for (const line of lines) {
      const m = /(\d+(?:\.\d+)?) \/ \d+(?:\.\d+)? ms/.exec(line);
      if (m && Number(m[1]) >= 10) console.log(`  gc  ${line.trim()}`);
    }
    for (const line of r.stderr.split('\n').filter(Boolean)) console.log(`  ${line}`);
  }
  if (json.length !== 1) throw new Error(`${args.join(' ')} printed ${json.length} JSON lines: ${r.stdout}`);
  return JSON.parse(json[0]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function main(): void {
  if (!process.env.IPVS_SANDBOX_ACTIVE) throw new Error('stream-check makes a namespace and an IPVS table: run it through scripts/sandbox');
  if (!existsSync(CEILING)) throw new Error(`no ceiling at ${CEILING}: gcc -O2 -o bench/build/ceiling bench/ceiling.c`);
  execFileSync('ip', ['netns', 'add', NS]);
  try {
    execFileSync('sh', ['-c', `ip -n ${NS} link set lo up && ip netns exec ${NS} sysctl -qw net.ipv4.vs.run_estimation=0 || true`]);
    const ops = `/tmp/stream-check-${N}x${M}.ops`;
    createOps(ops);
    const made = JSON.parse(execFileSync('ip', ['netns', 'exec', NS, CEILING, ops], { encoding: 'utf8' })) as { ms: number; errors: number };
    if (made.errors) throw new Error(`the ceiling's create had ${made.errors} errors`);
    console.log(`table ${N} x ${M} made by the ceiling in ${(made.ms / 1000).toFixed(1)} s`);
    const objects = N * (1 + M);

    const idle: number[] = [];
    const figures: Record<string, ListingFigures[]> = { open: [], list: [], services: [], verify: [] };
    for (let run = 0; run < RUNS; run++) {
      const noise = child([join(__dirname, 'baseline.js'), '--idle', '--json']) as { idleMs: number; busyMs: number };
      console.log(`baseline ${JSON.stringify(noise)}`);
      idle.push(noise.idleMs);
      for (const how of (['open', 'list', 'services', 'verify'] as const).filter((x) => ONLY.includes(x))) {
        if (TRACE) console.log(`${how}:`);
        const f = child([join(__dirname, 'listing.js'), NS, how]) as ListingFigures;
        console.log(`${how} ${JSON.stringify(f)}`);
        if ((how === 'list' || how === 'services') && f.objects !== objects) throw new Error(`${how} read ${f.objects} objects, expected ${objects}`);
        if (how === 'verify' && f.drift !== 0) throw new Error(`the no-op verify found ${f.drift} drifts or repairs`);
        figures[how].push(f);
      }
    }
    if (ONLY.length < 4) return;
    const med = (how: string, pick: (f: ListingFigures) => number) => median(figures[how].map(pick));
    const idleMs = median(idle);
    const open = med('open', (f) => f.peakRssMiB);
    const listGrowth = med('list', (f) => f.peakRssMiB) - open;
    const servicesGrowth = med('services', (f) => f.peakRssMiB) - open;
    const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
    const rows: Array<[string, string, boolean]> = [
      [`services() peak RSS growth ${servicesGrowth.toFixed(1)} MiB, list()'s ${listGrowth.toFixed(1)} MiB`, `${(servicesGrowth / listGrowth).toFixed(2)}x <= 0.2x`, servicesGrowth <= listGrowth / 5],
      ...(['services', 'verify'] as const).map((how): [string, string, boolean] => {
        const max = med(how, (f) => f.loopMaxMs);
        return [`${how}() longest block ${max.toFixed(1)} ms (p99 ${med(how, (f) => f.loopP99Ms).toFixed(1)} ms, ${(med(how, (f) => f.ms) / 1000).toFixed(1)} s)`, `<= idle ${idleMs.toFixed(1)} + 20 ms`, max <= idleMs + 20];
      }),
      [`verify() JS heap growth ${med('verify', (f) => f.heapGrowthMiB ?? NaN).toFixed(1)} MiB`, '< 20 MB', med('verify', (f) => f.heapGrowthMiB ?? NaN) * 2 ** 20 < 20e6],
      [`list() longest block ${med('list', (f) => f.loopMaxMs).toFixed(1)} ms (${(med('list', (f) => f.ms) / 1000).toFixed(1)} s), for reference`, '', true],
    ];
    console.log(`\nmedians of ${RUNS} run(s), ${N} x ${M}, kernel ${process.env.IPVS_SANDBOX_KERNEL ?? '?'}:`);
    for (const [what, target, ok] of rows) console.log(`  ${what}${target ? `: ${target}: ${verdict(ok)}` : ''}`);
  } finally {
    execFileSync('ip', ['netns', 'del', NS]);
  }
}

main();
