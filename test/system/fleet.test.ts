// The fleet against real kernels and a real etcd (Debian's etcd-server, started
// here on the guest's loopback): three directors, each a network namespace
// with its own `ipvs agent` process, one desired state of 20 services x 3
// destinations. Every claim is checked in each namespace's table with
// ipvsadm -Sn, and writes are counted by the reconciler's counters that each
// agent puts in its status. A CI-sized version of scripts/fleet-scenario.
import assert from 'assert/strict';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { EtcdClient, layout, putDesired, type AgentStatus } from '../../lib/fleet';
import { assertSandbox, savedRules } from '../kernel/helpers';
import { until as waitFor } from './until';

const ROOT = path.join(__dirname, '..', '..', '..');
const IPVS = path.join(ROOT, 'bin', 'ipvs.js');
const WORK = '/tmp/fleet-test';
const ENDPOINT = 'http://127.0.0.1:2379';
const DIRECTORS = ['a', 'b', 'c'];
const ns = (d: string) => `fleet-${d}`;
const keys = layout('/ipvs');

const vip = (i: number) => `198.18.50.${i}`;
function service(i: number, weights: number[] = [1, 1, 1]) {
  return { protocol: 'tcp', address: vip(i), port: 80, scheduler: 'rr', destinations: weights.map((weight, j) => ({ address: `198.18.51.${j + 1}`, port: 80, forwarding: 'masq', weight })) };
}
/** ipvsadm -Sn lines of `services`. */
function rulesOf(services: ReturnType<typeof service>[]): string[] {
  const lines: string[] = [];
  for (const s of services) {
    lines.push(`-A -t ${s.address}:80 -s rr`);
    for (const d of s.destinations) lines.push(`-a -t ${s.address}:80 -r ${d.address}:80 -m -w ${d.weight}`);
  }
  return lines.sort();
}
const rules = (d: string) => savedRules(ns(d)).sort();

let etcd: ChildProcess | undefined;
const agents = new Map<string, ChildProcess>();
const client = new EtcdClient([ENDPOINT], { timeout: 20_000 });

function startEtcd(): void {
  const log = fs.openSync(path.join(WORK, 'etcd.log'), 'a');
  etcd = spawn('etcd', [
    '--name', 'm1', '--data-dir', path.join(WORK, 'etcd'),
    '--listen-client-urls', ENDPOINT, '--advertise-client-urls', ENDPOINT,
    '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
    '--initial-cluster', 'm1=http://127.0.0.1:2380',
  ], { stdio: ['ignore', log, log] });
}

async function stopEtcd(): Promise<void> {
  const p = etcd;
  etcd = undefined;
  if (p === undefined || p.exitCode !== null) return;
  const exited = new Promise((resolve) => p.once('exit', resolve));
  p.kill('SIGTERM');
  await exited;
}

function startAgent(d: string): void {
  const log = fs.openSync(path.join(WORK, `agent-${d}.log`), 'a');
  const p = spawn(process.execPath, [
    IPVS, '--netns', ns(d), 'agent', '--director', d, '--endpoints', ENDPOINT, '--state-file', path.join(WORK, `agent-${d}.json`),
    '--verify-interval', '3', '--resync', '60', '--status-ttl', '30', ...(d === 'a' ? ['--metrics-port', '9510'] : []),
  ], { stdio: ['ignore', log, log] });
  agents.set(d, p);
}

async function killAgent(d: string, signal: NodeJS.Signals): Promise<void> {
  const p = agents.get(d)!;
  agents.delete(d);
  if (p.exitCode !== null) return;
  const exited = new Promise((resolve) => p.once('exit', resolve));
  p.kill(signal);
  await exited;
}

/** until() with the agents' logs when it gives up. */
function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 90_000): Promise<T> {
  return waitFor(what, check, timeoutMs, logs);
}

function logs(): string {
  return DIRECTORS.map((d) => {
    const file = path.join(WORK, `agent-${d}.log`);
    return fs.existsSync(file) ? `--- agent ${d}\n${fs.readFileSync(file, 'utf8').split('\n').slice(-8).join('\n')}` : '';
  }).join('\n');
}

