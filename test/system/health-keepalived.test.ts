// `ipvs check` beside keepalived (Debian's `keepalived`, checkers only), on
// the same backends with the same check settings: interval/delay_loop 1 s,
// timeout/connect_timeout 0.5 s, down after two failures a second apart
// (fall 2; retry 1, delay_before_retry 1), up after one pass (rise 1:
// keepalived has no rise for real servers), weight 0 on failure (inhibit;
// inhibit_on_failure). keepalived runs in a network namespace of its own and
// programs that namespace's IPVS (virtual servers of its own, 198.18.73.x),
// so it never touches ours (198.18.72.x, the director's namespace); its
// checks reach the backends through a veth to the director. Both sides have
// two VIPs sharing both backends.
//
// For TCP_CHECK/tcp and HTTP_GET/http, measured the same way for both:
// - checks per period: connections (and HTTP requests) each checker made to
//   a backend's health port over a window, counted at the backend by the
//   checker's source address;
// - detection and recovery latency: from asking the backend's health server
//   to stop (start), each namespace's table polled until the backend's weight is 0
//   (back to 5) under both VIPs. The table is read from /proc/PID/net/ip_vs
//   (what ipvsadm -Ln shows, for the namespace of process PID: this test's,
//   keepalived's): a file read, where running ipvsadm twice per poll would
//   make the polls, and so the figures, far coarser.
// IPVS_KEEPALIVED_CYCLES cycles per check type (2 here;
// scripts/health-vs-keepalived runs more). Skipped when keepalived is absent.
import assert from 'assert/strict';
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as ipvs from '../../lib';
import { Topology, type Host } from '../../lib/testing/topology';
import { eventually, note, useTrafficNetwork } from '../traffic/helpers';
import { CheckProcess, HEALTH_PORT, kernelWeights, LISTENER_PRELUDE, median, saveTable, ScriptServer, weightLine } from '../traffic/health-setup';

const KEEPALIVED = '/usr/sbin/keepalived';
const INTERVAL = 1;
const TIMEOUT = 0.5;
const WEIGHT = 5;
const CYCLES = Number(process.env.IPVS_KEEPALIVED_CYCLES ?? 2);
/** Seconds over which the checks reaching a backend are counted. */
const WINDOW = 6;
const OUR_VIPS = ['198.18.72.1', '198.18.72.2'];
const THEIR_VIPS = ['198.18.73.1', '198.18.73.2'];
/** keepalived's namespace's link to the director (in 198.19/16, above the topology's /24s). */
const KA_NET = '198.19.250';

type CheckType = 'tcp' | 'http';

/**
 * A health page that counts, per peer address, the connections it accepts
 * ("conn PEER") and the HTTP requests it answers ("req PEER"): a TCP check
 * connects and closes, an HTTP check asks. "stop" on stdin closes the
 * listening socket (connections refused), "start" listens again.
 */
const COUNTING_SERVER = LISTENER_PRELUDE + String.raw`
ANSWER = b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n'
conns = {}

def close(c):
    conns.pop(c)
    sel.unregister(c)
    c.close()

sel.register(sys.stdin, selectors.EVENT_READ, 'stdin')
listen()
while True:
    for key, _ in sel.select():
        if key.data == 'listener':
            c, peer = listener.accept()
            c.setblocking(False)
            conns[c] = [peer[0], b'']
            sel.register(c, selectors.EVENT_READ, 'conn')
            say('conn ' + peer[0])
        elif key.data == 'stdin':
            command()
        else:
            c = key.fileobj
            try:
                data = c.recv(4096)
            except OSError:
                data = b''
            if not data:
                close(c)
                continue
            conns[c][1] += data
            if b'\r\n\r\n' in conns[c][1]:
                try:
                    c.sendall(ANSWER)
                except OSError:
                    pass
                say('req ' + conns[c][0])
                close(c)
`;

class CountingServer extends ScriptServer {
  /** Connections and requests per peer address since made. */
  readonly connections = new Map<string, number>();
  readonly requests = new Map<string, number>();

  constructor(host: Host) {
    super(host, 'health server', COUNTING_SERVER, HEALTH_PORT);
  }

  protected override see(line: string): boolean {
    const m = /^(conn|req) (\S+)$/.exec(line);
    if (m === null) return false;
    const counts = m[1] === 'conn' ? this.connections : this.requests;
    counts.set(m[2], (counts.get(m[2]) ?? 0) + 1);
    return true;
  }

