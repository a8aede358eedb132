// The part of `npm run bench` that runs inside the IPVS sandbox VM (started by
// bench/run.ts on the host; see the top of that file for how to run and read
// the results). Everything here runs in one boot, on one kernel.
//
// For every N (services) x M (destinations per service), and for every method,
// each run gets a fresh network namespace (a flushed table is not a fresh one:
// deleted destinations linger in the kernel's trash list) with
// net.ipv4.vs.run_estimation=0, a dummy0 interface and a default route, and
// goes through the phases in order:
//   create      the whole table into the empty namespace
//   noop        a resync where nothing changed (read the table + diff)
//   churn       1 % of the objects changed, one per service: a third of them
//               lose a destination (drained: weight 0), a third gain one, a
//               third change a weight
//   one-change  one destination's weight changed
//   delete      every service removed
// and, for the reconciler (issue 17), in its own namespaces:
//   reconciler      (owns: a predicate over every service) creates the table
//                   with setDesired after adopting the empty namespace, then
//                   noop (setDesired of the same), verify (a full verify that
//                   finds nothing), churn (the same 1 % as calls by key:
//                   deleteDestination with drain, setDestination; issued
//                   without awaiting each, yielding every 2 ms as an
//                   event-driven caller does), one-change (setDestination),
//                   delete (deleteAll: a delete per service)
//   reconciler-all  (owns: 'all') adopts a table the ceiling made (adopt),
//                   takes the same desired state with zero writes (noop), and
//                   deletes everything with one flush (delete)
// plus, in the ceiling's namespace while the table is full:
//   list        handle.list() vs handle.services() vs ipvsadm -Sn vs the
//               ceiling's raw dump
//   stream      list() and services() each in a fresh process
//               (bench/listing.ts): peak RSS growth and event-loop blocks
//   addService  one addService() into the full table vs into an empty one
// plus, once per size, the event-loop baseline (bench/baseline.ts): the
// longest block while plain JavaScript builds the objects list() and apply()
// return, in a fresh process
// and the end state is checked against `ipvsadm -Sn` after create, after
// one-change (which includes churn) and after delete.
// Right before the timed churn of 'reconciler' and of 'calls', a warm-up
// runs rounds of the churn's kinds and count of changes on other services of
// the same table, untimed (see warmUp()): a controller's steady state runs
// warm code; its first round is kept as the cold figure.
//
// Methods: 'apply' (handle.apply(), when the library has it), 'reconciler'
// and 'reconciler-all' (handle.reconciler(), above), 'calls' (the library,
// one awaited call at a time; where its create would take longer than
// --calls-limit the ceiling creates the table and the other phases are
// timed), 'ipvsadm' (ipvsadm -R from a rules
// file, -Sn, -C) and 'ceiling' (bench/ceiling.c: pre-encoded raw netlink,
// 512 messages per sendmsg, no JavaScript).
//
// Output: progress lines, one `BENCH-ROW {json}` line per finished
// measurement, tables, then the whole result between the BEGIN/END marker
// lines (bench/run.ts saves it as bench/results.json).
import { execFileSync, spawnSync } from 'child_process';
import { closeSync, openSync, writeFileSync } from 'fs';
import { monitorEventLoopDelay, performance } from 'perf_hooks';
import * as ipvs from '../lib';
import type { Baseline } from './baseline';
import { STREAM_BATCH, type ListingFigures } from './listing';
import { formatTables, type BenchResult, type Method, type Phase, type Row, type StreamRss } from './report';

// ------------------------------------------------------------------ config --
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const QUICK = process.argv.includes('--quick');
const NS_LIST = (arg('n') ?? (QUICK ? '1000' : '1000,10000,20000')).split(',').map(Number);
const M_LIST = (arg('m') ?? '1,10').split(',').map(Number);
const METHODS = (arg('methods') ?? 'ceiling,ipvsadm,apply,reconciler,reconciler-all,calls').split(',') as Method[];
/** --runs R (every size) or --runs 1000:3,10000:1 (per N). */
const RUNS_SPEC = arg('runs');
const CALLS_LIMIT_S = Number(arg('calls-limit') ?? 120);
/** --min-interval MS: the reconciler's minInterval (default 0, its own default). */
const MIN_INTERVAL = Number(arg('min-interval') ?? 0);
const CEILING = arg('ceiling') ?? `${__dirname}/../../bench/build/ceiling`;
const TMP = '/tmp/ipvs-bench';

/**
 * Runs per size (medians of R). Default: 3 at N = 1,000, 1 from N = 10,000 on,
 * so that a full run stays within about 45-60 minutes of VM time on a busy
 * 2-core host (measured: 20,000 x 10 alone takes about 10 minutes per run
 * for ipvsadm and the ceiling's namespace, which also times list() and -Sn).
 */
function runsFor(n: number, _m: number): number {
  if (RUNS_SPEC !== undefined) {
    if (/^\d+$/.test(RUNS_SPEC)) return Number(RUNS_SPEC);
    for (const part of RUNS_SPEC.split(',')) {
      const [size, r] = part.split(':').map(Number);
      if (size === n) return r;
    }
  }
  return n <= 1000 ? 3 : 1;
}

const started = Date.now();
const rows: Row[] = [];
const notes: string[] = [];
/** The services() batch the stream phases use (the library's default when this ran). */
const extras: Record<string, unknown> = { streamBatch: STREAM_BATCH };

