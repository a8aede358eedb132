// npm run bench: how fast the library programs IPVS, against ipvsadm and
// against what the kernel itself costs, in one sandbox boot (issue #8).
//
// Run (as root, on the host):
//   npm run bench                  full run: N = 1,000 / 10,000 / 20,000 services,
//                                  M = 1 / 10 destinations each (35-60 minutes
//                                  of VM time); writes bench/results.json,
//                                  bench/results.md (ratio tables) and
//                                  bench/chart.svg
//   npm run bench -- --quick       (or BENCH_QUICK=1, or npm run bench:quick)
//                                  N = 1,000 only, a smoke test of a few minutes;
//                                  writes bench/results.quick.{json,md} and
//                                  bench/chart.quick.svg (not committed)
//   npm run bench -- --chart-only  redraw chart.svg and results.md from results.json
//   npm run bench -- --health-only run only the health checks at scale (natively,
//                                  bench/health-scale.ts; after the VM part in
//                                  every run unless --no-health) into results.json
//   npm run bench -- --from-log F  rebuild them from a saved VM output (e.g. of a
//                                  run that was stopped early: marked partial)
//   --name NAME                    write bench/results.NAME.{json,md} and
//                                  bench/chart.NAME.svg instead (a run of some
//                                  sizes or methods only, kept beside the full run's)
// Options: --n 1000,10000  --m 1,10  --runs R (or per N: 1000:5,10000:3,20000:1;
//   default 3 at 1,000 and 1 from 10,000 on)
//   --methods ceiling,ipvsadm,apply,reconciler,reconciler-all,calls
//   --calls-limit S (the one-await-per-call method creates the table itself
//   only where that is estimated below S seconds from the rate measured so
//   far, else the ceiling makes it and its other phases are timed; default 120)  --kernel 6.1|6.12
//   --min-interval MS (the reconciler's minInterval; default 0, its own)
//   --mem MB (default 8192)  --timeout S (default 10800)  --log FILE (default
//   bench/bench.log, or bench/bench.quick.log: the VM's whole output).
//
// How it works: this host side compiles bench/ceiling.c with gcc into
// bench/build/, then boots scripts/sandbox once and runs dist/bench/guest.js
// in it (see that file for the phases and the methods), streaming its output.
// The guest prints a BENCH-ROW line per measurement and the whole result
// between marker lines at the end; if the VM dies early, the rows seen so far
// are saved, marked partial.
//
// Reading it: per phase, for each method x N x M, the median time, operations
// a second (services + destinations changed or read), and the ratio to
// `ipvsadm -R` and to the ceiling (raw pre-encoded netlink from C, 512
// messages per sendmsg: the kernel's own cost). Below 1x against ipvsadm is
// faster than ipvsadm; the ceiling ratio is how much the library adds on top of
// the kernel. The end state is checked with `ipvsadm -Sn` after create,
// one-change and delete ('check' column). The VM is software-emulated: compare
// ratios and growth, not absolute seconds (JavaScript suffers more than C
// under emulation, so ratios against C are pessimistic for the library).
import { spawn, execFileSync } from 'child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { loadavg } from 'os';
import { join } from 'path';
import { chartSvg, formatTables, markdown, type BenchResult, type Row } from './report';

const ROOT = join(__dirname, '..', '..');
const BENCH = join(ROOT, 'bench');
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
function opt(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}
const quick = flag('quick') || process.env.BENCH_QUICK === '1';
const name = opt('name');
if (name !== undefined && !/^[A-Za-z0-9_-]+$/.test(name)) throw new RangeError(`Expected letters, digits, - or _ for --name but received ${JSON.stringify(name)}`);
const suffix = quick ? '.quick' : name !== undefined ? `.${name}` : '';
const resultsPath = join(BENCH, `results${suffix}.json`);
const mdPath = join(BENCH, `results${suffix}.md`);
const chartPath = join(BENCH, `chart${suffix}.svg`);
/** How to run it again: the options given, less those that only redraw. */
const rerun = argv.filter((a, i) => !['--from-log', '--chart-only', '--force'].includes(a) && argv[i - 1] !== '--from-log' && a !== '--log' && argv[i - 1] !== '--log');
const command = `npm run bench${rerun.length ? ` -- ${rerun.join(' ')}` : ''}`;

function writeOutputs(result: BenchResult): void {
  // A redraw or an added health run keeps the command of the run it redraws.
  if (flag('health-only') || flag('chart-only') || opt('from-log') !== undefined) result.command ??= 'npm run bench';
  else result.command = command;
  writeFileSync(resultsPath, JSON.stringify(result, null, 1) + '\n');
  writeFileSync(chartPath, chartSvg(result));
  writeFileSync(mdPath, markdown(result, result.command));
  console.log(`wrote ${resultsPath}, ${mdPath}, ${chartPath}`);
}

