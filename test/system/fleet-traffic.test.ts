// Real traffic through the fleet: three directors (network namespaces, each
// with its `ipvs agent` process and the same virtual address), three backends
// in namespaces of their own, each reachable from every director, and a
// client per director opening connections through that director's VIP all
// the time. Changes are made in the store only (etcd, as fleet.test.ts
// starts it); what they do is counted at the backends (which client, through
// which director) and read from each director's table (ipvsadm -Sn):
//
// - a weight raised in the store shifts new connections on every director;
// - a destination removed from the store (agents run with --drain) keeps a
//   held connection working, then is deleted once it closed;
// - the service's health check: a backend whose server is stopped is
//   inhibited (weight 0) by every director, and shows down in their status.
//
// Addresses (all in 198.18.0.0/15): VIP 198.18.60.1; backend j serves on
// 198.18.90.j (on its lo); director i reaches it over its own veth,
// 198.18.(100+10i+j).0/24; client i is 198.18.(70+i).2 behind director i.
// Each backend routes client i's subnet back through director i, so NAT
// (masq) replies return through the director that forwarded the request.
// Each agent runs inside its director's namespace (its health checks must
// leave from there) and reaches etcd over a management link of its own,
// 198.18.(200+i).0/24, to the guest's root namespace where etcd listens.
import assert from 'assert/strict';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { EtcdClient, layout, putDesired, type AgentStatus } from '../../lib/fleet';
import { assertSandbox, savedRules } from '../kernel/helpers';
import { until } from './until';

const ROOT = path.join(__dirname, '..', '..', '..');
const IPVS = path.join(ROOT, 'bin', 'ipvs.js');
const WORK = '/tmp/fleet-traffic-test';
// Ports of their own: fleet.test.ts's etcd may be stopping as this starts.
const ENDPOINT = 'http://127.0.0.1:2479';
const PEER = 'http://127.0.0.1:2480';
const endpointOf = (i: number) => `http://198.18.${200 + i}.1:2479`;
const PREFIX = '/ft';
const keys = layout(PREFIX);
const DIRECTORS = [1, 2, 3];
const BACKENDS = [1, 2, 3];
const VIP = '198.18.60.1';
const director = (i: number) => `d${i}`;
const directorNs = (i: number) => `ft-d${i}`;
const clientNs = (i: number) => `ft-c${i}`;
const backendNs = (j: number) => `ft-b${j}`;
const backendAddress = (j: number) => `198.18.90.${j}`;
const clientAddress = (i: number) => `198.18.${70 + i}.2`;
const CHECK = { type: 'tcp', interval: 1, timeout: 1, rise: 1, fall: 2, jitter: 1 };

function service(weights: Record<number, number>) {
  return {
    protocol: 'tcp', address: VIP, port: 80, scheduler: 'wrr', check: CHECK,
    destinations: Object.entries(weights).map(([j, weight]) => ({ address: backendAddress(Number(j)), port: 80, forwarding: 'masq', weight })),
  };
}
function rulesOf(weights: Record<number, number>): string[] {
  return [`-A -t ${VIP}:80 -s wrr`, ...Object.entries(weights).map(([j, w]) => `-a -t ${VIP}:80 -r ${backendAddress(Number(j))}:80 -m -w ${w}`)].sort();
}
const rules = (i: number) => savedRules(directorNs(i)).sort();