function log(text: string): void {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(5);
  console.log(`[+${s}s] ${text}`);
}
function note(text: string): void {
  notes.push(text);
  log(`NOTE ${text}`);
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------- table --
interface Dest {
  address: string;
  port: number;
  weight: number;
}
interface Svc {
  address: string;
  port: number;
  dests: Dest[];
}
const svcAddress = (i: number) => `198.18.${((i + 256) >> 8) & 0xff}.${(i + 256) & 0xff}`;
const destAddress = (i: number, j: number) => `198.19.${j}.${(i % 250) + 1}`;
const DEST_PORT = 8080;

function baseTable(n: number, m: number): Svc[] {
  return Array.from({ length: n }, (_, i) => ({
    address: svcAddress(i),
    port: 80,
    dests: Array.from({ length: m }, (_, j) => ({ address: destAddress(i, j), port: DEST_PORT, weight: 1 })),
  }));
}
const clone = (t: Svc[]): Svc[] => t.map((s) => ({ ...s, dests: s.dests.map((d) => ({ ...d })) }));

type OpKind = 'drain' | 'add' | 'weight';
interface ChurnOp {
  kind: OpKind;
  svc: number;
  dest: Dest;
}
/**
 * 1 % of the table's objects (services + destinations: 2,200 changes at
 * 20,000 x 10, as issue 17 counts them), one per service, spread over the
 * table: drain / add / reweight in turn. Service 1 is never churned (the one change's).
 */
function churnPlan(base: Svc[], m: number): ChurnOp[] {
  const n = base.length;
  const count = Math.max(1, Math.min(Math.floor(n / 2), Math.round((n * (m + 1)) / 100)));
  return Array.from({ length: count }, (_, k) => churnOp(base, Math.floor((k * n) / count), (['drain', 'add', 'weight'] as const)[k % 3], m));
}
/** One change of the churn's to service i: drain its last destination, add one, or reweight its first. */
function churnOp(base: Svc[], i: number, kind: OpKind, m: number): ChurnOp {
  const s = base[i];
  if (kind === 'drain') return { kind, svc: i, dest: { ...s.dests[s.dests.length - 1], weight: 0 } };
  if (kind === 'add') return { kind, svc: i, dest: { address: destAddress(i, m), port: DEST_PORT, weight: 1 } };
  return { kind, svc: i, dest: { ...s.dests[0], weight: 2 } };
}
/** The kernel's table after the churn (drained destinations stay, at weight 0). */
function applyChurn(base: Svc[], plan: ChurnOp[]): Svc[] {
  const t = clone(base);
  for (const op of plan) {
    const s = t[op.svc];
    if (op.kind === 'add') s.dests.push({ ...op.dest });
    else s.dests.find((d) => d.address === op.dest.address)!.weight = op.dest.weight;
  }
  return t;
}
/** The one change: service 1 (never churned), first destination, weight 3. */
const ONE_SVC = 1;
function oneChangeOp(t: Svc[]): ChurnOp {
  const i = Math.min(ONE_SVC, t.length - 1);
  return { kind: 'weight', svc: i, dest: { ...t[i].dests[0], weight: 3 } };
}

// What apply() is given: the shape list() returns.
function desiredOf(t: Svc[], dropDrained: boolean): unknown[] {
  return t.map((s) => ({
    protocol: 'tcp',
    address: s.address,
    port: s.port,
    scheduler: 'rr',
    destinations: s.dests
      .filter((d) => !(dropDrained && d.weight === 0))
      .map((d) => ({ address: d.address, port: d.port, forwarding: 'masq', weight: d.weight })),
  }));
}

// ipvsadm -Sn lines of a table.
function savedLines(t: Svc[]): string[] {
  return t.flatMap((s) => [
    `-A -t ${s.address}:${s.port} -s rr`,
    ...s.dests.map((d) => `-a -t ${s.address}:${s.port} -r ${d.address}:${d.port} -m -w ${d.weight}`),
  ]);
}
function createRules(t: Svc[]): string {
  return savedLines(t).join('\n') + '\n';
}
function churnRules(t: Svc[], plan: ChurnOp[]): string {
  return (
    plan
      .map((op) => {
        const s = t[op.svc];
        const flag = op.kind === 'add' ? '-a' : '-e';
        return `${flag} -t ${s.address}:${s.port} -r ${op.dest.address}:${op.dest.port} -m -w ${op.dest.weight}`;
      })
      .join('\n') + '\n'
  );
}

// The ceiling's operations file (see bench/ceiling.c).
const CMD = { NEW_SERVICE: 1, DEL_SERVICE: 3, NEW_DEST: 5, SET_DEST: 6, DEL_DEST: 7, GET_DEST: 8 };
function ipv4(a: string): number {
  return a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
}
function opsFile(path: string, records: Array<[number, Svc, Dest | null]>): void {
  const buf = Buffer.alloc(12 + 16 * records.length);
  buf.write('IPVSOPS1', 0, 'latin1');
  buf.writeUInt32LE(records.length, 8);
  records.forEach(([cmd, s, d], k) => {
    const o = 12 + 16 * k;
    buf.writeUInt8(cmd, o);
    buf.writeUInt16LE(s.port, o + 2);
    buf.writeUInt32BE(ipv4(s.address), o + 4);
    if (d) {
      buf.writeUInt32BE(ipv4(d.address), o + 8);
      buf.writeUInt16LE(d.port, o + 12);
      buf.writeUInt16LE(d.weight, o + 14);
    }
  });
  writeFileSync(path, buf);
}

// -------------------------------------------------------------- namespaces --
let nsCount = 0;
function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
}
function newNamespace(): string {
  const ns = `b${++nsCount}`;
  sh('ip', ['netns', 'add', ns]);
  for (const a of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'dummy0', 'type', 'dummy'],
    ['addr', 'add', '198.18.0.1/15', 'dev', 'dummy0'],
    ['link', 'set', 'dummy0', 'up'],
    ['route', 'add', 'default', 'dev', 'dummy0'],
  ])
    sh('ip', ['-n', ns, ...a]);
  sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.vs.run_estimation=0']);
  return ns;
}
async function deleteNamespace(ns: string): Promise<void> {
  sh('ip', ['netns', 'del', ns]);
  // The namespace is torn down by a kernel worker: let it finish before the
  // next measurement (one vCPU).
  await sleep(1500);
}

function ipvsadmSaved(ns: string): string[] {
  return sh('ip', ['netns', 'exec', ns, 'ipvsadm', '-Sn']).split('\n').filter(Boolean);
}
function compare(actual: string[], expected: string[]): string {
  const a = new Set(actual);
  const e = new Set(expected);
  const missing = expected.filter((l) => !a.has(l));
  const extra = actual.filter((l) => !e.has(l));
  if (missing.length === 0 && extra.length === 0 && actual.length === expected.length) return 'ok';
  return `MISMATCH: ${actual.length} rules, expected ${expected.length}; missing ${missing.length} (${missing.slice(0, 3).join(' | ')}); extra ${extra.length} (${extra.slice(0, 3).join(' | ')})`;
}
function check(ns: string, expected: Svc[]): string {
  return compare(ipvsadmSaved(ns), savedLines(expected));
}

