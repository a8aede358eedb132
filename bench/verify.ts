// Measures the raw addon's verify() and listing cursor at the source
// document's scale (not run by CI or npm run bench). Two modes:
//
//   node dist/bench/verify.js js [services] [destinations]
//     anywhere: lib/fingerprint.ts's cost per service on the main thread
//     (what an adopt of the whole table costs), medians of 7 rounds.
//
//   npm run build && scripts/sandbox --mem 4096 -- node --expose-gc dist/bench/verify.js vm [services] [destinations]
//     in the VM: the table (default 20,000 x 10) into a fresh network
//     namespace, then, 5 runs each, medians:
//       verify() with the table's own fingerprints expected (nothing differs)
//         against `ipvsadm -Sn` of the same table;
//       the JS heap's growth during a verify (sampled every 5 ms);
//       peak RSS (VmHWM) of a fresh process that reads the whole table with
//         list() and parses it, against one that reads it through a cursor
//         (batches of 256, each parsed and dropped), and one that only opens
//         the handle.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { addon } from '../lib/addon';
import type { RawDestination, RawFingerprints, RawListing, RawRequest, RawService } from '../lib/addon';
import { serviceId } from '../lib/convert';
import { fingerprint } from '../lib/fingerprint';

const AF_INET = 2;
const TCP = 6;
const MASQ = 0;

const vipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** The table as a reconciler holds it: request shapes (what apply() sends). */
function table(services: number, destinations: number): { service: RawService; destinations: RawDestination[] }[] {
  const out = [];
  for (let i = 0; i < services; ++i) {
    const service: RawService = {
      family: AF_INET, protocol: TCP, address: vipOf(i), port: 80, fwmark: 0,
      scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, persistenceEngine: '',
    };
    const list: RawDestination[] = [];
    for (let j = 0; j < destinations; ++j)
      list.push({ family: AF_INET, address: `198.18.${1 + j}.${1 + (i % 250)}`, port: 8000 + (i >> 8), forwarding: MASQ, weight: 1, upperThreshold: 0, lowerThreshold: 0 });
    out.push({ service, destinations: list });
  }
  return out;
}

function expectedOf(rows: ReturnType<typeof table>): RawFingerprints {
  const expected = new addon.Fingerprints();
  for (const r of rows) expected.set(serviceId(r.service), fingerprint(r.service, r.destinations));
  return expected;
}

function jsCost(services: number, destinations: number): void {
  const rows = table(services, destinations);
  const fingerprints: number[] = [], sets: number[] = [];
  for (let round = 0; round < 7; ++round) {
    let t = process.hrtime.bigint();
    const texts = rows.map((r) => fingerprint(r.service, r.destinations));
    fingerprints.push(ms(t));
    const expected = new addon.Fingerprints();
    t = process.hrtime.bigint();
    for (let i = 0; i < rows.length; ++i) expected.set(serviceId(rows[i].service), texts[i]);
    sets.push(ms(t));
  }
  const f = median(fingerprints), s = median(sets);
  console.log(`fingerprint() of ${services} services x ${destinations}: ${f.toFixed(1)} ms (${((f * 1000) / services).toFixed(2)} us a service); ` +
    `serviceId + Fingerprints.set(): ${s.toFixed(1)} ms (${((s * 1000) / services).toFixed(2)} us a service); medians of 7`);
}

function entriesOf(listing: RawListing): number {
  let count = 0;
  for (const chunk of listing.chunks) count += (JSON.parse(chunk.toString(listing.ascii ? 'latin1' : 'utf8')) as unknown[]).length;
  return count;
}