/** The result the guest printed, or one rebuilt from its BENCH-ROW lines (partial). */
function parseOutput(text: string, why: string): BenchResult | null {
  const begin = text.indexOf('=== BENCH RESULTS BEGIN ===');
  const end = text.indexOf('=== BENCH RESULTS END ===');
  if (begin >= 0 && end > begin) return JSON.parse(text.slice(begin + 27, end).trim());
  const rows: Row[] = [];
  const extras: Record<string, unknown> = {};
  const notes: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('BENCH-ROW ')) rows.push(JSON.parse(line.slice(10)));
    if (line.startsWith('BENCH-EXTRA ')) Object.assign(extras, JSON.parse(line.slice(12)));
    const n = /^\[\+ *\d+s\] NOTE (.*)/.exec(line);
    if (n) notes.push(n[1]);
  }
  if (!rows.length) return null;
  const head = /ipvs bench: kernel (\S+), node (\S+),/.exec(text);
  const last = [...text.matchAll(/^\[\+ *(\d+)s\]/gm)].pop();
  const result: BenchResult = {
    kernel: head ? head[1] : 'unknown',
    node: head ? head[2] : process.version,
    date: new Date().toISOString(),
    quick,
    partial: true,
    totalSeconds: last ? Number(last[1]) : undefined,
    rows,
    extras,
    notes: [`partial: ${why} before printing its results; the rows seen so far are kept`, ...notes],
  };
  console.log(formatTables(result));
  return result;
}

/**
 * Issue 18's scale figures: bench/health-scale.ts natively on the host
 * (checking needs no IPVS), run after the VM has exited so that the two do
 * not share the machine. The 1-minute load before it is kept beside them.
 */
function healthScale(): Record<string, unknown> {
  const args = quick ? ['--checks', '1000', '--seconds', '10'] : ['--checks', '10000', '--seconds', '20'];
  const load = loadavg()[0];
  console.log(`health checks at scale, natively on the host: ${args.join(' ')} (1-minute load before: ${load.toFixed(2)})`);
  const out = execFileSync(process.execPath, [join(ROOT, 'dist', 'bench', 'health-scale.js'), ...args, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 });
  const figures = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
  return { ...figures, loadBefore: load };
}

async function main(): Promise<void> {
  if (flag('health-only')) {
    // Added to the results already there (the VM part not run again).
    const result = JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResult;
    result.extras.healthScale = healthScale();
    writeOutputs(result);
    return;
  }
  const fromLog = opt('from-log');
  if (fromLog) {
    const result = parseOutput(readFileSync(fromLog, 'utf8'), `the run in ${fromLog} stopped`);
    if (!result) throw new Error(`no results in ${fromLog}`);
    if (!result.partial) console.log(formatTables(result));
    writeOutputs(result);
    return;
  }
  if (flag('chart-only')) {
    const result = JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResult;
    console.log(formatTables(result));
    writeOutputs(result);
    return;
  }
  mkdirSync(join(BENCH, 'build'), { recursive: true });
  const ceiling = join(BENCH, 'build', 'ceiling');
  execFileSync('gcc', ['-O2', '-Wall', '-o', ceiling, join(BENCH, 'ceiling.c')], { stdio: 'inherit' });

  const guestArgs = [join(ROOT, 'dist', 'bench', 'guest.js'), '--ceiling', ceiling];
  if (quick) guestArgs.push('--quick');
  for (const name of ['n', 'm', 'runs', 'methods', 'calls-limit', 'min-interval']) {
    const v = opt(name);
    if (v !== undefined) guestArgs.push(`--${name}`, v);
  }
  const sandboxArgs = ['--mem', opt('mem') ?? '8192', '--timeout', opt('timeout') ?? '10800'];
  const kernel = opt('kernel');
  if (kernel) sandboxArgs.push('--kernel', kernel);
  const logPath = opt('log') ?? join(BENCH, `bench${suffix}.log`);
  const logFile = createWriteStream(logPath);
  console.log(`booting the sandbox (output also in ${logPath})`);
  const t0 = Date.now();

  const child = spawn(join(ROOT, 'scripts', 'sandbox'), [...sandboxArgs, '--', 'node', '--expose-gc', '--max-old-space-size=6144', ...guestArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const onData = (chunk: Buffer) => {
    const s = chunk.toString();
    process.stdout.write(s);
    logFile.write(s);
    text += s;
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  logFile.end();
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  console.log(`sandbox exited with ${code} after ${minutes} min`);

  const result = parseOutput(text, `the guest ended (exit ${code})`);
  if (!result) {
    console.error('no results from the guest');
    process.exitCode = 1;
    return;
  }
  if (!quick && existsSync(resultsPath) && result.partial && !flag('force')) {
    const old = JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResult;
    if (!old.partial && old.rows.length > result.rows.length) {
      console.log(`kept the complete ${resultsPath}; this partial run is in ${logPath} (--force to overwrite)`);
      return;
    }
  }
  if (!flag('no-health')) result.extras.healthScale = healthScale();
  writeOutputs(result);
  if (code !== 0) process.exitCode = code;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