// ------------------------------------------------------------------ timing --
interface Sample {
  ms: number;
  loopMaxMs?: number;
  loopP99Ms?: number;
  detail?: unknown;
}
/** Times one awaited call; with watch, the longest event-loop block during it and the delay's 99th percentile. */
async function timed(body: () => unknown, watch: boolean): Promise<Sample & { value: unknown }> {
  const h = watch ? monitorEventLoopDelay({ resolution: 1 }) : null;
  h?.enable();
  const t0 = performance.now();
  const value = await body();
  const ms = performance.now() - t0;
  let loopMaxMs: number | undefined;
  let loopP99Ms: number | undefined;
  if (h) {
    // Let the histogram's timer fire once more: a block that ends by settling
    // the promise is recorded only by the tick after it.
    await sleep(5);
    h.disable();
    loopMaxMs = h.max / 1e6;
    loopP99Ms = h.percentile(99) / 1e6;
  }
  return { ms, loopMaxMs, loopP99Ms, value };
}
/**
 * A full collection before a timed part, then a pause: V8 finishes a forced
 * collection's sweeping on other threads and on the main thread's next
 * allocations, and on the VM's one vCPU that lands in what is timed next
 * (one setDestination at 20,000 x 10 took 64-163 ms right after gc(), 19-24
 * ms after gc() and 1 s; its longest event-loop block 23-34 ms against 6-10 ms).
 * The previous phase's garbage is that phase's cost, not the next one's.
 *
 * `young`: a young-generation collection only, before the churn of changes
 * by key. A full one deoptimizes the code the churn runs (V8 drops optimized
 * code whose embedded objects died, "weak objects" in --trace-deopt: diff,
 * Planned, the model's record, the slicer), which a controller does not
 * collect away before each burst; under emulation the churn then pays for
 * compiling it again. In a reproduction at 20,000 x 10 (one boot, rounds of
 * the churn after the warm-up): 580-1,345 ms a round after a full
 * collection and 1 s, 9-18 optimizing compiles a round; 234-444 ms after a
 * young one, as without any (316-487 ms, 0-4 compiles).
 */
async function gc(young = false): Promise<void> {
  (globalThis as { gc?: (options?: { type: 'minor' }) => void }).gc?.(young ? { type: 'minor' } : undefined);
  await sleep(GC_SETTLE_MS);
}
const GC_SETTLE_MS = 1000;

