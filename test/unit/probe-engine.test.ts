// The native probe engine (native/probe_engine.cc through
// lib/health/probes/native.ts) against real listeners on 127.0.0.0/8 and ::1
// that the tests start: TCP connect (up, refused, a connect timeout against a
// full accept queue, closed with a reset), HTTP (status ranges, interim
// answers, heads split anywhere, a server that never answers and one that
// trickles its status line cut off at the deadline, answers that are not
// HTTP or cut short), cancel, stop with runs in flight, many runs at once,
// and bad arguments refused by name.
import assert from 'assert/strict';
import { ChildProcess, spawn } from 'child_process';
import * as net from 'net';
import { addon } from '../../lib/addon';
import { toCheck } from '../../lib/health';
import { NativeCheck, NativeProbes } from '../../lib/health/probes/native';

import { answeringServer, inPieces as writePieces, listen as listenOn } from './raw-http';

const listen = (server: net.Server, address = '127.0.0.6') => listenOn(server, address);

const tcp = (timeout = 2) => toCheck({ type: 'tcp', interval: 5, timeout }, 'check') as NativeCheck;
const http = (spec: Record<string, unknown> = {}) => toCheck({ type: 'http', interval: 5, timeout: 2, ...spec }, 'check') as NativeCheck;

describe('unit: native probe engine', function () {
  this.timeout(20000);
  const probes = new NativeProbes();
  const servers: net.Server[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const children: ChildProcess[] = [];
  after(() => {
    probes.stop();
    for (const t of timers) clearInterval(t);
    for (const s of servers) s.close();
    for (const c of children) c.kill('SIGKILL');
  });

  /** A server that answers each request (once its head is in) with `answer`. */
  function httpServer(answer: (socket: net.Socket, request: string) => void, address = '127.0.0.6'): Promise<number> {
    return answeringServer(servers, address, answer);
  }

  /** Writes `pieces` a few milliseconds apart, then closes. */
  function inPieces(socket: net.Socket, pieces: string[], gapMs = 5): void {
    writePieces(timers, socket, pieces, gapMs);
  }

  async function closedPort(): Promise<number> {
    const server = net.createServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  describe('tcp', () => {
    it('is up when the handshake completes, and resets the connection', async () => {
      const seen: string[] = [];
      const server = net.createServer((socket) => {
        socket.on('error', (error: NodeJS.ErrnoException) => seen.push(error.code ?? 'error'));
        socket.on('end', () => seen.push('FIN'));
      });
      servers.push(server);
      const port = await listen(server);
      assert.deepEqual(await probes.start(tcp(), { address: '127.0.0.6', port }).result, { ok: true, reason: 'connected' });
      const deadline = Date.now() + 5000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      // A reset, not a close: no TIME_WAIT socket per check on the checker's side.
      assert.deepEqual(seen, ['ECONNRESET']);
    });

    it('is down when refused', async () => {
      assert.deepEqual(await probes.start(tcp(), { address: '127.0.0.6', port: await closedPort() }).result, { ok: false, reason: 'connect refused' });
    });

    it('connects over IPv6', async () => {
      const server = net.createServer((socket) => socket.destroy());
      servers.push(server);
      const port = await listen(server, '::1');
      assert.deepEqual(await probes.start(tcp(), { address: '::1', port }).result, { ok: true, reason: 'connected' });
      assert.deepEqual(await probes.start(http(), { address: '::1', port: await closedPort() }).result, { ok: false, reason: 'connect refused' });
    });

    it('times out a connect that gets no answer (a full accept queue) at the deadline', async () => {
      // A listener that never accepts, with a backlog of 0: once its queue holds one
      // connection, the kernel drops further SYNs, so a connect waits until its deadline.
      const child = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.7",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      const fill: net.Socket[] = [];
      for (let i = 0; i < 3; i++) {
        const socket = net.connect({ host: '127.0.0.7', port });
        socket.on('error', () => undefined);
        fill.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      try {
        assert.deepEqual(await probes.start(tcp(0.5), { address: '127.0.0.7', port }).result, { ok: false, reason: 'connect timeout after 0.5 s' });
      } finally {
        for (const s of fill) s.destroy();
      }
    });
  });

  describe('http', () => {
    it('writes the request it is given and judges the status by the ranges', async () => {
      const requests: string[] = [];
      const port = await httpServer((socket, request) => {
        requests.push(request);
        const status = request.startsWith('GET /busy') ? '503 Busy' : request.startsWith('GET /moved') ? '302 Found' : '200 OK';
        socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 2\r\n\r\nok`);
      });
      const target = { address: '127.0.0.6', port };
      assert.deepEqual(await probes.start(http({ path: '/health', host: 'www.example.test' }), target).result, { ok: true, reason: 'HTTP 200' });
      assert.equal(requests[0], 'GET /health HTTP/1.0\r\nHost: www.example.test\r\nUser-Agent: ipvs-health\r\nConnection: close\r\n\r\n');
      assert.deepEqual(await probes.start(http({ path: '/busy' }), target).result, { ok: false, reason: 'HTTP 503' });
      assert.deepEqual(await probes.start(http({ path: '/busy', status: ['500-503'] }), target).result, { ok: true, reason: 'HTTP 503' });
      assert.deepEqual(await probes.start(http({ path: '/moved', status: [200, '300-399'] }), target).result, { ok: true, reason: 'HTTP 302' });
      assert.deepEqual(await probes.start(http({ path: '/moved' }), target).result, { ok: false, reason: 'HTTP 302' });
    });

    it('reads a head split anywhere, after interim 1xx answers', async () => {
      const port = await httpServer((socket) => inPieces(socket, ['HTTP/1.1 100 Continue\r', '\n\r\nHT', 'TP/1.1 2', '04 No Content\r\nX-A', ': 1\r\n', '\r\n']));
      assert.deepEqual(await probes.start(http({ status: [204] }), { address: '127.0.0.6', port }).result, { ok: true, reason: 'HTTP 204' });
      const bare = await httpServer((socket) => socket.end('HTTP/1.0 200 OK\nServer: x\n\n'));
      assert.deepEqual(await probes.start(http(), { address: '127.0.0.6', port: bare }).result, { ok: true, reason: 'HTTP 200' });
    });

    it('is down on what is not HTTP, a head cut short, a bad Content-Length, a head too long', async () => {
      const target = async (answer: (socket: net.Socket) => void) => ({ address: '127.0.0.6', port: await httpServer(answer) });
      const ssh = await target((socket) => socket.end('SSH-2.0-OpenSSH_9.2p1\r\n'));
      assert.deepEqual(await probes.start(http(), ssh).result, { ok: false, reason: 'response is not HTTP: "SSH-2.0-OpenSSH_9.2p1"' });
      const status = await target((socket) => socket.end('HTTP/1.1 2000 OK\r\n\r\n'));
      assert.deepEqual(await probes.start(http(), status).result, { ok: false, reason: 'response is not HTTP: "HTTP/1.1 2000 OK"' });
      const early = await target((socket) => inPieces(socket, ['HTTP/1.1 200 OK\r\nContent-']));
      assert.deepEqual(await probes.start(http(), early).result, { ok: false, reason: 'response: connection closed early' });
      const length = await target((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n'));
      assert.deepEqual(await probes.start(http(), length).result, { ok: false, reason: 'HTTP 200, bad Content-Length "12x"' });
      const long = await target((socket) => socket.end(`HTTP/1.1 200 OK\r\nX-Long: ${'x'.repeat(70000)}\r\n\r\n`));
      assert.deepEqual(await probes.start(http(), long).result, { ok: false, reason: 'response head longer than 65536 bytes' });
    });

    it('times out a server that accepts and never answers, at the deadline', async () => {
      const port = await httpServer(() => undefined);
      assert.deepEqual(await probes.start(http({ timeout: 0.5 }), { address: '127.0.0.6', port }).result, { ok: false, reason: 'response timeout after 0.5 s' });
    });

    it('cuts off a status line trickling a byte every 100 ms at the deadline', async () => {
      let sent = 0;
      const port = await httpServer((socket) => {
        const text = 'HTTP/1.1 200 OK\r\n\r\n';
        const timer = setInterval(() => (sent < text.length ? socket.write(text[sent++]) : clearInterval(timer)), 100);
        timers.add(timer);
        socket.on('close', () => clearInterval(timer));
      });
      // 19 bytes a byte every 100 ms: the whole head would take 1.9 s; the deadline is 1 s.
      assert.deepEqual(await probes.start(http({ timeout: 1 }), { address: '127.0.0.6', port }).result, { ok: false, reason: 'response timeout after 1 s' });
      assert.ok(sent < 19, `the server sent ${sent} bytes: the run was not cut off`);
    });
  });

  it('cancels a run: its socket closes now and its result is "aborted"', async () => {
    let closed = 0;
    const port = await httpServer(() => undefined);
    servers[servers.length - 1].on('connection', (socket) => socket.on('close', () => closed++));
    const run = probes.start(http({ timeout: 2 }), { address: '127.0.0.6', port });
    await new Promise((resolve) => setTimeout(resolve, 100));
    run.cancel!();
    assert.deepEqual(await run.result, { ok: false, reason: 'aborted' });
    const deadline = Date.now() + 1500;
    while (closed === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    // Closed by the cancel, well before the run's 2 s deadline.
    assert.equal(closed, 1);
    assert.equal(probes.active, 0);
  });

  it('runs many at once', async () => {
    const port = await httpServer((socket) => socket.end('HTTP/1.0 200 OK\r\n\r\n'));
    const tcpServer = net.createServer((socket) => socket.destroy());
    servers.push(tcpServer);
    const tcpPort = await listen(tcpServer, '127.0.0.8');
    const runs = Array.from({ length: 1000 }, (_, i) =>
      i % 2 === 0 ? probes.start(http(), { address: '127.0.0.6', port }).result : probes.start(tcp(), { address: '127.0.0.8', port: tcpPort }).result,
    );
    const results = await Promise.all(runs);
    assert.deepEqual(
      results.map((r) => r.reason).filter((reason, i) => reason !== (i % 2 === 0 ? 'HTTP 200' : 'connected')),
      [],
    );
  });

  it('stops with runs in flight: every one aborted, no callback afterwards, no start', async () => {
    const port = await httpServer(() => undefined);
    let batches = 0;
    const raw = new addon.ProbeEngine(() => batches++);
    for (let id = 0; id < 50; id++) raw.start(id, 'http', '127.0.0.6', port, 300, 'GET / HTTP/1.0\r\n\r\n');
    raw.stop();
    // Past the runs' deadlines: none reports.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(batches, 0);
    assert.throws(() => raw.start(99, 'tcp', '127.0.0.6', port, 300), /the probe engine is stopped/);
    raw.stop();

    const own = new NativeProbes();
    const results = Array.from({ length: 20 }, () => own.start(http({ timeout: 2 }), { address: '127.0.0.6', port }).result);
    own.stop();
    assert.deepEqual(new Set((await Promise.all(results)).map((r) => r.reason)), new Set(['aborted']));
  });

  it('says a run it cannot start could not run', async () => {
    assert.deepEqual(await probes.start(tcp(), { address: 'backend.example', port: 80 }).result, {
      ok: false,
      cannotRun: true,
      reason: 'checker failed: Expected an IPv4 or IPv6 address for address but received backend.example',
    });
  });

  it('refuses bad arguments by name', () => {
    const raw = new addon.ProbeEngine(() => undefined);
    try {
      assert.throws(() => raw.start(1, 'udp' as 'tcp', '127.0.0.6', 80, 100), { name: 'TypeError', message: "Expected 'tcp' or 'http' for kind but received udp" });
      assert.throws(() => raw.start(1, 'tcp', 'localhost', 80, 100), { name: 'TypeError', message: 'Expected an IPv4 or IPv6 address for address but received localhost' });
      assert.throws(() => raw.start(1, 'tcp', '127.0.0.6', 0, 100), { name: 'RangeError', message: 'Expected an integer 1-65535 for port but received 0' });
      assert.throws(() => raw.start(1, 'tcp', '127.0.0.6', 80, 0), { name: 'RangeError', message: 'Expected 1-86400000 for timeoutMs but received 0' });
      assert.throws(() => raw.start(-1, 'tcp', '127.0.0.6', 80, 100), { name: 'RangeError', message: 'Expected an integer 0-4294967295 for id but received -1' });
      assert.throws(() => raw.start(1, 'http', '127.0.0.6', 80, 100), { name: 'TypeError', message: 'Expected a string for request but received undefined' });
      // @ts-expect-error: no callback
      assert.throws(() => new addon.ProbeEngine(), { name: 'TypeError', message: 'Expected a function for onResults' });
    } finally {
      raw.stop();
    }
  });
});
