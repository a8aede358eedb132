// Where the reconciler's time goes at the source document's scale (not run by
// CI or npm run bench): the phases `npm run bench` times for the reconciler,
// each under V8's CPU profiler (node:inspector, started and stopped around
// the phase only), summarized as self time per function and per file.
//
//   npm run build && scripts/sandbox --mem 8192 -- node --expose-gc dist/bench/profile-reconciler.js [services] [destinations]
//   (IPVS_PROFILE=0 in the environment: times only, no profiler)
//
// In the VM: a fresh network namespace, the table (default 20,000 x 10) made
// by a reconciler that owns a predicate (setDesired; not profiled), then
// profiled in turn: one setDestination, 1 % churn by key (as bench/guest.ts
// issues it), a no-op verify(); then a reconciler with owns: 'all' adopting
// the table and its deleteAll() (one flush); then the table made again and
// deleteAll() with the predicate. Prints each phase's time and its top
// functions and files by self time; and, after the verify, the peak RSS of
// fresh processes streaming the table (bench/listing.ts) with V8's default
// young generation and with 1 MiB semi-spaces.
import { execFileSync } from 'child_process';
import { Session } from 'inspector';
import { performance } from 'perf_hooks';
import * as ipvs from '../lib';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const svcAddress = (i: number) => `198.18.${((i + 256) >> 8) & 0xff}.${(i + 256) & 0xff}`;
const destAddress = (i: number, j: number) => `198.19.${j}.${(i % 250) + 1}`;

function post<T>(session: Session, method: string): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, (error, result) => (error ? reject(error) : resolve(result as T))));
}

/** Self time (ms) by function and by file, the top `count` of each. */
function summary(profile: Profile, count: number): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const f = node.callFrame;
    const where = f.url ? f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '') : '';
    const name = `${f.functionName || '(anonymous)'} ${where ? `${where}:${f.lineNumber + 1}` : ''}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + ms);
    const key = where || f.functionName || '(native)';
    file.set(key, (file.get(key) ?? 0) + ms);
  }
  const top = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([k, v]) => `    ${v.toFixed(0).padStart(7)} ms  ${k}`);
  return ['  by function (self):', ...top(fn), '  by file (self):', ...top(file)];
}

/** IPVS_PROFILE=0: the phases timed only (the profiler slows what it samples). */
const PROFILE = process.env.IPVS_PROFILE !== '0';

async function profiled(session: Session, name: string, body: () => Promise<unknown>): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  if (PROFILE) await post(session, 'Profiler.start');
  const t0 = performance.now();
  const cpu = process.cpuUsage();
  await body();
  const ms = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  console.log(`${name}: ${ms.toFixed(0)} ms (this process's CPU ${((used.user + used.system) / 1000).toFixed(0)} ms)`);
  if (!PROFILE) return;
  const { profile } = await post<{ profile: Profile }>(session, 'Profiler.stop');
  for (const line of summary(profile, 12)) console.log(line);
}

async function main(): Promise<void> {
  if (!process.env.IPVS_SANDBOX_ACTIVE) throw new Error('this changes IPVS tables: run it through scripts/sandbox');
  const n = Number(process.argv[2] ?? 20000);
  const m = Number(process.argv[3] ?? 10);
  const ns = 'ipvs-profile';
  execFileSync('ip', ['netns', 'add', ns]);
  for (const a of [['link', 'add', 'dummy0', 'type', 'dummy'], ['addr', 'add', '198.18.0.1/15', 'dev', 'dummy0'], ['link', 'set', 'dummy0', 'up'], ['route', 'add', 'default', 'dev', 'dummy0']])
    execFileSync('ip', ['-n', ns, ...a]);
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.vs.run_estimation=0']);
  const handle = await ipvs.open({ netns: ns });
  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  try {
    const r = await handle.reconciler({ owns: (s) => s.address?.startsWith('198.18.') === true, drain: { timeout: 300 }, drainPoll: 2 ** 31 - 1 });
    const desired: ipvs.DesiredService[] = Array.from({ length: n }, (_, i) => ({
      protocol: 'tcp',
      address: svcAddress(i),
      port: 80,
      scheduler: 'rr',
      destinations: Array.from({ length: m }, (_, j) => ({ address: destAddress(i, j), port: 8080, forwarding: 'masq', weight: 1 })),
    }));
    const t0 = performance.now();
    await r.setDesired(desired);
    console.log(`table ${n} x ${m} made by setDesired in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const key = (i: number) => ({ protocol: 'tcp' as const, address: svcAddress(i), port: 80 });
    await profiled(session, 'one setDestination', () => r.setDestination(key(1), { address: destAddress(1, 0), port: 8080, forwarding: 'masq', weight: 3 }));
    // 1 % of the objects, one per service, as bench/guest.ts churns.
    const count = Math.max(1, Math.min(Math.floor(n / 2), Math.round((n * (m + 1)) / 100)));
    await profiled(session, `1 % churn (${count} changes by key)`, async () => {
      const pending: Promise<unknown>[] = [];
      let slice = performance.now();
      for (let k = 0; k < count; k++) {
        const i = Math.floor((k * n) / count);
        if (k % 3 === 0) pending.push(r.deleteDestination(key(i), { address: destAddress(i, m - 1), port: 8080 }));
        else if (k % 3 === 1) pending.push(r.setDestination(key(i), { address: destAddress(i, m), port: 8080, forwarding: 'masq', weight: 1 }));
        else pending.push(r.setDestination(key(i), { address: destAddress(i, 0), port: 8080, forwarding: 'masq', weight: 2 }));
        if (performance.now() - slice >= 2) {
          await new Promise((resolve) => setImmediate(resolve));
          slice = performance.now();
        }
      }
      await Promise.all(pending);
    });
    await profiled(session, 'no-op verify()', () => r.verify());
    // Peak RSS of the listing in fresh processes (bench/listing.ts), with V8's
    // default young generation and with semi-spaces of 1 MiB: how much of
    // services()' growth is the young generation sizing itself rather than data kept.
    for (const [how, flags] of [['open', []], ['services', []], ['services', ['--max-semi-space-size=1']], ['open', ['--max-semi-space-size=1']]] as Array<[string, string[]]>) {
      const out = execFileSync(process.execPath, [...flags, `${__dirname}/listing.js`, ns, how], { encoding: 'utf8' });
      const f = JSON.parse(out) as { ms: number; peakRssMiB: number; loopMaxMs: number };
      console.log(`listing in a fresh process, ${how} ${flags.join(' ')}: peak RSS ${f.peakRssMiB.toFixed(1)} MiB, ${f.ms.toFixed(0)} ms, longest loop block ${f.loopMaxMs.toFixed(0)} ms`);
    }
    // Adopting the same table with owns: 'all', and its one-flush deleteAll().
    await r.close();
    let all: ipvs.Reconciler | undefined;
    await profiled(session, "reconciler({ owns: 'all' }) adopting the table", async () => {
      all = await handle.reconciler({ owns: 'all' });
    });
    await profiled(session, "deleteAll() (owns: 'all': one flush)", () => all!.deleteAll());
    await all!.close();
    // The table again, for deleteAll() with a predicate (a delete per service).
    const again = await handle.reconciler({ owns: (s) => s.address?.startsWith('198.18.') === true });
    await again.setDesired(desired);
    await profiled(session, 'deleteAll() (owns: a predicate)', () => again.deleteAll());
    await again.close();
  } finally {
    session.disconnect();
    await handle.close();
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
