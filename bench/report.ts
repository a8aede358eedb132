// Tables, the markdown ratio table and the SVG chart of a bench result
// (shared by bench/guest.ts, which prints the tables, and bench/run.ts, which
// writes bench/results.md and bench/chart.svg). No dependencies.
import type { Baseline } from './baseline';

export type Method = 'apply' | 'reconciler' | 'reconciler-all' | 'calls' | 'stream' | 'ipvsadm' | 'ceiling';
export type Phase = 'create' | 'adopt' | 'noop' | 'verify' | 'churn' | 'one-change' | 'delete' | 'list' | 'stream';

export interface Row {
  method: Method;
  phase: Phase;
  n: number;
  m: number;
  ops: number;
  samplesMs: number[];
  medianMs: number;
  opsPerSec: number;
  loopMaxMs?: number;
  /** The 99th percentile of event-loop delay (worst of the runs). */
  loopP99Ms?: number;
  detail?: unknown;
  check?: string;
}

export interface BenchResult {
  /** How it was run (what results.md says reproduces it). */
  command?: string;
  kernel: string;
  node: string;
  date: string;
  quick: boolean;
  partial?: boolean;
  totalSeconds?: number;
  config?: { runs?: Record<string, number> };
  applyAvailable?: boolean;
  rows: Row[];
  extras: Record<string, unknown>;
  notes: string[];
}

export const PHASES: Phase[] = ['create', 'adopt', 'noop', 'verify', 'churn', 'one-change', 'delete', 'list', 'stream'];
export const METHODS: Method[] = ['apply', 'reconciler', 'reconciler-all', 'calls', 'stream', 'ipvsadm', 'ceiling'];

export const PHASE_TITLE: Record<Phase, string> = {
  create: 'create (N services x M destinations)',
  adopt: 'adopt the table (reconciler start: one read)',
  noop: 'no-op resync (read + diff)',
  verify: 'no-op full verify (compare the kernel with the model)',
  churn: '1 % churn (drain / add / reweight)',
  'one-change': 'one change (one weight)',
  delete: 'delete all',
  list: 'list the whole table',
  stream: 'read the whole table in a fresh process',
};

/** What each method does in each phase (for the tables' legend). */
export const METHOD_LABEL: Record<Method, string> = {
  apply: 'apply()',
  reconciler: 'reconciler (owns: predicate)',
  'reconciler-all': "reconciler (owns: 'all')",
  calls: 'library, one await per call',
  stream: 'handle.services() (streamed)',
  ipvsadm: 'ipvsadm',
  ceiling: 'ceiling (raw netlink, C)',
};
export const METHOD_PHASE_NOTE: Record<Method, Partial<Record<Phase, string>>> = {
  apply: { create: 'apply(desired)', noop: 'apply(same)', churn: 'apply(changed, {drain})', 'one-change': 'apply(one change)', delete: 'apply([], {prune})' },
  reconciler: {
    create: 'setDesired(desired) after adopting an empty table',
    noop: 'setDesired(same)',
    verify: 'verify()',
    churn: 'deleteDestination (drain) / setDestination, not awaited one by one',
    'one-change': 'setDestination (median of 5 per run)',
    delete: 'deleteAll() (one delete per service)',
  },
  'reconciler-all': { adopt: "reconciler({ owns: 'all' })", noop: 'setDesired(same) after adopting', delete: 'deleteAll() (one flush)' },
  calls: {
    create: 'addService/addDestination',
    noop: 'list() + JS diff',
    churn: 'edit/addDestination',
    'one-change': 'editDestination',
    delete: 'deleteService',
    list: 'list()',
    stream: 'list(), held at once',
  },
  stream: { list: 'services() in batches', stream: 'services() in batches' },
  ipvsadm: {
    create: 'ipvsadm -R',
    adopt: 'ipvsadm -Sn',
    noop: 'ipvsadm -Sn',
    verify: 'ipvsadm -Sn',
    churn: 'ipvsadm -R (-e/-a)',
    'one-change': 'ipvsadm -R (-e)',
    delete: 'ipvsadm -C',
    list: 'ipvsadm -Sn',
    stream: 'ipvsadm -Sn',
  },
  ceiling: {
    create: 'NEW_SERVICE/NEW_DEST',
    adopt: 'raw dumps',
    noop: 'raw dumps',
    verify: 'raw dumps',
    churn: 'SET_DEST/NEW_DEST',
    'one-change': 'SET_DEST',
    delete: 'DEL_SERVICE',
    list: 'raw dumps',
    stream: 'raw dumps',
  },
};