async function statusOf(d: string): Promise<AgentStatus | undefined> {
  const { kv } = await client.get(keys.statusOf(d));
  return kv === undefined ? undefined : (JSON.parse(kv.value) as AgentStatus);
}

/** Every director's status once each has applied `revision` (and holds nothing). */
async function converged(revision: number): Promise<Map<string, AgentStatus>> {
  return until(`every director at revision ${revision}`, async () => {
    const all = new Map<string, AgentStatus>();
    for (const d of DIRECTORS) {
      const s = await statusOf(d);
      if (s === undefined || s.appliedRevision < revision || s.held !== null) return undefined;
      all.set(d, s);
    }
    return all;
  });
}

function ipvs(...args: string[]): string {
  return execFileSync(process.execPath, [IPVS, ...args], { encoding: 'utf8', env: { ...process.env, IPVS_ETCD_ENDPOINTS: ENDPOINT } });
}

/** Writes `services` with `ipvs fleet put` (`cli`), or the function it runs (a node start-up less in the slow VM); returns the revision. */
async function put(services: object[], cli = false): Promise<number> {
  if (!cli) {
    const result = await putDesired(client, keys, services);
    assert.ok(result.succeeded && result.revision > 0);
    return result.revision;
  }
  const file = path.join(WORK, 'desired.json');
  fs.writeFileSync(file, JSON.stringify(services));
  const out = ipvs('fleet', 'put', file);
  const m = /revision (\d+)/.exec(out);
  assert.ok(m, out);
  return Number(m[1]);
}

