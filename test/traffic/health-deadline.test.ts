// The hard deadline of a check, with real traffic: a backend whose health
// server accepts and then trickles its answer one byte a second goes down at
// the check's timeout (the server sees each check's connection closed by the
// checker about a timeout after it was accepted, long before the answer
// would have ended: a per-read idle timeout would never fire, keepalived
// #1822), and its weight is 0 in the kernel; a command check that hangs (a
// shell that forks a sleeping child, then sleeps) is killed with its process
// group at the timeout, and /proc never shows more than one of its process
// groups alive (keepalived #429: stuck scripts piling up).
import assert from 'assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as ipvs from '../../lib';
import { Topology, type Host } from '../../lib/testing/topology';
import { eventually, note, useTrafficNetwork } from './helpers';
import { CheckProcess, kernelWeight, ScriptServer, weightLine } from './health-setup';

const TRICKLE_PORT = 8081;
const INTERVAL = 2;
const TIMEOUT = 1;
const FALL = 2;
const RISE = 1;
/**
 * What a check's connection (or a command's process group) may outlive the
 * timeout by, as the server (or a /proc sample) sees it: the server's loop
 * wakes once a second to send, /proc is sampled every few hundred ms, and the
 * VM is slow. Small beside the trickled answer's TRICKLE_BYTES seconds.
 */
const SLACK = 2.5;
/** The trickled answer's length: 65 bytes of headers and the body; two minutes at a byte a second. */
const TRICKLE_BYTES = 120;

/**
 * A health page that answers "200 ok" at once ("fast", the start) or, after
 * "trickle" on stdin, sends a complete but slow answer: one byte a second.
 * Prints, with the server's clock, how long each connection lasted until the
 * peer closed it and how many bytes it had been sent ("closed SECONDS BYTES").
 */
const TRICKLE_SERVER = String.raw`
import selectors, socket, sys, time
BODY = b'o' * (${TRICKLE_BYTES} - 65)  # the headers are 65 bytes
ANSWER = b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ' + str(len(BODY)).encode() + b'\r\n\r\n' + BODY
sel = selectors.DefaultSelector()
mode = 'fast'
conns = {}

def say(text):
    sys.stdout.write(text + '\n'); sys.stdout.flush()

def close(c, why):
    info = conns.pop(c)
    sel.unregister(c)
    c.close()
    say('closed %.3f %d %s %s' % (time.monotonic() - info['at'], info['sent'], why, info['mode']))

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(64)
sel.register(listener, selectors.EVENT_READ, 'listener')
sel.register(sys.stdin, selectors.EVENT_READ, 'stdin')
say('listening')
next_tick = time.monotonic() + 1
while True:
    for key, _ in sel.select(max(0, next_tick - time.monotonic())):
        if key.data == 'listener':
            c = listener.accept()[0]
            c.setblocking(False)
            conns[c] = {'at': time.monotonic(), 'sent': 0, 'mode': mode, 'request': b''}
            sel.register(c, selectors.EVENT_READ, 'conn')
        elif key.data == 'stdin':
            line = sys.stdin.readline().strip()
            if line == '':
                sys.exit(0)
            mode = line
            say('mode ' + mode)
        else:
            c = key.fileobj
            info = conns[c]
            try:
                data = c.recv(4096)
            except OSError:
                data = b''
            if not data:
                close(c, 'by-peer')
                continue
            info['request'] += data
            if info['mode'] == 'fast' and b'\r\n\r\n' in info['request']:
                c.sendall(ANSWER)
                info['sent'] = len(ANSWER)
                close(c, 'answered')
    now = time.monotonic()
    if now >= next_tick:
        next_tick = now + 1
        for c, info in list(conns.items()):
            if info['mode'] != 'trickle' or b'\r\n\r\n' not in info['request']:
                continue
            try:
                c.send(ANSWER[info['sent']:info['sent'] + 1])
                info['sent'] += 1
            except OSError:
                close(c, 'send-failed')
                continue
            if info['sent'] >= len(ANSWER):
                close(c, 'answered')
`;