// A backend: answers each line with its name; says which peer each connection came from.
const SERVER = `
import socket, sys, threading
name = sys.argv[1]
lock = threading.Lock()
def say(text):
    with lock:
        sys.stdout.write(text + '\\n'); sys.stdout.flush()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 80)); s.listen(128)
say('ready')
def serve(c, peer):
    say('accept ' + peer[0])
    try:
        while True:
            data = c.recv(100)
            if not data: break
            c.sendall((name + '\\n').encode())
    except OSError: pass
    finally: c.close()
while True:
    c, peer = s.accept()
    threading.Thread(target=serve, args=(c, peer), daemon=True).start()
`;
// A client: one connection after another through the VIP, each asking once.
// Each ends with a reset (SO_LINGER 0): a clean close leaves IPVS's entry in
// TIME_WAIT for two minutes, counted inactive, and a drain waits for those.
const CLIENT = `
import socket, struct, sys, time
def ask(c):
    c.sendall(b'hi\\n'); data = b''
    while not data.endswith(b'\\n'):
        chunk = c.recv(100)
        if not chunk: raise OSError('closed by the other end')
        data += chunk
    return data.decode().strip()
def reset(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
if sys.argv[2] == 'loop':
    while True:
        try:
            c = socket.create_connection((sys.argv[1], 80), timeout=10)
            name = ask(c); reset(c); print('ok ' + name, flush=True)
        except OSError as e:
            print('error ' + str(e), flush=True)
        time.sleep(0.2)
else:
    c = socket.create_connection((sys.argv[1], 80), timeout=10)
    for line in sys.stdin:
        if line.strip() == 'close':
            reset(c); print('closed', flush=True); break
        try: print('ok ' + ask(c), flush=True)
        except OSError as e: print('error ' + str(e), flush=True)
`;

/** A process in a namespace whose stdout lines are collected. */
class Lines {
  readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  readonly errors: string[] = [];
  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const w of this.waiters.splice(0)) w();
    });
    readline.createInterface({ input: child.stderr! }).on('line', (line) => this.errors.push(line));
  }
  /** Resolves with the first line from index `from` on that `test` accepts. */
  async next(from: number, test: (line: string) => boolean, what: string, timeoutMs = 60_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.lines.length; i++) if (test(this.lines[i])) return this.lines[i];
      if (Date.now() > end || this.child.exitCode !== null)
        throw new Error(`no line for ${what} (exit ${this.child.exitCode}); last: ${this.lines.slice(-3).join(' | ')}; stderr: ${this.errors.slice(-5).join(' | ')}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 500);
      });
    }
  }
}

// Debian's interpreter when there is one: another on PATH (a pyenv build) can take many seconds to start in the VM.
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function python(ns: string, source: string, args: string[]): Lines {
  return new Lines(spawn('ip', ['netns', 'exec', ns, PYTHON, '-S', '-c', source, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
}

const ip = (...args: string[]) => execFileSync('ip', args);
const children: ChildProcess[] = [];
const agents = new Map<number, ChildProcess>();
const servers = new Map<number, Lines>();
const clients = new Map<number, Lines>();
const client = new EtcdClient([ENDPOINT], { timeout: 20_000 });

function startServer(j: number): Lines {
  const s = python(backendNs(j), SERVER, [`b${j}`]);
  children.push(s.child);
  servers.set(j, s);
  return s;
}

async function stop(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((resolve) => p.once('exit', resolve));
  p.kill(signal);
  await exited;
}

async function statusOf(i: number): Promise<AgentStatus | undefined> {
  const { kv } = await client.get(keys.statusOf(director(i)));
  return kv === undefined ? undefined : (JSON.parse(kv.value) as AgentStatus);
}

/** Waits until director i's table is `expected`; says what it holds and what its agent said if it never is. */
async function untilTable(i: number, expected: string[], what = `director ${i}'s table ${JSON.stringify(expected)}`): Promise<void> {
  try {
    await until(what, () => rules(i).join('\n') === expected.join('\n') || undefined);
  } catch (error) {
    const s = await statusOf(i).catch(() => undefined);
    const log = fs.readFileSync(path.join(WORK, `agent-${i}.log`), 'utf8').split('\n').slice(-10).join('\n');
    throw new Error(`${(error as Error).message}\ntable: ${JSON.stringify(rules(i))}\nhealth: ${JSON.stringify(s?.health)}\nerrors: ${JSON.stringify(s?.errors)}\nlog:\n${log}`);
  }
}

/** Waits until every director applied `revision` and its table is `expected`. */
async function converged(revision: number, expected: string[]): Promise<void> {
  for (const i of DIRECTORS) {
    await until(`director ${i} at revision ${revision}`, async () => ((await statusOf(i))?.appliedRevision ?? 0) >= revision || undefined);
    await untilTable(i, expected);
  }
}