describe('kernel: fleet (etcd, three directors with their agents)', function () {
  this.timeout(240_000);
  let desired = Array.from({ length: 20 }, (_, i) => service(i + 1));

  before(async function () {
    assertSandbox();
    fs.rmSync(WORK, { recursive: true, force: true });
    fs.mkdirSync(WORK, { recursive: true });
    for (const d of DIRECTORS) {
      const n = ns(d);
      execFileSync('ip', ['netns', 'add', n]);
      // masquerading needs a route to the destinations
      for (const args of [['link', 'set', 'lo', 'up'], ['link', 'add', 'dummy0', 'type', 'dummy'], ['addr', 'add', '198.18.0.1/15', 'dev', 'dummy0'], ['link', 'set', 'dummy0', 'up']])
        execFileSync('ip', ['-n', n, ...args]);
    }
    startEtcd();
    await until('etcd', () => client.range('/').then(() => true));
    for (const d of DIRECTORS) startAgent(d);
    // Each agent up (its first status written) before the first put: their start-ups share the VM's one CPU.
    await until('three agents', async () => ((await Promise.all(DIRECTORS.map(statusOf))).every((s) => s !== undefined) ? true : undefined));
  });

  after(async () => {
    for (const d of [...agents.keys()]) await killAgent(d, 'SIGTERM');
    await stopEtcd();
    for (const d of DIRECTORS) execFileSync('ip', ['netns', 'del', ns(d)]);
  });

  it('a desired state written once converges on every director; a 1 % change makes only that change on each', async () => {
    const r1 = await put(desired, true);
    await converged(r1);
    for (const d of DIRECTORS) assert.deepEqual(rules(d), rulesOf(desired), `director ${d}`);
    const before = await converged(r1);
    desired = desired.map((s, i) => (i === 6 ? service(7, [1, 5, 1]) : s));
    const r2 = await put(desired);
    const after = await converged(r2);
    for (const d of DIRECTORS) {
      assert.deepEqual(rules(d), rulesOf(desired), `director ${d}`);
      assert.equal(after.get(d)!.counters.operations - before.get(d)!.counters.operations, 1, `director ${d} made one write`);
    }
  });

  it('an agent killed and restarted adopts its table with zero writes', async () => {
    const table = rules('b');
    await killAgent('b', 'SIGKILL');
    startAgent('b');
    const revision = (await statusOf('a'))!.appliedRevision;
    const restarted = await until('agent b restarted', async () => {
      const s = await statusOf('b');
      return s !== undefined && s.pid !== undefined && s.pid === agents.get('b')!.pid && s.appliedRevision >= revision && s.source === 'store' ? s : undefined;
    });
    assert.equal(restarted.counters.sends, 0, 'zero writes');
    assert.equal(restarted.counters.operations, 0);
    assert.deepEqual(rules('b'), table);
  });

  it('a table changed by hand is repaired at the next verify, and the drift shows in ipvs fleet status', async () => {
    const before = (await statusOf('a'))!.drift.total;
    execFileSync('ip', ['netns', 'exec', ns('a'), 'ipvsadm', '-e', '-t', `${vip(3)}:80`, '-r', '198.18.51.2:80', '-m', '-w', '9']);
    await until('the drift repaired', async () => ((await statusOf('a'))!.drift.total > before ? true : undefined));
    assert.deepEqual(rules('a'), rulesOf(desired));
    const a = (await statusOf('a'))!;
    assert.ok(a.drift.total > before);
    assert.ok(a.drift.last.some((d) => d.kind === 'destinationChanged' && d.destination === '198.18.51.2:80'), JSON.stringify(a.drift));
    assert.match(ipvs('fleet', 'status'), /^a\s+connected\s+\d+\s+20\s+-\s+[1-9]/m);
    const metrics = await (await fetch('http://127.0.0.1:9510/metrics')).text();
    assert.match(metrics, new RegExp(`^ipvs_fleet_drifts_total\\{director="a"\\} ${a.drift.total}$`, 'm'));
    assert.match(metrics, new RegExp(`^ipvs_fleet_applied_revision\\{director="a"\\} ${a.appliedRevision}$`, 'm'));
  });

  it('an update that removes more than the limit is held on every director until confirmed, or until the limit is raised', async () => {
    await client.put(keys.maxDeletes, '5');
    const table = rulesOf(desired);
    // Three services with three destinations each: 12 removals.
    const smaller = desired.slice(0, 17);
    const r = await put(smaller);
    const held = await until('held everywhere', async () => {
      const all: AgentStatus[] = [];
      for (const d of DIRECTORS) {
        const s = await statusOf(d);
        if (s?.held == null) return undefined;
        all.push(s);
      }
      return all;
    });
    for (const s of held) assert.deepEqual(s.held, { revision: r, deletes: 12, limit: 5 });
    for (const d of DIRECTORS) assert.deepEqual(rules(d), table, `director ${d} did not half-apply it`);
    assert.match(ipvs('fleet', 'status'), /12>5@/);
    ipvs('fleet', 'confirm');
    await converged(r);
    desired = smaller;
    for (const d of DIRECTORS) assert.deepEqual(rules(d), rulesOf(desired), `director ${d}`);

    const fewer = desired.slice(0, 15); // 8 removals
    const r2 = await put(fewer);
    await until('held again', async () => ((await statusOf('c'))?.held?.revision === r2 ? true : undefined));
    for (const d of DIRECTORS) assert.deepEqual(rules(d), rulesOf(desired));
    await client.put(keys.maxDeletes, '8');
    await converged(r2);
    desired = fewer;
    for (const d of DIRECTORS) assert.deepEqual(rules(d), rulesOf(desired));
    await client.txn([], [{ delete: keys.maxDeletes }]);
  });

  it('with etcd stopped every table is kept; an agent restarted then serves its saved state; etcd back, all catch up', async () => {
    await converged((await statusOf('a'))!.appliedRevision);
    const tables = new Map(DIRECTORS.map((d) => [d, rules(d)]));
    await stopEtcd();
    // Agent c restarts without the store, onto an emptied table: its saved state is all it has.
    await killAgent('c', 'SIGKILL');
    execFileSync('ip', ['netns', 'exec', ns('c'), 'ipvsadm', '-C']);
    startAgent('c');
    await until('agent c serving its saved state', () => (rules('c').join('\n') === tables.get('c')!.join('\n') ? true : undefined));
    for (const d of DIRECTORS) assert.deepEqual(rules(d), tables.get(d), `director ${d} kept its table`);
    startEtcd();
    await until('etcd back', () => client.range('/').then(() => true));
    desired = desired.map((s, i) => (i === 0 ? service(1, [2, 2, 2]) : s));
    const r = await put(desired);
    const all = await converged(r);
    for (const d of DIRECTORS) {
      assert.deepEqual(rules(d), rulesOf(desired), `director ${d} caught up`);
      assert.equal(all.get(d)!.store, 'connected');
    }
  });
});