  async stop(): Promise<void> {
    await this.command('stop', 'stopped');
  }

  async start(): Promise<void> {
    await this.command('start', 'listening');
  }
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { encoding: 'utf8' }, (error, stdout, stderr) => (error ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout))),
  );
}

/** keepalived's network namespace, joined to the director by a veth pair, routed through it. */
class KeepalivedNamespace {
  readonly namespace = `ipvs-ka-${process.pid}`;
  readonly link = `ka${process.pid}`;
  readonly address = `${KA_NET}.2`;

  async create(): Promise<void> {
    await run('ip', ['netns', 'add', this.namespace]);
    await run('ip', ['link', 'add', this.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.namespace]);
    await run('ip', ['addr', 'add', `${KA_NET}.1/24`, 'dev', this.link]);
    await run('ip', ['link', 'set', this.link, 'up']);
    for (const args of [['link', 'set', 'lo', 'up'], ['addr', 'add', `${this.address}/24`, 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['route', 'add', 'default', 'via', `${KA_NET}.1`]])
      await run('ip', ['-n', this.namespace, ...args]);
  }

  /** The namespace's IPVS table as `ipvsadm -Sn` prints it. */
  saveTable(): Promise<string> {
    return run('ip', ['netns', 'exec', this.namespace, 'ipvsadm', '-Sn']);
  }

  async destroy(): Promise<void> {
    if (fs.existsSync(`/sys/class/net/${this.link}`)) await run('ip', ['link', 'del', this.link]);
    if (fs.existsSync(`/run/netns/${this.namespace}`)) await run('ip', ['netns', 'del', this.namespace]);
  }
}

/** keepalived.conf: two virtual servers sharing both backends, one checker per real server. */
function keepalivedConf(type: CheckType, backends: Host[]): string {
  const checker =
    type === 'tcp'
      ? `TCP_CHECK { connect_port ${HEALTH_PORT} }`
      : `HTTP_GET { url { path / status_code 200 } connect_port ${HEALTH_PORT} }`;
  const servers = THEIR_VIPS.map(
    (vip) => `virtual_server ${vip} 80 {
  delay_loop ${INTERVAL}
  lb_algo rr
  lb_kind NAT
  protocol TCP
${backends
  .map(
    (b) => `  real_server ${b.ipv4} 80 {
    weight ${WEIGHT}
    inhibit_on_failure
    connect_timeout ${TIMEOUT}
    retry 1
    delay_before_retry ${INTERVAL}
    ${checker}
  }`,
  )
  .join('\n')}
}`,
  );
  return `global_defs {\n  router_id ipvs_compare\n}\n${servers.join('\n')}\n`;
}

/** Our document: the same two-VIPs-by-two-backends shape and check settings. */
function ourDocument(type: CheckType, backends: Host[]): unknown[] {
  const check = { type, port: HEALTH_PORT, interval: INTERVAL, timeout: TIMEOUT, rise: 1, fall: 2, retryDelay: INTERVAL, ...(type === 'http' ? { path: '/' } : {}) };
  return OUR_VIPS.map((vip) => ({ protocol: 'tcp', address: vip, port: 80, scheduler: 'rr', check, health: { onFailure: 'inhibit' }, destinations: backends.map((b) => ({ address: b.ipv4, forwarding: 'masq', weight: WEIGHT })) }));
}

/** '0A0B0C0D:0050' -> '10.11.12.13:80' (IPv4, as /proc/net/ip_vs prints it). */
function fromHex(text: string): string {
  const [address, port] = text.split(':');
  const octets = [0, 2, 4, 6].map((i) => parseInt(address.slice(i, i + 2), 16));
  return `${octets.join('.')}:${parseInt(port, 16)}`;
}

/** The IPVS table of process `pid`'s network namespace: 'VIP:PORT DEST:PORT' -> weight, from /proc/PID/net/ip_vs. */
function procWeights(pid: number | 'self'): Map<string, number> {
  const out = new Map<string, number>();
  let service = '';
  for (const line of fs.readFileSync(`/proc/${pid}/net/ip_vs`, 'utf8').split('\n')) {
    const s = /^(TCP|UDP|SCTP)\s+([0-9A-F]{8}:[0-9A-F]{4})\s/.exec(line);
    if (s) service = fromHex(s[2]);
    const d = /^\s+->\s+([0-9A-F]{8}:[0-9A-F]{4})\s+\S+\s+(\d+)\s/.exec(line);
    if (d && service) out.set(`${service} ${fromHex(d[1])}`, Number(d[2]));
  }
  return out;
}

/** Weights of one backend under the given VIPs. */
function weightsOf(table: Map<string, number>, vips: string[], backend: string): Array<number | undefined> {
  return vips.map((v) => table.get(`${v}:80 ${backend}:80`));
}

interface Figures {
  detect: number[];
  recover: number[];
  /** Connections to backend1's health port over WINDOW seconds. */
  checks: number;
  requests: number;
}

const summary = (xs: number[]) => `median ${median(xs).toFixed(2)} s, worst ${Math.max(...xs).toFixed(2)} s (${xs.map((x) => x.toFixed(2)).join(' ')})`;

describe('traffic: ipvs check beside keepalived (same backends, same check settings)', function () {
  this.timeout(600_000);
  let topo: Topology;
  let servers: CountingServer[] = [];
  let ka: KeepalivedNamespace | undefined;
  let keepalived: ChildProcess | undefined;
  let check: CheckProcess | undefined;
  let dir = '';
  let kaLog = '';
  /** Mean seconds between two polls of the tables, per watch(). */
  const pollSeconds: number[] = [];

  before(function () {
    if (!fs.existsSync(KEEPALIVED)) {
      console.log(`      skipped: no ${KEEPALIVED} (Debian's keepalived package; scripts/install-deps installs it)`);
      this.skip();
    }
  });
  useTrafficNetwork({ backends: 2 }, (t: Topology, _h: ipvs.IpvsHandle) => {
    topo = t;
  });
  before(async () => {
    servers = topo.backends.map((b) => new CountingServer(b));
    await Promise.all(servers.map((s) => s.create()));
    ka = new KeepalivedNamespace();
    await ka.create();
    for (const v of OUR_VIPS) await topo.addVip(v);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-keepalived-'));
  });
  afterEach(async () => {
    await stopKeepalived();
    if (check) assert.equal(await check.stop(), 0, 'ipvs check exits 0 on SIGTERM');
    check = undefined;
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.destroy()));
    await ka?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function stopKeepalived(): Promise<void> {
    const k = keepalived;
    keepalived = undefined;
    if (!k || k.exitCode !== null || k.signalCode !== null) return;
    const exited = new Promise((resolve) => k.once('exit', resolve));
    k.kill('SIGTERM');
    const timer = setTimeout(() => k.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  function startKeepalived(type: CheckType): void {
    const conf = path.join(dir, `keepalived-${type}.conf`);
    fs.writeFileSync(conf, keepalivedConf(type, topo.backends));
    kaLog = '';
    // `ip netns exec` execs keepalived: the pid is its parent process's, which stops its checker child on SIGTERM.
    const k = spawn('ip', ['netns', 'exec', ka!.namespace, KEEPALIVED, '--dont-fork', '--log-console', '--log-detail', '--check', '--use-file', conf,
      '--pid', path.join(dir, 'keepalived.pid'), '--checkers_pid', path.join(dir, 'checkers.pid'), '--vrrp_pid', path.join(dir, 'vrrp.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    keepalived = k;
    for (const s of [k.stdout!, k.stderr!]) s.on('data', (c) => (kaLog = (kaLog + c.toString()).slice(-8000)));
  }

  /** Polls both tables until backend1's weights under both sides' VIPs equal `weight`; seconds since `from` for each side. */
  async function watch(weight: number, from: number): Promise<{ ours: number; theirs: number }> {
    const b1 = topo.backends[0].ipv4;
    let ours: number | undefined;
    let theirs: number | undefined;
    const deadline = Date.now() + 60_000;
    let polls = 0;
    while (ours === undefined || theirs === undefined) {
      const mine = procWeights('self');
      const other = procWeights(keepalived!.pid!);
      polls++;
      const at = (Date.now() - from) / 1000;
      if (ours === undefined && weightsOf(mine, OUR_VIPS, b1).every((w) => w === weight)) ours = at;
      if (theirs === undefined && weightsOf(other, THEIR_VIPS, b1).every((w) => w === weight)) theirs = at;
      if (Date.now() > deadline) throw new Error(`backend1 not at weight ${weight} on both sides within 60 s (ours ${ours}, keepalived ${theirs}):\n${[...mine]}\n${[...other]}\n${kaLog}\n${check?.text()}`);
      // Let the event loop turn (the health server's output is counted there); ~20 polls a second.
      await new Promise((r) => setTimeout(r, 50));
    }
    pollSeconds.push((Date.now() - from) / 1000 / polls);
    return { ours, theirs };
  }

  for (const type of ['tcp', 'http'] as const) {
    it(`${type === 'tcp' ? 'TCP_CHECK' : 'HTTP_GET'} vs ${type}: checks per period, detection and recovery latency`, async () => {
      const [b1] = topo.backends;
      startKeepalived(type);
      check = await CheckProcess.start(ourDocument(type, topo.backends));
      for (const v of OUR_VIPS) for (const b of topo.backends) await check.waitFor(weightLine(b.ipv4, WEIGHT, v));
      await eventually(async () => {
        if (keepalived?.exitCode !== null) throw new Error(`keepalived exited (${keepalived?.exitCode}): ${kaLog}`);
        const w = kernelWeights(await ka!.saveTable());
        return THEIR_VIPS.every((v) => topo.backends.every((b) => w.get(`${v}:80 ${b.ipv4}:80`) === WEIGHT));
      }, `keepalived's virtual servers with both backends at ${WEIGHT}`, 60_000);

      // Checks per period, counted at backend1 by source address (ours: the director's address on its link).
      const ourPeer = b1.directorIpv4;
      const theirPeer = ka!.address;
      const count = (m: Map<string, number>, peer: string) => m.get(peer) ?? 0;
      const c0 = { ours: count(servers[0].connections, ourPeer), theirs: count(servers[0].connections, theirPeer) };
      const r0 = { ours: count(servers[0].requests, ourPeer), theirs: count(servers[0].requests, theirPeer) };
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, WINDOW * 1000));
      const periods = (Date.now() - t0) / 1000 / INTERVAL;
      const ours: Figures = { detect: [], recover: [], checks: count(servers[0].connections, ourPeer) - c0.ours, requests: count(servers[0].requests, ourPeer) - r0.ours };
      const theirs: Figures = { detect: [], recover: [], checks: count(servers[0].connections, theirPeer) - c0.theirs, requests: count(servers[0].requests, theirPeer) - r0.theirs };
      note(`${type}: checks at backend1 over ${periods.toFixed(1)} periods with 2 VIPs: ours ${ours.checks} connections (${ours.requests} HTTP requests), keepalived ${theirs.checks} connections (${theirs.requests} HTTP requests)`);
      assert.ok(ours.checks >= 1 && ours.checks <= Math.floor(periods) + 1, `ours: one check per period for both VIPs (${ours.checks} in ${periods.toFixed(1)})`);
      // keepalived checks per real server per virtual server: twice ours here when on time, and more than ours however late.
      assert.ok(theirs.checks > ours.checks, `keepalived sends more checks than ours (${theirs.checks} vs ${ours.checks})`);
      if (type === 'http') assert.ok(ours.requests >= 1 && theirs.requests >= 1, 'both sent HTTP requests');

      // Timed from just before the stop (start) is asked of the health server: the time until
      // it acts counts against both sides alike, where timing from its answer could start late.
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const stopping = Date.now();
        await servers[0].stop();
        const down = await watch(0, stopping);
        ours.detect.push(down.ours);
        theirs.detect.push(down.theirs);
        const starting = Date.now();
        await servers[0].start();
        const up = await watch(WEIGHT, starting);
        ours.recover.push(up.ours);
        theirs.recover.push(up.theirs);
      }
      note(`${type}: detection over ${CYCLES} cycles (bound fall x interval + timeout = ${2 * INTERVAL + TIMEOUT} s): ours ${summary(ours.detect)}; keepalived ${summary(theirs.detect)}`);
      note(`${type}: recovery over ${CYCLES} cycles: ours ${summary(ours.recover)}; keepalived ${summary(theirs.recover)}`);
      note(`a poll of both tables every ${(median(pollSeconds) * 1000).toFixed(0)} ms (median)`);
      assert.ok(keepalived?.exitCode === null, `keepalived still runs: ${kaLog}`);
      // keepalived never touched our namespace's table: our VIPs only, theirs absent.
      const mine = kernelWeights(await saveTable());
      assert.ok([...mine.keys()].every((k) => OUR_VIPS.some((v) => k.startsWith(`${v}:80 `))), `only our VIPs in our table: ${[...mine.keys()]}`);
    });
  }
});