function find(rows: Row[], method: Method, phase: Phase, n: number, m: number): Row | undefined {
  return rows.find((r) => r.method === method && r.phase === phase && r.n === n && r.m === m);
}
const uniq = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);

function fmtMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}
function fmtRatio(x: number | undefined): string {
  if (x === undefined || !isFinite(x)) return '-';
  return x >= 10 ? `${x.toFixed(0)}x` : `${x.toFixed(2)}x`;
}
function fmtOps(x: number): string {
  return x >= 1000 ? `${Math.round(x).toLocaleString('en-US')}` : x.toFixed(1);
}

interface TableLine {
  method: Method;
  what: string;
  n: number;
  m: number;
  median: string;
  opsPerSec: string;
  vsIpvsadm: string;
  vsCeiling: string;
  loop: string;
  p99: string;
  runs: string;
  check: string;
}
function tableLines(result: BenchResult, phase: Phase): TableLine[] {
  const rows = result.rows.filter((r) => r.phase === phase);
  const lines: TableLine[] = [];
  for (const n of uniq(rows.map((r) => r.n)))
    for (const m of uniq(rows.map((r) => r.m)))
      for (const method of METHODS) {
        const r = find(rows, method, phase, n, m);
        if (!r) continue;
        const ipv = find(rows, 'ipvsadm', phase, n, m);
        const ceil = find(rows, 'ceiling', phase, n, m);
        lines.push({
          method,
          what: method === 'stream' ? `services({ batchSize: ${streamBatch(result)} })` : METHOD_PHASE_NOTE[method][phase] ?? '',
          n,
          m,
          median: fmtMs(r.medianMs),
          opsPerSec: fmtOps(r.opsPerSec),
          vsIpvsadm: ipv ? fmtRatio(r.medianMs / ipv.medianMs) : '-',
          vsCeiling: ceil ? fmtRatio(r.medianMs / ceil.medianMs) : '-',
          loop: r.loopMaxMs === undefined ? '' : fmtMs(r.loopMaxMs),
          p99: r.loopP99Ms === undefined ? '' : fmtMs(r.loopP99Ms),
          runs: String(r.samplesMs.length),
          check: r.check ?? '',
        });
      }
  return lines;
}

/** Plain-text tables, one per phase. */
export function formatTables(result: BenchResult): string {
  const out: string[] = [];
  out.push(`ipvs bench, kernel ${result.kernel}, ${result.date}${result.quick ? ' (quick)' : ''}${result.partial ? ' (PARTIAL)' : ''}`);
  out.push('median of the runs; ops/s = objects (services + destinations) changed or read per second;');
  out.push('x ipvsadm / x ceiling = this median / theirs (same phase, N, M); loop block* = longest event-loop block seen, worst of the runs');
  for (const phase of PHASES) {
    const lines = tableLines(result, phase);
    if (!lines.length) continue;
    out.push('', `## ${PHASE_TITLE[phase]}`);
    const head = ['method', 'what', 'N', 'M', 'median', 'ops/s', 'x ipvsadm', 'x ceiling', 'loop block*', 'loop p99', 'runs', 'check'];
    const cells = lines.map((l) => [l.method, l.what, String(l.n), String(l.m), l.median, l.opsPerSec, l.vsIpvsadm, l.vsCeiling, l.loop, l.p99, l.runs, l.check.slice(0, 60)]);
    const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const right = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const fmt = (c: string[]) => c.map((x, i) => (right.has(i) ? x.padStart(width[i]) : x.padEnd(width[i]))).join('  ');
    out.push(fmt(head), ...cells.map(fmt));
  }
  const targets = mustShow(result);
  if (targets.length) out.push('', "## issue 17's targets", ...targets);
  const ex = extrasText(result);
  if (ex.length) out.push('', '## other measurements', ...ex);
  if (result.notes.length) out.push('', '## notes', ...result.notes.map((n) => `- ${n}`));
  return out.join('\n');
}