/** A connection as the server saw it: its length, the bytes sent, who ended it, the mode it was accepted in. */
interface Closed {
  seconds: number;
  sent: number;
  why: string;
  mode: string;
}

/** The trickling health server in a backend's namespace. */
class TrickleServer extends ScriptServer {
  readonly closed: Closed[] = [];

  constructor(host: Host) {
    super(host, 'trickle server', TRICKLE_SERVER, TRICKLE_PORT);
  }

  protected override see(line: string): boolean {
    const m = /^closed (\S+) (\d+) (\S+) (\S+)$/.exec(line);
    if (m) this.closed.push({ seconds: Number(m[1]), sent: Number(m[2]), why: m[3], mode: m[4] });
    return m !== null;
  }

  /** 'fast' or 'trickle': how connections accepted from now on are answered. */
  async mode(mode: 'fast' | 'trickle'): Promise<void> {
    await this.command(mode, `mode ${mode}`);
  }
}

/** Live processes whose command line holds `marker`, by process group: pgid -> pids. */
function groupsWith(marker: string): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    let stat: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone while read
    }
    if (!cmdline.includes(marker)) continue;
    // stat: "pid (comm) state ppid pgrp ...": comm may hold spaces, so read after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') continue; // exited, not yet reaped by its parent: not alive
    const pgid = Number(fields[2]);
    groups.set(pgid, [...(groups.get(pgid) ?? []), Number(entry)]);
  }
  return groups;
}