function spawnTimed(args: string[], inputFile?: string): { ms: number; stdout: string } {
  const fd = inputFile ? openSync(inputFile, 'r') : 'ignore';
  try {
    const t0 = performance.now();
    const r = spawnSync('ip', ['netns', 'exec', ...args], { stdio: [fd, 'pipe', 'pipe'], maxBuffer: 1 << 30, encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${args.slice(1).join(' ')} failed (${r.status}): ${r.stderr || r.error}`);
    return { ms, stdout: r.stdout };
  } finally {
    if (typeof fd === 'number') closeSync(fd);
  }
}

// ---------------------------------------------------------------- methods --
interface Case {
  n: number;
  m: number;
  base: Svc[];
  plan: ChurnOp[];
  churned: Svc[];
  one: ChurnOp;
  final: Svc[];
  /** The warm-up's rounds of changes (see warmPlan()), and the table after them, the churn and the one change (the JavaScript methods' end state). */
  warm: ChurnOp[][];
  finalWarmed: Svc[];
  files: Record<string, string>;
}
type PhaseSamples = Partial<Record<Phase | 'listCalls' | 'listStream' | 'listIpvsadm' | 'streamList' | 'streamServices', Sample>>;
type Checks = Partial<Record<Phase, string>>;

function makeCase(n: number, m: number): Case {
  const base = baseTable(n, m);
  const plan = churnPlan(base, m);
  const churned = applyChurn(base, plan);
  const one = oneChangeOp(churned);
  const final = applyChurn(churned, [one]);
  const warm = Array.from({ length: WARM_ROUNDS }, (_, round) => warmPlan(base, plan, m, round));
  const finalWarmed = applyChurn(final, warm.flat());
  const files: Record<string, string> = {};
  const f = (name: string) => (files[name] = `${TMP}/${n}x${m}.${name}`);
  execFileSync('mkdir', ['-p', TMP]);
  writeFileSync(f('create.rules'), createRules(base));
  writeFileSync(f('churn.rules'), churnRules(base, plan));
  writeFileSync(f('one.rules'), churnRules(churned, [one]));
  opsFile(f('create.ops'), base.flatMap((s) => [[CMD.NEW_SERVICE, s, null] as [number, Svc, Dest | null], ...s.dests.map((d) => [CMD.NEW_DEST, s, d] as [number, Svc, Dest])]));
  opsFile(f('read.ops'), base.map((s) => [CMD.GET_DEST, s, null]));
  opsFile(f('churn.ops'), plan.map((op) => [op.kind === 'add' ? CMD.NEW_DEST : CMD.SET_DEST, base[op.svc], op.dest]));
  opsFile(f('one.ops'), [[CMD.SET_DEST, churned[one.svc], one.dest]]);
  opsFile(f('delete.ops'), base.map((s) => [CMD.DEL_SERVICE, s, null]));
  return { n, m, base, plan, churned, one, final, warm, finalWarmed, files };
}

function opsOf(c: Case, phase: Phase): number {
  switch (phase) {
    case 'create':
    case 'adopt':
    case 'noop':
    case 'verify':
    case 'list':
    case 'stream':
      return c.n * (c.m + 1);
    case 'churn':
      return c.plan.length;
    case 'one-change':
      return 1;
    case 'delete':
      return c.n;
  }
}

/** The phases every method may time, in order (list and stream are timed in the ceiling's namespace). */
const TIMED_PHASES: Phase[] = ['create', 'adopt', 'noop', 'verify', 'churn', 'one-change', 'delete', 'stream'];

const key = (s: { address: string; port: number }) => ({ protocol: 'tcp' as const, address: s.address, port: s.port });

/** What a resync would have to change: the diff of list() against the desired table. */
function diffCount(listed: ipvs.Service[], desired: Svc[]): number {
  const byKey = new Map(desired.map((s) => [`${s.address}:${s.port}`, s]));
  let changes = 0;
  for (const s of listed) {
    const want = byKey.get(`${s.address}:${s.port}`);
    if (!want) {
      changes++;
      continue;
    }
    byKey.delete(`${s.address}:${s.port}`);
    if (s.scheduler !== 'rr') changes++;
    const dests = new Map(want.dests.map((d) => [`${d.address}:${d.port}`, d]));
    for (const d of s.destinations) {
      const w = dests.get(`${d.address}:${d.port}`);
      if (!w) changes++;
      else {
        dests.delete(`${d.address}:${d.port}`);
        if (w.weight !== d.weight || d.forwarding !== 'masq') changes++;
      }
    }
    changes += dests.size;
  }
  for (const s of byKey.values()) changes += 1 + s.dests.length;
  return changes;
}

async function runCeiling(c: Case, ns: string, out: PhaseSamples, checks: Checks, probes: { full: number[]; empty: number[] }): Promise<void> {
  const ceiling = (file: string): Sample => {
    const r = spawnTimed([ns, CEILING, file]);
    const j = JSON.parse(r.stdout) as { ms: number; errors: number; firstErrno: number };
    if (j.errors) throw new Error(`ceiling ${file}: ${j.errors} errors, first errno ${j.firstErrno}`);
    return { ms: j.ms, detail: { ...j, wallMs: Math.round(r.ms) } };
  };
  out.create = ceiling(c.files['create.ops']);
  out.noop = ceiling(c.files['read.ops']);
  out.adopt = out.verify = out.stream = out.noop;
  // While the table is full: the library's list() and ipvsadm -Sn of it.
  const handle = await ipvs.open({ netns: ns });
  try {
    await gc();
    const listed = await timed(() => handle.list(), true);
    const count = (listed.value as ipvs.Service[]).reduce((x, s) => x + 1 + s.destinations.length, 0);
    if (count !== opsOf(c, 'list')) throw new Error(`list() returned ${count} objects, expected ${opsOf(c, 'list')}`);
    out.listCalls = { ms: listed.ms, loopMaxMs: listed.loopMaxMs, loopP99Ms: listed.loopP99Ms };
    listed.value = null;
    await gc();
    const streamed = await timed(async () => {
      let objects = 0;
      for await (const batch of handle.services({ batchSize: STREAM_BATCH })) for (const s of batch) objects += 1 + s.destinations.length;
      return objects;
    }, true);
    if (streamed.value !== opsOf(c, 'list')) throw new Error(`services() returned ${streamed.value} objects, expected ${opsOf(c, 'list')}`);
    out.listStream = { ms: streamed.ms, loopMaxMs: streamed.loopMaxMs, loopP99Ms: streamed.loopP99Ms };
    await gc();
    // Each way of reading in a fresh process of its own (peak RSS is a lifetime mark).
    const fresh: Partial<Record<ListingFigures['how'], ListingFigures>> = {};
    for (const how of ['open', 'list', 'services'] as const) {
      const r = spawnSync(process.execPath, ['--max-old-space-size=6144', `${__dirname}/listing.js`, ns, how], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`listing.js ${how} failed (${r.status}): ${r.stderr}`);
      const f = JSON.parse(r.stdout) as ListingFigures;
      if (how !== 'open' && f.objects !== opsOf(c, 'list')) throw new Error(`listing.js ${how} read ${f.objects} objects, expected ${opsOf(c, 'list')}`);
      fresh[how] = f;
    }
    const rss = { open: fresh.open!.peakRssMiB, list: fresh.list!.peakRssMiB, services: fresh.services!.peakRssMiB };
    out.streamList = { ms: fresh.list!.ms, loopMaxMs: fresh.list!.loopMaxMs, loopP99Ms: fresh.list!.loopP99Ms, detail: { peakRssMiB: rss.list, growthMiB: rss.list - rss.open } };
    out.streamServices = { ms: fresh.services!.ms, loopMaxMs: fresh.services!.loopMaxMs, loopP99Ms: fresh.services!.loopP99Ms, detail: { peakRssMiB: rss.services, growthMiB: rss.services - rss.open } };
    const sn = spawnTimed([ns, 'ipvsadm', '-Sn']);
    out.listIpvsadm = { ms: sn.ms };
    checks.create = compare(sn.stdout.split('\n').filter(Boolean), savedLines(c.base));
    // addService alone into the full table (the empty-table twin is measured once per boot).
    const p = await addServiceProbe(handle, c.n);
    probes.full.push(...p.full);
    probes.empty.push(...p.empty);
  } finally {
    await handle.close();
  }
  out.churn = ceiling(c.files['churn.ops']);
  out['one-change'] = ceiling(c.files['one.ops']);
  checks['one-change'] = check(ns, c.final);
  out.delete = ceiling(c.files['delete.ops']);
  checks.delete = check(ns, []);
}

/**
 * addService() alone: PROBES awaited calls adding new services into the full
 * table, alternating with as many into a fresh empty namespace (so that noise
 * from the host hits both alike), after WARMUP untimed pairs; then removes them.
 */
const PROBES = 15;
const WARMUP = 5;
async function addServiceProbe(full: ipvs.IpvsHandle, offset: number): Promise<{ full: number[]; empty: number[] }> {
  const ns = newNamespace();
  const empty = await ipvs.open({ netns: ns });
  const times = { full: [] as number[], empty: [] as number[] };
  try {
    const added = [];
    for (let k = 0; k < WARMUP + PROBES; k++) {
      const s = { protocol: 'tcp' as const, address: svcAddress(offset + 1000 + k), port: 81, scheduler: 'rr' };
      const tf = await timed(() => full.addService(s), false);
      const te = await timed(() => empty.addService(s), false);
      if (k >= WARMUP) {
        times.full.push(tf.ms);
        times.empty.push(te.ms);
      }
      added.push(s);
    }
    for (const s of added) await full.deleteService(s);
  } finally {
    await empty.close();
    await deleteNamespace(ns);
  }
  return times;
}

async function runIpvsadm(c: Case, ns: string, out: PhaseSamples, checks: Checks): Promise<void> {
  out.create = { ms: spawnTimed([ns, 'ipvsadm', '-R'], c.files['create.rules']).ms };
  const sn = spawnTimed([ns, 'ipvsadm', '-Sn']);
  // -Sn is what ipvsadm has for every read of the table: the no-op resync, adopting, verifying.
  out.noop = out.adopt = out.verify = out.stream = { ms: sn.ms };
  checks.create = compare(sn.stdout.split('\n').filter(Boolean), savedLines(c.base));
  out.churn = { ms: spawnTimed([ns, 'ipvsadm', '-R'], c.files['churn.rules']).ms };
  out['one-change'] = { ms: spawnTimed([ns, 'ipvsadm', '-R'], c.files['one.rules']).ms };
  checks['one-change'] = check(ns, c.final);
  out.delete = { ms: spawnTimed([ns, 'ipvsadm', '-C']).ms };
  checks.delete = check(ns, []);
}

async function runApply(c: Case, ns: string, out: PhaseSamples, checks: Checks): Promise<void> {
  const handle = await ipvs.open({ netns: ns });
  const apply = (handle as unknown as { apply: (d: unknown[], o?: unknown) => Promise<{ counts?: unknown }> }).apply.bind(handle);
  try {
    const step = async (desired: unknown[], options?: unknown): Promise<Sample> => {
      await gc();
      const t = await timed(() => apply(desired, options), true);
      return { ms: t.ms, loopMaxMs: t.loopMaxMs, loopP99Ms: t.loopP99Ms, detail: (t.value as { counts?: unknown })?.counts };
    };
    const desiredBase = desiredOf(c.base, false);
    out.create = await step(desiredBase);
    checks.create = check(ns, c.base);
    out.noop = await step(desiredBase);
    out.churn = await step(desiredOf(c.churned, true), { drain: true });
    // The churn's drained destinations are kept at weight 0 in this desired
    // state (as the other methods leave them), so the plan is the one change:
    // leaving them out would make this apply delete them once idle (drain's
    // second step), which is not the phase being measured.
    out['one-change'] = await step(desiredOf(c.final, false), { drain: true });
    checks['one-change'] = check(ns, c.final);
    out.delete = await step([], { prune: true });
    checks.delete = check(ns, []);
  } finally {
    await handle.close();
  }
}

/** The table made by the ceiling (not timed): for methods whose subject is what follows creation. */
function createByCeiling(c: Case, ns: string): void {
  const r = JSON.parse(spawnTimed([ns, CEILING, c.files['create.ops']]).stdout) as { errors: number; firstErrno: number };
  if (r.errors) throw new Error(`ceiling create: ${r.errors} errors, first errno ${r.firstErrno}`);
}

/** With precreated, the ceiling creates the table (too slow one call at a time) and the other phases are timed. */
async function runCalls(c: Case, ns: string, out: PhaseSamples, checks: Checks, precreated = false): Promise<void> {
  const handle = await ipvs.open({ netns: ns });
  try {
    const step = async (body: () => Promise<unknown>, young = false): Promise<Sample> => {
      await gc(young);
      const t = await timed(body, true);
      return { ms: t.ms, loopMaxMs: t.loopMaxMs, loopP99Ms: t.loopP99Ms, detail: t.value };
    };
    if (precreated) createByCeiling(c, ns);
    else
      out.create = await step(async () => {
        for (const s of c.base) {
          await handle.addService({ ...key(s), scheduler: 'rr' });
          for (const d of s.dests) await handle.addDestination(key(s), { address: d.address, port: d.port, forwarding: 'masq', weight: d.weight });
        }
      });
    checks.create = check(ns, c.base);
    out.noop = await step(async () => {
      const changes = diffCount(await handle.list(), c.base);
      if (changes !== 0) throw new Error(`no-op diff found ${changes} changes`);
      return { changes };
    });
    const change = async (op: ChurnOp) => {
      const s = c.base[op.svc];
      const d = { address: op.dest.address, port: op.dest.port, forwarding: 'masq' as const, weight: op.dest.weight };
      if (op.kind === 'add') await handle.addDestination(key(s), d);
      else await handle.editDestination(key(s), d);
    };
    await warmUp('calls', c, async (ops) => {
      for (const op of ops) await change(op);
    });
    out.churn = await step(async () => {
      for (const op of c.plan) await change(op);
    }, true);
    out['one-change'] = await step(() => change(c.one));
    checks['one-change'] = check(ns, c.finalWarmed);
    out.delete = await step(async () => {
      for (const s of c.base) await handle.deleteService(key(s));
    });
    checks.delete = check(ns, []);
  } finally {
    await handle.close();
  }
}

/** Every service of the bench's table (its VIPs are 198.18.x.y): a predicate, so deleteAll deletes one by one. */
const ownsBench = (s: ipvs.ServiceSpec) => typeof s.address === 'string' && s.address.startsWith('198.18.');
/**
 * Drains as a controller runs them; drainPoll at its maximum so that the
 * drained destinations (no connections: idle at once) stay at weight 0 for
 * the end-state check, as the other methods leave them.
 */
const RECONCILER_OPTIONS = { drain: { timeout: 300 }, drainPoll: 2 ** 31 - 1, minInterval: MIN_INTERVAL };
/** One change through the reconciler is timed this many times per run (the median kept; loop figures the worst). */
const ONE_CHANGES = 5;

type Counts = ipvs.ReconcileResult['counts'];
/** The counts of every distinct send's result that the calls resolved with; throws on a change that did not apply. */
function settled(results: ipvs.ReconcileResult[], what: string): Counts {
  const total: Counts = { applied: 0, already: 0, failed: 0, unknown: 0, unsent: 0, skipped: 0 };
  for (const r of new Set(results)) for (const k of Object.keys(total) as Array<keyof Counts>) total[k] += r.counts[k];
  if (total.failed + total.unknown + total.unsent + total.already > 0) throw new Error(`${what}: ${JSON.stringify(total)}`);
  return total;
}

async function runReconciler(c: Case, ns: string, out: PhaseSamples, checks: Checks): Promise<void> {
  const handle = await ipvs.open({ netns: ns });
  try {
    const r = await handle.reconciler({ owns: ownsBench, ...RECONCILER_OPTIONS });
    try {
      /** Times body; the detail says how many sends and operations it took. */
      const step = async (body: () => Promise<unknown>, detail?: (value: unknown) => Record<string, unknown>, young = false): Promise<Sample> => {
        await gc(young);
        const before = { ...r.counters };
        const t = await timed(body, true);
        const counted = { sends: r.counters.sends - before.sends, operations: r.counters.operations - before.operations };
        return { ms: t.ms, loopMaxMs: t.loopMaxMs, loopP99Ms: t.loopP99Ms, detail: { ...counted, ...detail?.(t.value) } };
      };
      const desired = desiredOf(c.base, false) as ipvs.DesiredService[];
      out.create = await step(async () => settled([await r.setDesired(desired)], 'setDesired'));
      checks.create = check(ns, c.base);
      const same = desiredOf(c.base, false) as ipvs.DesiredService[];
      out.noop = await step(async () => settled([await r.setDesired(same)], 'setDesired(same)'));
      if ((out.noop.detail as { sends: number }).sends !== 0) throw new Error(`setDesired(same) sent: ${JSON.stringify(out.noop.detail)}`);

      // The no-op verify, twice: timed alone (sampling the heap every 5 ms took
      // 30-50 % of its time on the VM's one vCPU), then again with the JS heap
      // sampled every 5 ms for its growth.
      const verified = await step(
        () => r.verify(),
        (v) => ({ drift: (v as ipvs.VerifyResult).drift.length, repair: (v as ipvs.VerifyResult).repair.plan.length }),
      );
      await gc();
      const heapBefore = process.memoryUsage().heapUsed;
      let heapPeak = heapBefore;
      const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 5);
      let sampled: ipvs.VerifyResult;
      try {
        sampled = await r.verify();
      } finally {
        clearInterval(sampler);
      }
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      const found = verified.detail as { drift: number; repair: number };
      if (found.drift !== 0 || found.repair !== 0 || sampled.drift.length !== 0)
        throw new Error(`a no-op verify found ${found.drift + sampled.drift.length} drift(s) and planned ${found.repair} repair(s)`);
      out.verify = { ...verified, detail: { ...found, heapGrowthMiB: Math.round(((heapPeak - heapBefore) / 2 ** 20) * 10) / 10 } };

      const change = (op: ChurnOp): Promise<ipvs.ReconcileResult> => {
        const k = key(c.base[op.svc]);
        if (op.kind === 'drain') return r.deleteDestination(k, { address: op.dest.address, port: op.dest.port });
        return r.setDestination(k, { address: op.dest.address, port: op.dest.port, forwarding: 'masq', weight: op.dest.weight });
      };
      // As changes arrive to an event-driven caller: not awaited one by one, the loop yielded every 2 ms.
      const burst = async (ops: ChurnOp[], what: string): Promise<Counts> => {
        const pending: Promise<ipvs.ReconcileResult>[] = [];
        let slice = performance.now();
        for (const op of ops) {
          pending.push(change(op));
          if (performance.now() - slice >= 2) {
            await new Promise((resolve) => setImmediate(resolve));
            slice = performance.now();
          }
        }
        return settled(await Promise.all(pending), what);
      };
      await warmUp('reconciler', c, async (ops) => {
        await burst(ops, 'warm-up');
      });
      out.churn = await step(() => burst(c.plan, 'churn'), undefined, true);
      // One change is a few milliseconds against stalls of the emulated machine that reach
      // 100 ms: the median of ONE_CHANGES, weights alternating, the last one c.one's.
      const ones: Sample[] = [];
      for (let k = ONE_CHANGES - 1; k >= 0; k--) {
        const op = k % 2 === 0 ? c.one : { ...c.one, dest: { ...c.one.dest, weight: c.one.dest.weight + 1 } };
        ones.push(await step(async () => settled([await change(op)], 'one change')));
      }
      const mid = [...ones].sort((x, y) => x.ms - y.ms)[ones.length >> 1];
      out['one-change'] = {
        ms: mid.ms,
        loopMaxMs: Math.max(...ones.map((x) => x.loopMaxMs!)),
        loopP99Ms: Math.max(...ones.map((x) => x.loopP99Ms!)),
        detail: { ...(mid.detail as object), samplesMs: ones.map((x) => Math.round(x.ms * 100) / 100) },
      };
      checks['one-change'] = check(ns, c.finalWarmed);
      out.delete = await step(async () => settled([await r.deleteAll()], 'deleteAll'));
      checks.delete = check(ns, []);
    } finally {
      await r.close();
    }
  } finally {
    await handle.close();
  }
}

// ----------------------------------------------------------------- warm-up --
/**
 * A controller's steady state runs warm code: its change-by-key path has run
 * thousands of times before, in the same process and on the same objects. A
 * bench process has not, and under software emulation V8's first thousands
 * of calls of a path (interpreted, then compiled on the one vCPU) cost
 * several times what they cost later: at 20,000 x 10 the reconciler's first
 * rounds of the churn took 1.0-1.5 s, and 0.23-0.45 s from the fifth on (a
 * reproduction, one boot). A warm-up in another namespace, on a reconciler
 * of its own, does not carry over: V8 drops optimized code whose embedded
 * objects died ("weak objects" in --trace-deopt), and the warm-up's
 * reconciler dies before the timed one is made (the timed churn took
 * 0.89-1.02 s after one at 20,000 x 10). So, right before the timed churn of
 * each JavaScript method, on the table and the reconciler (or handle) it
 * times, WARM_ROUNDS untimed rounds of the churn's own kinds and count of
 * changes (drain / add / reweight, by key or as awaited calls) change other
 * services of the table: each round those the churn changes, moved on by the
 * round's number plus one (never a churned service, nor the one change's).
 * The end state checked includes them (Case.finalWarmed). Every round's time
 * is kept ('warm-up' in the results' extras): the first is the cold figure.
 * ipvsadm and the ceiling are C: nothing to warm.
 */
const WARM_ROUNDS = 8;

/** Round r's changes of the warm-up (see above): the churn's, each moved r + 1 services on, less those that land on a churned service or the one change's. */
function warmPlan(base: Svc[], plan: ChurnOp[], m: number, round: number): ChurnOp[] {
  const churned = new Set(plan.map((op) => op.svc));
  const out: ChurnOp[] = [];
  for (const op of plan) {
    const i = (op.svc + round + 1) % base.length;
    if (!churned.has(i) && i !== ONE_SVC) out.push(churnOp(base, i, op.kind, m));
  }
  return out;
}

/** Runs the warm-up's rounds (each through `round`), keeps their times in the extras, logs them. */
async function warmUp(method: Method, c: Case, round: (ops: ChurnOp[]) => Promise<void>): Promise<void> {
  if (c.warm.every((ops) => ops.length === 0)) return; // a one-service table (the one change's comparison): no other service
  const rounds: number[] = [];
  for (const ops of c.warm) {
    const t0 = performance.now();
    await round(ops);
    rounds.push(performance.now() - t0);
  }
  extras[`warm-up:${method}:${c.n}x${c.m}`] = { changesPerRound: c.warm[0]?.length ?? 0, roundsMs: rounds.map((x) => Math.round(x)) };
  log(`warm-up ${method} ${c.n}x${c.m}: ${rounds.length} rounds of about ${c.warm[0]?.length ?? 0} changes, ${rounds.map((x) => x.toFixed(0)).join(' / ')} ms (the first is the cold figure)`);
}

async function runReconcilerAll(c: Case, ns: string, out: PhaseSamples, checks: Checks): Promise<void> {
  createByCeiling(c, ns);
  checks.adopt = check(ns, c.base);
  const handle = await ipvs.open({ netns: ns });
  try {
    await gc();
    const adopted = await timed(() => handle.reconciler({ owns: 'all', ...RECONCILER_OPTIONS }), true);
    const r = adopted.value as ipvs.Reconciler;
    try {
      if (r.size !== c.n) throw new Error(`adopted ${r.size} services, expected ${c.n}`);
      out.adopt = { ms: adopted.ms, loopMaxMs: adopted.loopMaxMs, loopP99Ms: adopted.loopP99Ms, detail: { services: r.size } };
      const desired = desiredOf(c.base, false) as ipvs.DesiredService[];
      await gc();
      const same = await timed(async () => settled([await r.setDesired(desired)], 'setDesired after adopting'), true);
      if (r.counters.sends !== 0) throw new Error(`adopting a table equal to the desired state made ${r.counters.sends} send(s)`);
      out.noop = { ms: same.ms, loopMaxMs: same.loopMaxMs, loopP99Ms: same.loopP99Ms, detail: { sends: r.counters.sends } };
      await gc();
      const flushed = await timed(async () => settled([await r.deleteAll()], 'deleteAll (flush)'), true);
      out.delete = { ms: flushed.ms, loopMaxMs: flushed.loopMaxMs, loopP99Ms: flushed.loopP99Ms };
      checks.delete = check(ns, []);
    } finally {
      await r.close();
    }
  } finally {
    await handle.close();
  }
}

// ------------------------------------------------------------------- main --
interface Collected {
  samples: Sample[];
  checks: string[];
}

function pushRow(c: Case, method: Method, phase: Phase, col: Collected): void {
  if (col.samples.length === 0) return;
  const ms = col.samples.map((s) => s.ms);
  const med = median(ms);
  const loops = col.samples.map((s) => s.loopMaxMs).filter((x): x is number => x !== undefined);
  const row: Row = {
    method,
    phase,
    n: c.n,
    m: c.m,
    ops: opsOf(c, phase),
    samplesMs: ms.map((x) => Math.round(x * 100) / 100),
    medianMs: Math.round(med * 100) / 100,
    opsPerSec: Math.round((opsOf(c, phase) / med) * 1000),
  };
  if (loops.length) row.loopMaxMs = Math.round(Math.max(...loops) * 10) / 10;
  const p99s = col.samples.map((s) => s.loopP99Ms).filter((x): x is number => x !== undefined);
  if (p99s.length) row.loopP99Ms = Math.round(Math.max(...p99s) * 10) / 10;
  const details = col.samples.map((s) => s.detail).filter((d) => d !== undefined);
  if (details.length) row.detail = details[details.length - 1];
  if (col.checks.length) row.check = col.checks.every((x) => x === 'ok') ? 'ok' : col.checks.find((x) => x !== 'ok');
  rows.push(row);
  console.log(`BENCH-ROW ${JSON.stringify(row)}`);
}

async function main(): Promise<void> {
  const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  log(`ipvs bench: kernel ${kernel}, node ${process.version}, N ${NS_LIST.join('/')} x M ${M_LIST.join('/')}, methods ${METHODS.join(',')}${QUICK ? ' (quick)' : ''}`);
  const probeHandle = await ipvs.open();
  const hasApply = typeof (probeHandle as unknown as { apply?: unknown }).apply === 'function';
  const hasReconciler = typeof (probeHandle as unknown as { reconciler?: unknown }).reconciler === 'function';
  await probeHandle.close();
  if (!hasApply && METHODS.includes('apply')) note('apply: not available in this build of the library (skipped)');
  if (!hasReconciler && METHODS.some((x) => x.startsWith('reconciler'))) note('reconciler: not available in this build of the library (skipped)');
  const available = (method: Method) => (method !== 'apply' || hasApply) && (!method.startsWith('reconciler') || hasReconciler);

  let callsMsPerOp = 0; // measured at the largest size done so far
  const probesBySize: Record<string, { samplesMs: number[]; medianMs: number }> = {};
  const emptyBySize: Record<string, { samplesMs: number[]; medianMs: number }> = {};
  const baselines: Record<string, Baseline> = {};
  const streamRss: Record<string, StreamRss> = {};
  for (const n of NS_LIST) {
    for (const m of M_LIST) {
      const c = makeCase(n, m);
      const runs = runsFor(n, m);
      log(`=== ${n} services x ${m} destinations (${n * (m + 1)} objects), ${runs} run(s) per method`);
      for (const method of METHODS) {
        if (!available(method)) continue;
        let precreated = false;
        // --calls-limit 0: the ceiling always makes the calls method's table.
        if (method === 'calls' && (CALLS_LIMIT_S === 0 || callsMsPerOp > 0)) {
          const estimate = (callsMsPerOp * n * (m + 1)) / 1000;
          if (CALLS_LIMIT_S === 0 || estimate > CALLS_LIMIT_S) {
            note(
              `calls at ${n}x${m}: create not timed (${CALLS_LIMIT_S === 0 ? '--calls-limit 0' : `estimated at ${estimate.toFixed(0)} s > ${CALLS_LIMIT_S} s from ${callsMsPerOp.toFixed(3)} ms per call`}): the ceiling made the table, the other phases are timed`,
            );
            precreated = true;
          }
        }
        const col: Record<string, Collected> = {};
        const get = (p: string) => (col[p] ??= { samples: [], checks: [] });
        const probes = { full: [] as number[], empty: [] as number[] };
        const rss: StreamRss[] = [];
        for (let r = 0; r < runs; r++) {
          const ns = newNamespace();
          const out: PhaseSamples = {};
          const checks: Checks = {};
          try {
            if (method === 'ceiling') await runCeiling(c, ns, out, checks, probes);
            else if (method === 'ipvsadm') await runIpvsadm(c, ns, out, checks);
            else if (method === 'apply') await runApply(c, ns, out, checks);
            else if (method === 'reconciler') await runReconciler(c, ns, out, checks);
            else if (method === 'reconciler-all') await runReconcilerAll(c, ns, out, checks);
            else await runCalls(c, ns, out, checks, precreated);
          } catch (error) {
            note(`${method} ${n}x${m} run ${r + 1}: ${(error as Error).stack ?? error}`);
          } finally {
            await deleteNamespace(ns);
          }
          for (const p of TIMED_PHASES) {
            if (out[p]) get(p).samples.push(out[p]!);
            if (checks[p]) get(p).checks.push(checks[p]!);
          }
          if (out.listCalls) get('list:calls').samples.push(out.listCalls);
          if (out.listStream) get('list:stream').samples.push(out.listStream);
          if (out.streamList) get('stream:calls').samples.push(out.streamList);
          if (out.streamServices) get('stream:stream').samples.push(out.streamServices);
          if (out.streamList && out.streamServices) {
            const peak = (x: Sample) => (x.detail as { peakRssMiB: number; growthMiB: number });
            const list = peak(out.streamList);
            const services = peak(out.streamServices);
            rss.push({ open: list.peakRssMiB - list.growthMiB, list: list.peakRssMiB, services: services.peakRssMiB });
          }
          if (out.listIpvsadm) get('list:ipvsadm').samples.push(out.listIpvsadm);
          if (method === 'ceiling' && out.noop) get('list:ceiling').samples.push(out.noop);
          const summary = Object.entries(out)
            .map(([p, s]) => `${p} ${(s as Sample).ms.toFixed(0)}${(s as Sample).loopMaxMs !== undefined ? `(loop ${(s as Sample).loopMaxMs!.toFixed(0)})` : ''}`)
            .join(', ');
          const bad = Object.entries(checks).filter(([, v]) => v !== 'ok');
          log(`${method} ${n}x${m} run ${r + 1}/${runs}: ${summary} ms; checks ${bad.length ? bad.map(([p, v]) => `${p}: ${v}`).join('; ') : 'ok'}`);
          if (method === 'calls' && out.create && !precreated) {
            const perOp = out.create.ms / (n * (m + 1));
            // Stop repeating when one run is already long.
            if (out.create.ms > 120_000 && r + 1 < runs) {
              note(`calls ${n}x${m}: ${r + 1} run(s) only (one run took ${(out.create.ms / 1000).toFixed(0)} s)`);
              callsMsPerOp = perOp;
              break;
            }
            callsMsPerOp = perOp;
          }
        }
        for (const p of TIMED_PHASES) if (col[p]) pushRow(c, method, p, col[p]);
        if (col['list:calls']) pushRow(c, 'calls', 'list', col['list:calls']);
        if (col['list:stream']) pushRow(c, 'stream', 'list', col['list:stream']);
        if (col['stream:calls']) pushRow(c, 'calls', 'stream', col['stream:calls']);
        if (col['stream:stream']) pushRow(c, 'stream', 'stream', col['stream:stream']);
        if (rss.length) {
          const size = `${n}x${m}`;
          const med = (f: (x: StreamRss) => number) => Math.round(median(rss.map(f)) * 10) / 10;
          streamRss[size] = { open: med((x) => x.open), list: med((x) => x.list), services: med((x) => x.services) };
          extras.streamRssMiB = streamRss;
          console.log(`BENCH-EXTRA ${JSON.stringify({ streamRssMiB: streamRss })}`);
          log(`peak RSS of a fresh process at ${size} (MiB): ${JSON.stringify(streamRss[size])}`);
        }
        if (col['list:ipvsadm']) pushRow(c, 'ipvsadm', 'list', col['list:ipvsadm']);
        if (col['list:ceiling']) pushRow(c, 'ceiling', 'list', col['list:ceiling']);
        if (probes.full.length) {
          const size = `${n}x${m}`;
          probesBySize[size] = { samplesMs: probes.full.map((x) => +x.toFixed(3)), medianMs: +median(probes.full).toFixed(3) };
          emptyBySize[size] = { samplesMs: probes.empty.map((x) => +x.toFixed(3)), medianMs: +median(probes.empty).toFixed(3) };
          extras.addServiceFullMs = probesBySize;
          extras.addServiceEmptyMs = emptyBySize;
          console.log(`BENCH-EXTRA ${JSON.stringify({ addServiceFullMs: probesBySize, addServiceEmptyMs: emptyBySize })}`);
          log(`addService alone: ${probesBySize[size].medianMs} ms into the ${size} table, ${emptyBySize[size].medianMs} ms into an empty one`);
        }
      }
      // The event-loop baseline for this size, in a fresh process (see bench/baseline.ts).
      const baseline = spawnSync(process.execPath, [`${__dirname}/baseline.js`, '--n', String(n), '--m', String(m), '--json'], { encoding: 'utf8' });
      if (baseline.status === 0) {
        baselines[`${n}x${m}`] = JSON.parse(baseline.stdout) as Baseline;
        extras.eventLoopBaselineMs = baselines;
        console.log(`BENCH-EXTRA ${JSON.stringify({ eventLoopBaselineMs: baselines })}`);
        log(`event-loop baseline at ${n}x${m}: ${JSON.stringify(baselines[`${n}x${m}`])}`);
      } else note(`event-loop baseline at ${n}x${m}: failed (${baseline.status}): ${baseline.stderr}`);
    }
  }

  // one-change into an almost empty table (one service, 10 destinations), once per boot, at the end (warm JIT).
  {
    const c = makeCase(1, 10);
    const one: Record<string, number> = {};
    for (const method of ['apply', 'reconciler', 'calls', 'ipvsadm', 'ceiling'] as Method[]) {
      if (!METHODS.includes(method) || !available(method)) continue;
      const times: number[] = [];
      for (let r = 0; r < 5; r++) {
        const ns = newNamespace();
        const out: PhaseSamples = {};
        try {
          if (method === 'ceiling') await runCeilingOne(c, ns, out);
          else if (method === 'ipvsadm') await runIpvsadm(c, ns, out, {});
          else if (method === 'apply') await runApply(c, ns, out, {});
          else if (method === 'reconciler') await runReconciler(c, ns, out, {});
          else await runCalls(c, ns, out, {});
          times.push(out['one-change']!.ms);
        } finally {
          await deleteNamespace(ns);
        }
      }
      one[method] = +median(times).toFixed(3);
    }
    extras.oneChangeSmallTableMs = one;
    console.log(`BENCH-EXTRA ${JSON.stringify({ oneChangeSmallTableMs: one })}`);
    log(`one-change on a 1-service table (medians, ms): ${JSON.stringify(one)}`);
  }

  const result = {
    kernel,
    node: process.version,
    date: new Date().toISOString(),
    quick: QUICK,
    totalSeconds: Math.round((Date.now() - started) / 1000),
    config: { n: NS_LIST, m: M_LIST, methods: METHODS, runs: Object.fromEntries(NS_LIST.flatMap((n) => M_LIST.map((m) => [`${n}x${m}`, runsFor(n, m)]))), callsLimitSeconds: CALLS_LIMIT_S },
    applyAvailable: hasApply,
    reconcilerAvailable: hasReconciler,
    rows,
    extras,
    notes,
  };
  console.log('\n' + formatTables(result as BenchResult) + '\n');
  console.log('=== BENCH RESULTS BEGIN ===');
  console.log(JSON.stringify(result));
  console.log('=== BENCH RESULTS END ===');
}

async function runCeilingOne(c: Case, ns: string, out: PhaseSamples): Promise<void> {
  // Create the table with the ceiling, then time only the one change.
  for (const f of ['create.ops', 'churn.ops']) spawnTimed([ns, CEILING, c.files[f]]);
  const r = spawnTimed([ns, CEILING, c.files['one.ops']]);
  out['one-change'] = { ms: (JSON.parse(r.stdout) as { ms: number }).ms };
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