/** The services() batch of a run's stream phases (runs before it was recorded used 256). */
function streamBatch(result: BenchResult): number {
  return (result.extras as { streamBatch?: number }).streamBatch ?? 256;
}

/** bench/health-scale.ts's figures (run natively after the VM part), as a table and the burst's line. */
interface HealthScale {
  checks: number;
  seconds: number;
  runsPerSecond: number;
  period: { p1Ms: number; p50Ms: number; p99Ms: number; maxMs: number; withinTenPercent: number };
  cpuMicrosecondsPerCheck: number;
  cpuPercentOfOneCore: number;
  maxOpenFds: number;
  eventLoop: { maxBlockMs: number; maxCpuBoundBlockMs: number };
  scheduler: { skippedPeriods: number };
  burst: { listenersStopped: number; sinkCalls: number; weightChanges: number; firstCallAfterMs: number };
  loadBefore: number;
}

function healthScaleText(result: BenchResult): string[] {
  const h = (result.extras as { healthScale?: HealthScale }).healthScale;
  if (h === undefined) return [];
  const ok = (met: boolean) => (met ? 'met' : '**missed**');
  const within = h.period.withinTenPercent;
  return [
    `${h.checks.toLocaleString('en-US')} checks (half TCP connects, half HTTP GETs) every 1 s against listeners on 127.0.0.0/8, natively on the host (checking needs no IPVS), ${h.seconds} s measured; the 1-minute load before it was ${h.loadBefore.toFixed(2)}. \`node dist/bench/health-scale.js\` runs it alone.`,
    '',
    '| measured | result | target | |',
    '|---|---|---|---|',
    `| runs per second | ${Math.round(h.runsPerSecond).toLocaleString('en-US')} | ${h.checks.toLocaleString('en-US')} | |`,
    `| real period between two checks of a backend (p1 / p50 / p99, max) | ${h.period.p1Ms.toFixed(0)} / ${h.period.p50Ms.toFixed(0)} / ${h.period.p99Ms.toFixed(0)} ms, ${h.period.maxMs.toFixed(0)} ms | within 10 % of 1 s | ${ok(within === 1)}: ${(within * 100).toFixed(1)} % within |`,
    `| periods skipped (a run still going at the next due time) | ${h.scheduler.skippedPeriods} | | |`,
    `| CPU per check (the checker's process) | ${h.cpuMicrosecondsPerCheck.toFixed(0)} µs (${h.cpuPercentOfOneCore.toFixed(0)} % of one core) | stated | |`,
    `| open file descriptors, at most | ${h.maxOpenFds} | bounded | ${ok(h.maxOpenFds < 1024)} |`,
    `| longest event-loop block (wall; the loop thread's own CPU in it) | ${h.eventLoop.maxBlockMs.toFixed(1)} ms (${h.eventLoop.maxCpuBoundBlockMs.toFixed(1)} ms) | < 20 ms | ${ok(h.eventLoop.maxBlockMs < 20)} |`,
    `| weight-change sends for a burst of ${h.burst.listenersStopped} listeners closed at once | ${h.burst.sinkCalls} (${h.burst.weightChanges} changes, the first ${(h.burst.firstCallAfterMs / 1000).toFixed(1)} s after the close) | one | ${ok(h.burst.sinkCalls === 1)} |`,
  ];
}