/** Connections each backend accepted from client i (through director i) since `marks`. */
function acceptedSince(marks: Map<number, number>, i: number): Record<number, number> {
  const out: Record<number, number> = {};
  for (const j of BACKENDS) out[j] = servers.get(j)!.lines.slice(marks.get(j)).filter((l) => l === `accept ${clientAddress(i)}`).length;
  return out;
}
const marks = () => new Map(BACKENDS.map((j) => [j, servers.get(j)!.lines.length]));
const total = (counts: Record<number, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

describe('system: traffic through every director of the fleet', function () {
  this.timeout(240_000);
  const clientErrorsFrom = new Map<number, number>();
  /** The backends left after the drain, with their weights. */
  let remaining: Record<number, number> = {};

  before(async function () {
    assertSandbox();
    fs.rmSync(WORK, { recursive: true, force: true });
    fs.mkdirSync(WORK, { recursive: true });
    for (const j of BACKENDS) {
      ip('netns', 'add', backendNs(j));
      ip('-n', backendNs(j), 'link', 'set', 'lo', 'up');
      ip('-n', backendNs(j), 'addr', 'add', `${backendAddress(j)}/32`, 'dev', 'lo');
    }
    for (const i of DIRECTORS) {
      const d = directorNs(i);
      const c = clientNs(i);
      ip('netns', 'add', d);
      ip('netns', 'add', c);
      execFileSync('ip', ['netns', 'exec', d, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      ip('-n', d, 'link', 'set', 'lo', 'up');
      ip('-n', d, 'link', 'add', 'vip0', 'type', 'dummy');
      ip('-n', d, 'addr', 'add', `${VIP}/32`, 'dev', 'vip0');
      ip('-n', d, 'link', 'set', 'vip0', 'up');
      ip('link', 'add', 'client', 'netns', d, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c);
      ip('-n', d, 'addr', 'add', `198.18.${70 + i}.1/24`, 'dev', 'client');
      ip('-n', d, 'link', 'set', 'client', 'up');
      ip('-n', c, 'link', 'set', 'lo', 'up');
      ip('-n', c, 'addr', 'add', `${clientAddress(i)}/24`, 'dev', 'eth0');
      ip('-n', c, 'link', 'set', 'eth0', 'up');
      ip('-n', c, 'route', 'add', 'default', 'via', `198.18.${70 + i}.1`);
      ip('link', 'add', `ftm${i}`, 'type', 'veth', 'peer', 'name', 'mgmt', 'netns', d);
      ip('addr', 'add', `198.18.${200 + i}.1/24`, 'dev', `ftm${i}`);
      ip('link', 'set', `ftm${i}`, 'up');
      ip('-n', d, 'addr', 'add', `198.18.${200 + i}.2/24`, 'dev', 'mgmt');
      ip('-n', d, 'link', 'set', 'mgmt', 'up');
      for (const j of BACKENDS) {
        const net = `198.18.${100 + 10 * i + j}`;
        ip('link', 'add', `b${j}`, 'netns', d, 'type', 'veth', 'peer', 'name', `d${i}`, 'netns', backendNs(j));
        ip('-n', d, 'addr', 'add', `${net}.1/24`, 'dev', `b${j}`);
        ip('-n', d, 'link', 'set', `b${j}`, 'up');
        ip('-n', d, 'route', 'add', `${backendAddress(j)}/32`, 'via', `${net}.2`);
        ip('-n', backendNs(j), 'addr', 'add', `${net}.2/24`, 'dev', `d${i}`);
        ip('-n', backendNs(j), 'link', 'set', `d${i}`, 'up');
        ip('-n', backendNs(j), 'route', 'add', `198.18.${70 + i}.0/24`, 'via', `${net}.1`);
      }
    }
    const log = fs.openSync(path.join(WORK, 'etcd.log'), 'a');
    const etcd = spawn('etcd', [
      '--name', 'm1', '--data-dir', path.join(WORK, 'etcd'), '--listen-client-urls', [ENDPOINT, ...DIRECTORS.map(endpointOf)].join(','), '--advertise-client-urls', ENDPOINT,
      '--listen-peer-urls', PEER, '--initial-advertise-peer-urls', PEER, '--initial-cluster', `m1=${PEER}`,
    ], { stdio: ['ignore', log, log] });
    children.push(etcd);
    for (const j of BACKENDS) startServer(j);
    await until('etcd', () => client.range('/').then(() => true));
    for (const i of DIRECTORS) {
      const agentLog = fs.openSync(path.join(WORK, `agent-${i}.log`), 'a');
      // --drain: a destination leaving the store is set to weight 0 and deleted once its connections are gone.
      const p = spawn('ip', [
        'netns', 'exec', directorNs(i), process.execPath, IPVS, 'agent', '--director', director(i), '--prefix', PREFIX, '--endpoints', endpointOf(i),
        '--state-file', path.join(WORK, `agent-${i}.json`), '--drain', '300', '--status-ttl', '30',
      ], { stdio: ['ignore', agentLog, agentLog] });
      agents.set(i, p);
      children.push(p);
    }
    for (const j of BACKENDS) await servers.get(j)!.next(0, (l) => l === 'ready', `backend ${j} ready`);
    await until('three agents', async () => ((await Promise.all(DIRECTORS.map(statusOf))).every((s) => s !== undefined) ? true : undefined));
  });

  after(async () => {
    for (const p of children.reverse()) await stop(p);
    for (const ns of [...DIRECTORS.flatMap((i) => [directorNs(i), clientNs(i)]), ...BACKENDS.map(backendNs)]) execFileSync('ip', ['netns', 'del', ns]);
  });

  const errorsOf = (i: number) => clients.get(i)!.lines.filter((l) => l.startsWith('error')).slice(clientErrorsFrom.get(i) ?? 0);

  it('a weight raised in the store shifts new connections on every director', async () => {
    const r1 = (await putDesired(client, keys, [service({ 1: 1, 2: 1, 3: 1 })])).revision;
    // The checked destinations start at weight 0 and come up with their first passing check.
    await converged(r1, rulesOf({ 1: 1, 2: 1, 3: 1 }));
    for (const i of DIRECTORS) {
      const c = python(clientNs(i), CLIENT, [VIP, 'loop']);
      children.push(c.child);
      clients.set(i, c);
    }
    let m = marks();
    for (const i of DIRECTORS) await until(`12 connections through director ${i}`, () => total(acceptedSince(m, i)) >= 12 || undefined);
    for (const i of DIRECTORS) {
      const counts = acceptedSince(m, i);
      for (const j of BACKENDS) assert.ok(counts[j] >= 2, `director ${i} spread its connections: ${JSON.stringify(counts)}`);
    }

    const r2 = (await putDesired(client, keys, [service({ 1: 4, 2: 1, 3: 1 })])).revision;
    await converged(r2, rulesOf({ 1: 4, 2: 1, 3: 1 }));
    m = marks();
    for (const i of DIRECTORS) await until(`18 connections through director ${i}`, () => total(acceptedSince(m, i)) >= 18 || undefined);
    for (const i of DIRECTORS) {
      const counts = acceptedSince(m, i);
      // wrr at 4:1:1: four of every six to backend 1.
      assert.ok(counts[1] >= 2 * Math.max(counts[2], counts[3]), `director ${i} sends most to backend 1 now: ${JSON.stringify(counts)}`);
      assert.deepEqual(errorsOf(i), [], `no failed connection through director ${i}`);
    }
  });

  it('a destination removed in the store drains: a held connection keeps working until it closes, then it is deleted', async () => {
    // A connection held through director 1; the backend it reached is the one removed.
    const held = python(clientNs(1), CLIENT, [VIP, 'hold']);
    children.push(held.child);
    held.child.stdin!.write('ping\n');
    const answer = await held.next(0, (l) => l.startsWith('ok') || l.startsWith('error'), 'the first answer');
    const m = /^ok b(\d)$/.exec(answer);
    assert.ok(m, answer);
    const drained = Number(m[1]);
    remaining = { 1: 4, 2: 1, 3: 1 };
    delete remaining[drained];
    const r = (await putDesired(client, keys, [service(remaining)])).revision;
    for (const i of DIRECTORS) await until(`director ${i} at revision ${r}`, async () => ((await statusOf(i))?.appliedRevision ?? 0) >= r || undefined);
    // Director 1 keeps it at weight 0 while the connection lives; the others delete it once their own clients' connections to it are gone.
    await untilTable(1, rulesOf({ ...remaining, [drained]: 0 }), `director 1 draining backend ${drained}`);
    for (const i of [2, 3]) await untilTable(i, rulesOf(remaining));
    for (let n = 0; n < 3; n++) {
      const from: number = held.lines.length;
      held.child.stdin!.write('ping\n');
      assert.equal(await held.next(from, () => true, 'an answer on the held connection'), `ok b${drained}`, 'the held connection still works');
    }
    assert.deepEqual(rules(1), rulesOf({ ...remaining, [drained]: 0 }), 'still draining while the connection is open');
    held.child.stdin!.write('close\n');
    await held.next(0, (l) => l === 'closed', 'closed');
    await untilTable(1, rulesOf(remaining), `director 1 without backend ${drained}`);
    for (const i of DIRECTORS) assert.deepEqual(errorsOf(i), [], `no failed connection through director ${i}`);
  });

  it('a backend whose server stops is inhibited by every director (its health check), and shows down in their status', async () => {
    const victim = Math.max(...Object.keys(remaining).map(Number));
    for (const i of DIRECTORS) clientErrorsFrom.set(i, clients.get(i)!.lines.filter((l) => l.startsWith('error')).length);
    await stop(servers.get(victim)!.child, 'SIGKILL');
    for (const i of DIRECTORS) await untilTable(i, rulesOf({ ...remaining, [victim]: 0 }), `director ${i} inhibits backend ${victim}`);
    for (const i of DIRECTORS) {
      // The status is written again once the weight is in the table.
      const s = await until(`director ${i}'s status`, async () => {
        const status = await statusOf(i);
        return status?.health.destinations.some((d) => d.destination === `${backendAddress(victim)}:80` && d.weight === 0) ? status : undefined;
      });
      assert.equal(s.health.up, 1);
      assert.equal(s.health.checked, 2);
      const down = s.health.destinations.find((d) => d.destination === `${backendAddress(victim)}:80`);
      assert.ok(down !== undefined && !down.up && down.weight === 0, JSON.stringify(s.health));
      assert.match(down.reason, /refused/);
    }
    const table = execFileSync(process.execPath, [IPVS, 'fleet', 'status', '--prefix', PREFIX, '--endpoints', ENDPOINT], { encoding: 'utf8' });
    for (const i of DIRECTORS) {
      assert.match(table, new RegExp(`^${director(i)}\\s+connected\\s.*\\s1/2\\s`, 'm'), table);
      assert.match(table, new RegExp(`^  ${director(i)}  service tcp ${VIP.replace(/\./g, '\\.')}:80  198\\.18\\.90\\.${victim}:80  down`, 'm'), table);
    }
    // New connections go to the backend left only now: none fails.
    for (const i of DIRECTORS) clientErrorsFrom.set(i, clients.get(i)!.lines.filter((l) => l.startsWith('error')).length);
    const m = marks();
    for (const i of DIRECTORS) await until(`6 connections through director ${i}`, () => total(acceptedSince(m, i)) >= 6 || undefined);
    for (const i of DIRECTORS) assert.deepEqual(errorsOf(i), [], `no failed connection through director ${i} once backend 3 is out`);

    startServer(victim);
    for (const i of DIRECTORS) await untilTable(i, rulesOf(remaining), `director ${i} takes backend ${victim} back`);
  });
});
