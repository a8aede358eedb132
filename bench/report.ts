// Tables, the markdown ratio table and the SVG chart of a bench result
// (shared by bench/guest.ts, which prints the tables, and bench/run.ts, which
// writes bench/results.md and bench/chart.svg). No dependencies.
import type { Baseline } from './baseline';

export type Method = 'apply' | 'calls' | 'ipvsadm' | 'ceiling';
export type Phase = 'create' | 'noop' | 'churn' | 'one-change' | 'delete' | 'list';

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
  detail?: unknown;
  check?: string;
}

export interface BenchResult {
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

export const PHASES: Phase[] = ['create', 'noop', 'churn', 'one-change', 'delete', 'list'];
export const METHODS: Method[] = ['apply', 'calls', 'ipvsadm', 'ceiling'];

export const PHASE_TITLE: Record<Phase, string> = {
  create: 'create (N services x M destinations)',
  noop: 'no-op resync (read + diff)',
  churn: '1 % churn (drain / add / reweight)',
  'one-change': 'one change (one weight)',
  delete: 'delete all',
  list: 'list the whole table',
};

/** What each method does in each phase (for the tables' legend). */
export const METHOD_LABEL: Record<Method, string> = {
  apply: 'apply()',
  calls: 'library, one await per call',
  ipvsadm: 'ipvsadm',
  ceiling: 'ceiling (raw netlink, C)',
};
export const METHOD_PHASE_NOTE: Record<Method, Partial<Record<Phase, string>>> = {
  apply: { create: 'apply(desired)', noop: 'apply(same)', churn: 'apply(changed, {drain})', 'one-change': 'apply(one change)', delete: 'apply([], {prune})' },
  calls: { create: 'addService/addDestination', noop: 'list() + JS diff', churn: 'edit/addDestination', 'one-change': 'editDestination', delete: 'deleteService', list: 'list()' },
  ipvsadm: { create: 'ipvsadm -R', noop: 'ipvsadm -Sn', churn: 'ipvsadm -R (-e/-a)', 'one-change': 'ipvsadm -R (-e)', delete: 'ipvsadm -C', list: 'ipvsadm -Sn' },
  ceiling: { create: 'NEW_SERVICE/NEW_DEST', noop: 'raw dumps', churn: 'SET_DEST/NEW_DEST', 'one-change': 'SET_DEST', delete: 'DEL_SERVICE', list: 'raw dumps' },
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
          what: METHOD_PHASE_NOTE[method][phase] ?? '',
          n,
          m,
          median: fmtMs(r.medianMs),
          opsPerSec: fmtOps(r.opsPerSec),
          vsIpvsadm: ipv ? fmtRatio(r.medianMs / ipv.medianMs) : '-',
          vsCeiling: ceil ? fmtRatio(r.medianMs / ceil.medianMs) : '-',
          loop: r.loopMaxMs === undefined ? '' : fmtMs(r.loopMaxMs),
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
    const head = ['method', 'what', 'N', 'M', 'median', 'ops/s', 'x ipvsadm', 'x ceiling', 'loop block*', 'runs', 'check'];
    const cells = lines.map((l) => [l.method, l.what, String(l.n), String(l.m), l.median, l.opsPerSec, l.vsIpvsadm, l.vsCeiling, l.loop, l.runs, l.check.slice(0, 60)]);
    const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const right = new Set([2, 3, 4, 5, 6, 7, 8, 9]);
    const fmt = (c: string[]) => c.map((x, i) => (right.has(i) ? x.padStart(width[i]) : x.padEnd(width[i]))).join('  ');
    out.push(fmt(head), ...cells.map(fmt));
  }
  const ex = extrasText(result);
  if (ex.length) out.push('', '## other measurements', ...ex);
  if (result.notes.length) out.push('', '## notes', ...result.notes.map((n) => `- ${n}`));
  return out.join('\n');
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
  const baselines = (result.extras as { eventLoopBaselineMs?: Record<string, Baseline> }).eventLoopBaselineMs ?? {};
  for (const [size, f] of Object.entries(baselines))
    out.push(
      `- event-loop baseline at ${size} (plain JS building the same objects, no library; fresh process, then again): ` +
        `list()'s ${fmtMs(f.listMs[0])}, ${fmtMs(f.listMs[1])}; apply() create's result ${fmtMs(f.applyResultMs[0])}, ${fmtMs(f.applyResultMs[1])}; ` +
        `the machine alone: idle ${fmtMs(f.idleMs)}, busy keeping nothing ${fmtMs(f.busyMs)}`,
    );
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
    out.push('| method | what | N | M | median | ops/s | vs ipvsadm | vs ceiling | longest event-loop block (worst run) | runs | end state |');
    out.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|');
    for (const l of lines)
      out.push(`| ${METHOD_LABEL[l.method]} | ${l.what} | ${l.n.toLocaleString('en-US')} | ${l.m} | ${l.median} | ${l.opsPerSec} | ${l.vsIpvsadm} | ${l.vsCeiling} | ${l.loop} | ${l.runs} | ${l.check.startsWith('ok') ? 'ok' : l.check ? 'MISMATCH' : ''} |`);
    out.push('');
  }
  const ex = extrasText(result);
  if (ex.length) out.push('## Other measurements', '', ...ex, '');
  if (result.notes.length) out.push('## Notes', '', ...result.notes.map((n) => `- ${n.split('\n')[0]}`), '');
  return out.join('\n');
}

// ------------------------------------------------------------------ chart --
const COLORS: Record<Method, string> = { apply: '#d62728', calls: '#ff7f0e', ipvsadm: '#1f77b4', ceiling: '#2ca02c' };
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
  const top = 110;
  const width = cols * cellW + 20;
  const height = top + 2 * cellH + 20;
  const ns = uniq(result.rows.map((r) => r.n));
  const ms = uniq(result.rows.map((r) => r.m));
  const mMax = ms[ms.length - 1];
  const dash = (m: number) => (m === mMax ? '' : m === ms[0] ? '6,4' : '2,3');
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(`ipvs bench: time against N services, per method and phase${result.partial ? ' (partial run)' : ''}`)}</text>`);
  out.push(`<text x="${width / 2}" y="50" text-anchor="middle" font-size="13">${esc(`Linux ${result.kernel} in qemu (software emulation, 1 vCPU), node ${result.node}, ${result.date.slice(0, 10)}; median of runs; fresh network namespace per run; log-log`)}</text>`);
  // Legend.
  let lx = 40;
  const ly = 80;
  for (const method of METHODS) {
    if (!result.rows.some((r) => r.method === method)) continue;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 30}" y2="${ly}" stroke="${COLORS[method]}" stroke-width="2.5"/><circle cx="${lx + 15}" cy="${ly}" r="3.5" fill="${COLORS[method]}"/>`);
    out.push(`<text x="${lx + 36}" y="${ly + 4}">${esc(METHOD_LABEL[method])}</text>`);
    lx += 56 + METHOD_LABEL[method].length * 7.2;
  }
  for (const m of ms) {
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