function extrasText(result: BenchResult): string[] {
  const out: string[] = [];
  const e = result.extras as {
    addServiceEmptyMs?: Record<string, { medianMs: number }>;
    addServiceFullMs?: Record<string, { medianMs: number }>;
    oneChangeSmallTableMs?: Record<string, number>;
  };
  if (e.addServiceEmptyMs && e.addServiceFullMs)
    for (const [size, v] of Object.entries(e.addServiceFullMs)) {
      const empty = e.addServiceEmptyMs[size];
      if (empty) out.push(`- addService() alone into a ${size} table: ${fmtMs(v.medianMs)} vs ${fmtMs(empty.medianMs)} into an empty one (${fmtRatio(v.medianMs / empty.medianMs)}; promise: <= 1.5x)`);
    }
  if (e.oneChangeSmallTableMs) {
    const big = result.rows.filter((r) => r.phase === 'one-change').sort((a, b) => b.n * (b.m + 1) - a.n * (a.m + 1));
    for (const [method, small] of Object.entries(e.oneChangeSmallTableMs)) {
      const r = big.find((x) => x.method === method);
      out.push(`- one change, ${method}: ${fmtMs(small)} on a 1-service table${r ? ` vs ${fmtMs(r.medianMs)} at ${r.n}x${r.m} (${fmtRatio(r.medianMs / small)})` : ''}`);
    }
  }
  for (const phase of ['create', 'list'] as Phase[]) {
    const loops = result.rows.filter((r) => r.phase === phase && r.loopMaxMs !== undefined && (phase === 'list' || r.method === 'apply'));
    for (const r of loops) out.push(`- longest event-loop block, ${r.method} ${phase} at ${r.n}x${r.m}: ${fmtMs(r.loopMaxMs!)}`);
  }
  const rss = (result.extras as { streamRssMiB?: Record<string, StreamRss> }).streamRssMiB ?? {};
  for (const [size, r] of Object.entries(rss))
    out.push(
      `- peak RSS (VmHWM) of a fresh process at ${size}: opening a handle only ${r.open.toFixed(0)} MiB; list() ${r.list.toFixed(0)} MiB (+${(r.list - r.open).toFixed(0)}); ` +
        `services({ batchSize: ${streamBatch(result)} }) ${r.services.toFixed(0)} MiB (+${(r.services - r.open).toFixed(0)})`,
    );
  for (const r of result.rows.filter((x) => x.method === 'reconciler' && x.detail !== undefined)) {
    const d = r.detail as { heapGrowthMiB?: number; sends?: number; operations?: number };
    if (r.phase === 'verify' && d.heapGrowthMiB !== undefined) out.push(`- reconciler verify() at ${r.n}x${r.m}: JS heap growth ${d.heapGrowthMiB.toFixed(1)} MiB (sampled every 5 ms in a second verify; the timed one is not sampled)`);
    if ((r.phase === 'churn' || r.phase === 'one-change') && d.sends !== undefined)
      out.push(`- reconciler ${r.phase} at ${r.n}x${r.m}: ${r.ops} calls left in ${d.sends} send(s) of ${d.operations} operation(s)`);
  }
  for (const [name, w] of Object.entries(result.extras)) {
    if (!name.startsWith('warm-up:')) continue;
    const { changesPerRound, roundsMs } = w as { changesPerRound: number; roundsMs: number[] };
    out.push(
      `- warm-up of ${name.slice('warm-up:'.length).replace(':', ' at ')} (untimed, right before the timed churn, on other services of the same table): ${roundsMs.length} rounds of about ${changesPerRound} changes, ` +
        `${roundsMs.map((x) => fmtMs(x)).join(' / ')} (the first round is cold code; the timed phases run warm, as a controller's steady state does)`,
    );
  }
  const baselines = (result.extras as { eventLoopBaselineMs?: Record<string, Baseline> }).eventLoopBaselineMs ?? {};
  for (const [size, f] of Object.entries(baselines))
    out.push(
      `- event-loop baseline at ${size} (plain JS building the same objects, no library; fresh process, then again): ` +
        `list()'s ${fmtMs(f.listMs[0])}, ${fmtMs(f.listMs[1])}; apply() create's result ${fmtMs(f.applyResultMs[0])}, ${fmtMs(f.applyResultMs[1])}; ` +
        `the machine alone: idle ${fmtMs(f.idleMs)}, busy keeping nothing ${fmtMs(f.busyMs)}`,
    );
  return out;
}