function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A child process's part: read the table one way, print the peak RSS. */
async function child(how: string, ns: string): Promise<void> {
  const handle = new addon.Handle();
  await handle.open(`/run/netns/${ns}`);
  let services = 0;
  let held: unknown[] = [];
  if (how === 'list') {
    const listing = await handle.list({ destinations: true, stats: true });
    // Held at once, as list() callers hold it.
    for (const chunk of listing.chunks) held = held.concat(JSON.parse(chunk.toString('latin1')) as unknown[]);
    services = held.length;
  } else if (how === 'cursor') {
    const cursor = handle.listCursor({ destinations: true, stats: true, batchSize: 256 });
    for (let batch = await cursor.next(); batch !== null; batch = await cursor.next()) services += entriesOf(batch);
  }
  await handle.close();
  console.log(JSON.stringify({ how, services, peakRssMiB: peakRss() }));
}

async function vm(services: number, destinations: number): Promise<void> {
  if (!process.env.IPVS_SANDBOX_ACTIVE) throw new Error('vm mode changes IPVS tables: run it through scripts/sandbox');
  const ns = 'ipvs-bench-verify';
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('sh', ['-c', `ip -n ${ns} link add dummy0 type dummy && ip -n ${ns} link set dummy0 up && ip -n ${ns} addr add 198.18.0.1/15 dev dummy0 && ip -n ${ns} route add default dev dummy0 && ip netns exec ${ns} sysctl -qw net.ipv4.vs.run_estimation=0 || true`]);
  const handle = new addon.Handle();
  await handle.open(`/run/netns/${ns}`);
  const rows = table(services, destinations);
  let t = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += 500) {
    const requests: RawRequest[] = [];
    for (const r of rows.slice(i, i + 500)) {
      requests.push({ command: addon.constants.IPVS_CMD_NEW_SERVICE, service: r.service });
      for (const d of r.destinations) requests.push({ command: addon.constants.IPVS_CMD_NEW_DEST, service: r.service, destination: d });
    }
    const failures = await handle.executeJson(JSON.stringify(requests));
    if (failures.length) throw new Error(`creating the table: ${JSON.stringify(failures[0])}`);
  }
  console.log(`table ${services} x ${destinations} created in ${(ms(t) / 1000).toFixed(1)} s`);
  t = process.hrtime.bigint();
  const expected = expectedOf(rows);
  console.log(`expected fingerprints (JS fingerprint() + set() for every service): ${ms(t).toFixed(0)} ms`);

  const verifies: number[] = [], saves: number[] = [], heap: number[] = [];
  for (let run = 0; run < 5; ++run) {
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
    t = process.hrtime.bigint();
    const result = await handle.verify(expected);
    verifies.push(ms(t));
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    heap.push((peak - before) / 1024);
    if (result.differing.chunks.length || result.unexpected.chunks.length || result.missing.length)
      throw new Error('verify found differences in a table equal to the expected one');
    t = process.hrtime.bigint();
    execFileSync('ip', ['netns', 'exec', ns, 'ipvsadm', '-Sn'], { maxBuffer: 1 << 30, stdio: ['ignore', 'ignore', 'inherit'] });
    saves.push(ms(t));
  }
  console.log(`verify() (nothing differs): ${(median(verifies) / 1000).toFixed(2)} s; ipvsadm -Sn: ${(median(saves) / 1000).toFixed(2)} s (medians of 5; runs ${verifies.map((v) => (v / 1000).toFixed(2)).join(' ')} / ${saves.map((v) => (v / 1000).toFixed(2)).join(' ')})`);
  console.log(`JS heap growth during verify(): median ${median(heap).toFixed(0)} KiB, max ${Math.max(...heap).toFixed(0)} KiB`);

  for (const how of ['open', 'list', 'cursor']) {
    const out = execFileSync(process.execPath, [__filename, 'child', how, ns], { encoding: 'utf8' });
    console.log(`peak RSS, ${how}: ${out.trim()}`);
  }
  await handle.close();
  execFileSync('ip', ['netns', 'del', ns]);
}

async function main(): Promise<void> {
  const [mode, a, b] = process.argv.slice(2);
  if (mode === 'js') return jsCost(Number(a ?? 20000), Number(b ?? 10));
  if (mode === 'vm') return vm(Number(a ?? 20000), Number(b ?? 10));
  if (mode === 'child') return child(a, b);
  throw new Error('usage: verify.js js|vm [services] [destinations]');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