describe('traffic: a check\'s hard deadline (trickling server, hanging command)', function () {
  this.timeout(300_000);
  let topo: Topology;
  let check: CheckProcess | undefined;
  let trickle: TrickleServer | undefined;

  useTrafficNetwork({ backends: 2 }, (t: Topology, _h: ipvs.IpvsHandle) => {
    topo = t;
  });
  afterEach(async () => {
    if (check) assert.equal(await check.stop(), 0, 'ipvs check exits 0 on SIGTERM');
    check = undefined;
    await trickle?.destroy();
    trickle = undefined;
  });

  it('takes a backend that trickles its answer a byte a second down at the timeout', async () => {
    const vip = '198.18.74.1';
    await topo.addVip(vip);
    const [b1, b2] = topo.backends;
    trickle = new TrickleServer(b1);
    await trickle.create();
    check = await CheckProcess.start([
      {
        protocol: 'tcp', address: vip, port: 80, scheduler: 'rr',
        destinations: [
          { address: b1.ipv4, forwarding: 'masq', weight: 5, check: { type: 'http', port: TRICKLE_PORT, path: '/', interval: INTERVAL, timeout: TIMEOUT, rise: RISE, fall: FALL } },
          { address: b2.ipv4, forwarding: 'masq', weight: 5, check: null },
        ],
      },
    ]);
    await check.waitFor(weightLine(b1.ipv4, 5, vip));
    assert.equal(kernelWeight(vip, b1.ipv4), 5, 'up while it answers at once');
    assert.ok(trickle.closed.length >= 1 && trickle.closed.every((c) => c.why === 'answered'), 'fast answers were whole');

    const from = check.lines.length;
    await trickle.mode('trickle');
    const down = await check.waitFor(/ down service tcp 198\.18\.74\.1:80 destination /, 60_000, from);
    await check.waitFor(weightLine(b1.ipv4, 0, vip), 60_000, from);
    assert.equal(kernelWeight(vip, b1.ipv4), 0, 'weight 0 in the kernel (ipvsadm -Sn)');
    assert.equal(kernelWeight(vip, b2.ipv4), 5);
    assert.match(down.text, /\(http\): (response|body) timeout after 1 s$/, 'the reason names the timeout and the phase it cut');
    note(`down line: ${down.text}`);

    // The checker's connections as the server saw them: each closed by the checker
    // (the server had more to send) about a timeout after it was accepted.
    const trickled = () => trickle!.closed.filter((c) => c.mode === 'trickle');
    await eventually(async () => trickled().length >= FALL, `${FALL} trickled connections closed`, 30_000);
    const cut = trickled();
    note(`trickled connections, from accept to the checker's close (server's clock): ${cut.map((c) => `${c.seconds.toFixed(2)} s after ${c.sent} bytes`).join(', ')}; timeout ${TIMEOUT} s, the answer ${TRICKLE_BYTES} bytes`);
    for (const c of cut) {
      assert.equal(c.why, 'by-peer', 'the checker closed it, not the server');
      assert.ok(c.sent < TRICKLE_BYTES, 'cut before the answer ended');
      // No lower bound: the deadline runs from the check's start, before the connect the server accepts.
      assert.ok(c.seconds <= TIMEOUT + SLACK, `closed at the timeout, not held by each byte (${c.seconds} s > ${TIMEOUT} + ${SLACK} s)`);
    }
    // A per-read idle timeout would have held the connection the whole answer long.
    assert.ok(check.child.exitCode === null, 'ipvs check still runs');
  });

  it('kills a hanging command check at its timeout, and its processes never pile up', async () => {
    const vip = '198.18.74.2';
    await topo.addVip(vip);
    const [b1, b2] = topo.backends;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-hang-'));
    const hang = path.join(dir, 'hang');
    // A unique sleep length marks the check's processes in /proc (the shell and both sleeps).
    const marker = `987.${process.pid % 1000}`;
    const script = `test -e ${hang} || exit 0; sleep ${marker} & sleep ${marker}`;
    check = await CheckProcess.start([
      {
        protocol: 'tcp', address: vip, port: 80, scheduler: 'rr',
        destinations: [
          { address: b1.ipv4, forwarding: 'masq', weight: 5, check: { type: 'command', command: ['sh', '-c', script], interval: INTERVAL, timeout: TIMEOUT, rise: RISE, fall: FALL } },
          { address: b2.ipv4, forwarding: 'masq', weight: 5, check: null },
        ],
      },
    ]);
    await check.waitFor(weightLine(b1.ipv4, 5, vip));
    const from = check.lines.length;
    fs.writeFileSync(hang, '');

    // /proc sampled through several intervals: at most one process group of the check alive at once.
    const seen = new Map<number, { first: number; last: number }>();
    let most = 0;
    let samples = 0;
    const until = Date.now() + 5 * INTERVAL * 1000;
    while (Date.now() < until) {
      const groups = groupsWith(marker);
      const now = Date.now();
      for (const g of groups.keys()) seen.set(g, { first: seen.get(g)?.first ?? now, last: now });
      most = Math.max(most, groups.size);
      samples++;
      assert.ok(groups.size <= 1, `at most one group of the check's processes alive: ${JSON.stringify([...groups])}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    note(`${samples} samples of /proc over ${5 * INTERVAL} s: ${seen.size} process groups of the hanging check seen, at most ${most} alive at once`);
    assert.ok(seen.size >= 2, `runs were killed and new ones started (${seen.size} groups seen)`);
    // Each group seen alive for no longer than the timeout (and the sampling's own slowness).
    const lives = [...seen.values()].map((s) => (s.last - s.first) / 1000);
    note(`each group seen alive for (first to last sample): ${lives.map((l) => `${l.toFixed(2)} s`).join(', ')}; timeout ${TIMEOUT} s`);
    for (const l of lives) assert.ok(l <= TIMEOUT + SLACK, `a group outlived the timeout: seen alive for ${l} s`);

    const down = await check.waitFor(/ down service tcp 198\.18\.74\.2:80 destination /, 60_000, from);
    assert.match(down.text, /\(command\): exit timeout after 1 s$/, 'the reason names the timeout');
    note(`down line: ${down.text}`);
    await check.waitFor(weightLine(b1.ipv4, 0, vip), 60_000, from);
    assert.equal(kernelWeight(vip, b1.ipv4), 0, 'weight 0 in the kernel (ipvsadm -Sn)');

    // Stopped, the checker leaves none of the command's processes behind.
    assert.equal(await check.stop(), 0);
    check = undefined;
    await eventually(async () => groupsWith(marker).size === 0, 'no process of the hanging check left', 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