/** Peak RSS (VmHWM, MiB) of fresh processes that only open a handle, read the table with list(), or stream it with services(). */
export interface StreamRss {
  open: number;
  list: number;
  services: number;
}

/**
 * Issue 17's "Must show" targets, checked against the largest size the
 * reconciler ran at: each line says met or MISSED, with the figures.
 */
export function mustShow(result: BenchResult): string[] {
  const rec = result.rows.filter((r) => r.method === 'reconciler').sort((a, b) => b.n * (b.m + 1) - a.n * (a.m + 1))[0];
  if (!rec) return [];
  const { n, m } = rec;
  const size = `${n}x${m}`;
  const row = (method: Method, phase: Phase) => find(result.rows, method, phase, n, m);
  const e = result.extras as {
    oneChangeSmallTableMs?: Record<string, number>;
    eventLoopBaselineMs?: Record<string, Baseline>;
    streamRssMiB?: Record<string, StreamRss>;
  };
  const idle = e.eventLoopBaselineMs?.[size]?.idleMs;
  const out: string[] = [];
  const verdict = (ok: boolean | undefined, text: string) =>
    out.push(`- ${ok === undefined ? 'not measured' : ok ? 'met' : '**MISSED**'}: ${text}`);
  const ratio = (a: Row | undefined, b: Row | undefined) => (a && b ? a.medianMs / b.medianMs : undefined);
  const loopBound = (r: Row | undefined, slackMs: number, what: string) => {
    if (!r || r.loopMaxMs === undefined || idle === undefined) return verdict(undefined, `${what}: longest event-loop block against the idle loop's`);
    verdict(r.loopMaxMs <= idle + slackMs, `${what}: longest event-loop block ${fmtMs(r.loopMaxMs)} against the idle loop's ${fmtMs(idle)}${slackMs ? ` + ${slackMs} ms` : ''} (same boot)`);
  };
  out.push(`At ${n.toLocaleString('en-US')} x ${m} (the reconciler's largest size in this run):`);

  const one = row('reconciler', 'one-change');
  const small = e.oneChangeSmallTableMs?.reconciler;
  const oneIpvsadm = row('ipvsadm', 'one-change');
  if (one && small !== undefined) verdict(one.medianMs / small <= 1.5, `one weight change ${fmtMs(one.medianMs)} vs ${fmtMs(small)} on a one-service table: ${fmtRatio(one.medianMs / small)} (target <= 1.5x)`);
  else verdict(undefined, 'one weight change against a one-service table');
  const r1 = ratio(one, oneIpvsadm);
  verdict(r1 === undefined ? undefined : r1 < 1, `one weight change vs \`ipvsadm -R\` of the one -e line (${oneIpvsadm ? fmtMs(oneIpvsadm.medianMs) : '-'}): ${fmtRatio(r1)} (target < 1x)`);

  const churn = row('reconciler', 'churn');
  const churnCalls = row('calls', 'churn');
  const churnIpvsadm = row('ipvsadm', 'churn');
  const r2 = ratio(churn, churnCalls);
  verdict(r2 === undefined ? undefined : r2 <= 2, `1 % churn (${churn?.ops ?? '-'} changes) ${churn ? fmtMs(churn.medianMs) : '-'} vs direct calls ${churnCalls ? fmtMs(churnCalls.medianMs) : '-'}: ${fmtRatio(r2)} (target <= 2x)`);
  const r3 = ratio(churn, churnIpvsadm);
  verdict(r3 === undefined ? undefined : r3 < 1, `1 % churn vs \`ipvsadm -R\` of the same lines (${churnIpvsadm ? fmtMs(churnIpvsadm.medianMs) : '-'}): ${fmtRatio(r3)} (target < 1x)`);

  const clear = row('ipvsadm', 'delete');
  for (const method of ['reconciler', 'reconciler-all'] as Method[]) {
    const d = row(method, 'delete');
    const r = ratio(d, clear);
    verdict(r === undefined ? undefined : r <= 3, `delete everything owned, ${METHOD_PHASE_NOTE[method].delete} ${d ? fmtMs(d.medianMs) : '-'} vs \`ipvsadm -C\` ${clear ? fmtMs(clear.medianMs) : '-'}: ${fmtRatio(r)} (target <= 3x)`);
  }

  const verify = row('reconciler', 'verify');
  const save = row('ipvsadm', 'verify');
  const speedup = verify && save ? save.medianMs / verify.medianMs : undefined;
  verdict(speedup === undefined ? undefined : speedup >= 2, `no-op verify ${verify ? fmtMs(verify.medianMs) : '-'} vs \`ipvsadm -Sn\` ${save ? fmtMs(save.medianMs) : '-'}: ${speedup === undefined ? '-' : `${speedup.toFixed(2)}x faster`} (target >= 2x)`);
  const heap = (verify?.detail as { heapGrowthMiB?: number } | undefined)?.heapGrowthMiB;
  verdict(heap === undefined ? undefined : heap < 20, `JS heap growth during the verify: ${heap === undefined ? '-' : `${heap.toFixed(1)} MiB`} (target < 20 MB)`);
  loopBound(verify, 20, 'no-op verify');

  const rss = e.streamRssMiB?.[size];
  if (rss) {
    const list = rss.list - rss.open;
    const stream = rss.services - rss.open;
    verdict(stream <= list / 5, `streamed listing: peak RSS growth ${stream.toFixed(0)} MiB vs list()'s ${list.toFixed(0)} MiB: ${fmtRatio(stream / list)} (target <= 0.2x)`);
  } else verdict(undefined, 'streamed listing: peak RSS growth against list()');
  loopBound(row('stream', 'stream'), 20, 'streamed listing');

  for (const [phase, what] of [['one-change', 'one change'], ['churn', '1 % churn']] as Array<[Phase, string]>) {
    const r = row('reconciler', phase);
    verdict(r?.loopP99Ms === undefined ? undefined : r.loopP99Ms < 20, `${what}: event-loop p99 ${r?.loopP99Ms === undefined ? '-' : fmtMs(r.loopP99Ms)} (target < 20 ms)`);
    loopBound(r, 0, what);
  }
  return out;
}

