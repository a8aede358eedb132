// Creating N services with M destinations each, four ways, in one run on one
// kernel: the library with concurrent calls (packed many per sendmsg), the
// library awaiting each call, `ipvsadm -R` from a rules file, and one ipvsadm
// process per command. Every run ends by checking the table with ipvsadm -Sn.
// Prints medians and the ratio ipvsadm / library. Run: npm run bench
import { execFileSync, spawnSync } from 'child_process';
import * as ipvs from '../lib';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 2000);
const DESTINATIONS = Number(process.env.BENCH_DESTINATIONS ?? 2);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
// ipvsadm per command forks once per change: measured on fewer services and scaled.
const PER_COMMAND_SERVICES = Math.min(SERVICES, Number(process.env.BENCH_PER_COMMAND_SERVICES ?? 200));

type Spec = { service: ipvs.ServiceSpec & ipvs.AddressServiceKey; destinations: ipvs.DestinationSpec[] };

function table(n: number): Spec[] {
  return Array.from({ length: n }, (_, i) => ({
    service: { protocol: 'tcp', address: `198.18.${(i >> 8) & 0xff}.${i & 0xff}`, port: 80, scheduler: 'rr' },
    destinations: Array.from({ length: DESTINATIONS }, (_, j) => ({ address: `198.19.${j}.${(i % 250) + 1}`, forwarding: 'masq', weight: 1 })),
  }));
}

function rules(specs: Spec[]): string[] {
  return specs.flatMap(({ service: s, destinations }) => [
    `-A -t ${s.address}:${s.port} -s rr`,
    ...destinations.map((d) => `-a -t ${s.address}:${s.port} -r ${d.address}:80 -m -w 1`),
  ]);
}

function checkTable(expected: string[]): void {
  const actual = execFileSync('ipvsadm', ['-Sn'], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n').filter(Boolean);
  if (actual.length !== expected.length || [...actual].sort().join('\n') !== [...expected].sort().join('\n'))
    throw new Error(`table mismatch: ${actual.length} rules, expected ${expected.length}`);
}

async function time(label: string, runs: number, setup: () => void, body: () => Promise<void> | void, verify: () => void): Promise<number> {
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    setup();
    const start = process.hrtime.bigint();
    await body();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    verify();
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  console.log(`${label.padEnd(44)} median ${median.toFixed(0).padStart(7)} ms  (${samples.map((s) => s.toFixed(0)).join(', ')})`);
  return median;
}

async function main(): Promise<void> {
  execFileSync('sysctl', ['-qw', 'net.ipv4.vs.run_estimation=0']);
  const specs = table(SERVICES);
  const expected = rules(specs);
  const handle = await ipvs.open();
  const flush = () => execFileSync('ipvsadm', ['-C']);
  const verify = () => checkTable(expected);
  console.log(`${SERVICES} services x ${DESTINATIONS} destinations = ${expected.length} changes, ${RUNS} runs, kernel ${process.env.IPVS_SANDBOX_KERNEL ?? ''}`);

  const concurrent = await time('library, concurrent calls', RUNS, flush, async () => {
    await Promise.all(specs.flatMap(({ service, destinations }) => [handle.addService(service), ...destinations.map((d) => handle.addDestination(service, d))]));
  }, verify);
  const sequential = await time('library, one await per call', RUNS, flush, async () => {
    for (const { service, destinations } of specs) {
      await handle.addService(service);
      for (const d of destinations) await handle.addDestination(service, d);
    }
  }, verify);
  const restore = await time('ipvsadm -R', RUNS, flush, () => {
    const r = spawnSync('ipvsadm', ['-R'], { input: expected.join('\n') + '\n' });
    if (r.status !== 0) throw new Error(`ipvsadm -R failed: ${r.stderr}`);
  }, verify);
  const few = rules(specs.slice(0, PER_COMMAND_SERVICES));
  const perCommand = await time(`ipvsadm per command (${PER_COMMAND_SERVICES} services, scaled)`, 1, flush, () => {
    for (const rule of few) execFileSync('ipvsadm', rule.split(' '));
  }, () => checkTable(few)) * (SERVICES / PER_COMMAND_SERVICES);

  // Reads of the full table.
  flush();
  spawnSync('ipvsadm', ['-R'], { input: expected.join('\n') + '\n' });
  verify();
  await time('library list() of the whole table', RUNS, () => undefined, async () => {
    const listed = await handle.list();
    if (listed.length !== SERVICES) throw new Error('list() length');
  }, () => undefined);
  await time('ipvsadm -Sn of the whole table', RUNS, () => undefined, () => {
    execFileSync('ipvsadm', ['-Sn'], { maxBuffer: 1 << 28 });
  }, () => undefined);

  console.log(`\nratios (ipvsadm time / library concurrent time):`);
  console.log(`  ipvsadm -R          ${(restore / concurrent).toFixed(2)}x`);
  console.log(`  ipvsadm per command ${(perCommand / concurrent).toFixed(1)}x (scaled from ${PER_COMMAND_SERVICES} services)`);
  console.log(`  library sequential  ${(sequential / concurrent).toFixed(2)}x`);
  console.log(`library concurrent: ${((expected.length / concurrent) * 1000).toFixed(0)} changes/s`);
  await handle.close();
  flush();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