/** The ratio tables as markdown (for the README). */
export function markdown(result: BenchResult, command: string): string {
  const out: string[] = [];
  out.push(`# ipvs bench results`, '');
  out.push(`Kernel ${result.kernel} (qemu TCG, 1 vCPU, software emulation), node ${result.node}, ${result.date.slice(0, 10)}${result.partial ? ', PARTIAL run' : ''}${result.totalSeconds ? `, ${Math.round(result.totalSeconds / 60)} min in the VM` : ''}.`);
  out.push(`Reproduce: \`${command}\`. Every method and run in a fresh network namespace, rr scheduler, run_estimation=0; medians.`);
  out.push(`Absolute times are from an emulated machine: compare ratios and growth, not seconds.`, '');
  out.push('![time against N per method and phase](chart.svg)', '');
  for (const phase of PHASES) {
    const lines = tableLines(result, phase);
    if (!lines.length) continue;
    out.push(`## ${PHASE_TITLE[phase]}`, '');
    out.push('| method | what | N | M | median | ops/s | vs ipvsadm | vs ceiling | longest event-loop block (worst run) | event-loop p99 (worst run) | runs | end state |');
    out.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|');
    for (const l of lines)
      out.push(`| ${METHOD_LABEL[l.method]} | ${l.what} | ${l.n.toLocaleString('en-US')} | ${l.m} | ${l.median} | ${l.opsPerSec} | ${l.vsIpvsadm} | ${l.vsCeiling} | ${l.loop} | ${l.p99} | ${l.runs} | ${l.check.startsWith('ok') ? 'ok' : l.check ? 'MISMATCH' : ''} |`);
    out.push('');
  }
  const targets = mustShow(result);
  if (targets.length) out.push("## Issue 17's targets (the reconciler's steady state)", '', ...targets, '');
  const health = healthScaleText(result);
  if (health.length) out.push("## Health checks at scale (issue 18)", '', ...health, '');
  const ex = extrasText(result);
  if (ex.length) out.push('## Other measurements', '', ...ex, '');
  if (result.notes.length) out.push('## Notes', '', ...result.notes.map((n) => `- ${n.split('\n')[0]}`), '');
  return out.join('\n');
}

// ------------------------------------------------------------------ chart --
const COLORS: Record<Method, string> = {
  apply: '#d62728',
  reconciler: '#9467bd',
  'reconciler-all': '#e377c2',
  calls: '#ff7f0e',
  stream: '#8c564b',
  ipvsadm: '#1f77b4',
  ceiling: '#2ca02c',
};
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Time against N, log-log, one panel per phase, a line per method (solid M=10, dashed M=1). */
export function chartSvg(result: BenchResult): string {
  const cols = 3;
  const pw = 420; // panel plot width
  const ph = 250;
  const ml = 70; // margins inside a panel cell
  const mt = 40;
  const cellW = pw + ml + 30;
  const cellH = ph + mt + 55;
  const top = 130;
  const width = cols * cellW + 20;
  const height = top + Math.ceil(PHASES.length / cols) * cellH + 20;
  const ns = uniq(result.rows.map((r) => r.n));
  const ms = uniq(result.rows.map((r) => r.m));
  const mMax = ms[ms.length - 1];
  const dash = (m: number) => (m === mMax ? '' : m === ms[0] ? '6,4' : '2,3');
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(`ipvs bench: time against N services, per method and phase${result.partial ? ' (partial run)' : ''}`)}</text>`);
  out.push(`<text x="${width / 2}" y="50" text-anchor="middle" font-size="13">${esc(`Linux ${result.kernel} in qemu (software emulation, 1 vCPU), node ${result.node}, ${result.date.slice(0, 10)}; median of runs; fresh network namespace per run; log-log`)}</text>`);
  // Legend, in rows that fit the width.
  let lx = 40;
  let ly = 76;
  const room = (w: number) => {
    if (lx + w <= width - 20) return;
    lx = 40;
    ly += 22;
  };
  for (const method of METHODS) {
    if (!result.rows.some((r) => r.method === method)) continue;
    room(56 + METHOD_LABEL[method].length * 7.2);
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 30}" y2="${ly}" stroke="${COLORS[method]}" stroke-width="2.5"/><circle cx="${lx + 15}" cy="${ly}" r="3.5" fill="${COLORS[method]}"/>`);
    out.push(`<text x="${lx + 36}" y="${ly + 4}">${esc(METHOD_LABEL[method])}</text>`);
    lx += 56 + METHOD_LABEL[method].length * 7.2;
  }
  for (const m of ms) {
    room(230);
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 30}" y2="${ly}" stroke="#444" stroke-width="2" stroke-dasharray="${dash(m)}"/>`);
    out.push(`<text x="${lx + 36}" y="${ly + 4}">M = ${m} destination${m === 1 ? '' : 's'} per service</text>`);
    lx += 230;
  }

  PHASES.forEach((phase, k) => {
    const x0 = 10 + (k % cols) * cellW + ml;
    const y0 = top + Math.floor(k / cols) * cellH + mt;
    const rows = result.rows.filter((r) => r.phase === phase);
    out.push(`<text x="${x0 + pw / 2}" y="${y0 - 14}" text-anchor="middle" font-size="14" font-weight="bold">${esc(PHASE_TITLE[phase])}</text>`);
    out.push(`<rect x="${x0}" y="${y0}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    if (!rows.length) {
      out.push(`<text x="${x0 + pw / 2}" y="${y0 + ph / 2}" text-anchor="middle" fill="#888">no data</text>`);
      return;
    }
    // Scales.
    const lnMin = Math.log10(ns[0]);
    const lnMax = Math.log10(ns[ns.length - 1]);
    const xs = (n: number) => (lnMax === lnMin ? x0 + pw / 2 : x0 + 25 + ((Math.log10(n) - lnMin) / (lnMax - lnMin)) * (pw - 50));
    const vals = rows.map((r) => r.medianMs).filter((v) => v > 0);
    let lo = Math.floor(Math.log10(Math.min(...vals)));
    let hi = Math.ceil(Math.log10(Math.max(...vals)));
    if (hi === lo) hi = lo + 1;
    const ys = (ms: number) => y0 + ph - ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * ph;
    // Grid and y ticks (decades, plus 2 and 5 when few decades).
    for (let d = lo; d <= hi; d++) {
      for (const f of hi - lo <= 3 ? [1, 2, 5] : [1]) {
        const v = f * 10 ** d;
        if (Math.log10(v) > hi + 1e-9) continue;
        const y = ys(v);
        out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + pw}" y2="${y}" stroke="${f === 1 ? '#ddd' : '#f0f0f0'}"/>`);
        out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end" fill="${f === 1 ? '#000' : '#777'}" font-size="${f === 1 ? 11 : 9}">${esc(tickLabel(v))}</text>`);
      }
    }
    for (const n of ns) {
      const x = xs(n);
      out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + ph}" stroke="#eee"/>`);
      out.push(`<text x="${x}" y="${y0 + ph + 16}" text-anchor="middle">${n.toLocaleString('en-US')}</text>`);
    }
    out.push(`<text x="${x0 + pw / 2}" y="${y0 + ph + 34}" text-anchor="middle" fill="#333">N (services)</text>`);
    out.push(`<text transform="translate(${x0 - 52},${y0 + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">time (median)</text>`);
    // Lines.
    for (const method of METHODS)
      for (const m of ms) {
        const pts = ns.map((n) => find(rows, method, phase, n, m)).filter((r): r is Row => r !== undefined);
        if (!pts.length) continue;
        const d = pts.map((r) => `${xs(r.n).toFixed(1)},${ys(r.medianMs).toFixed(1)}`).join(' ');
        out.push(`<polyline points="${d}" fill="none" stroke="${COLORS[method]}" stroke-width="2" stroke-dasharray="${dash(m)}"/>`);
        for (const r of pts) {
          const bad = r.check !== undefined && r.check !== 'ok';
          out.push(`<circle cx="${xs(r.n).toFixed(1)}" cy="${ys(r.medianMs).toFixed(1)}" r="3.5" fill="${m === mMax ? COLORS[method] : 'white'}" stroke="${bad ? 'black' : COLORS[method]}" stroke-width="${bad ? 2 : 1.5}"><title>${esc(`${METHOD_LABEL[method]}, ${METHOD_PHASE_NOTE[method][phase] ?? ''}, N=${r.n}, M=${r.m}: ${fmtMs(r.medianMs)}${bad ? ' (end state MISMATCH)' : ''}`)}</title></circle>`);
        }
      }
  });
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}

function tickLabel(ms: number): string {
  if (ms >= 1000) return `${+(ms / 1000).toPrecision(3)} s`;
  if (ms >= 1) return `${+ms.toPrecision(3)} ms`;
  return `${+(ms * 1000).toPrecision(3)} µs`;
}
