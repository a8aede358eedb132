// Each checker against real servers on 127.0.0.0/8 that the tests start:
// up, down (refused), a hard timeout against a server trickling one byte a
// second, HTTP status ranges, body pattern, digest and Host header, HTTPS
// with a self-signed certificate (verify off passes, on fails), UDP
// send/expect, DNS against a tiny responder, commands (exit codes, weight,
// a hanging one killed with its whole process group), and a weight file.
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { startRun, toCheck } from '../../lib/health';
import type { ProbeResult } from '../../lib/health';

const HOST = '127.0.0.1';

function run(spec: Record<string, unknown>, port: number, address = HOST): Promise<ProbeResult> {
  // 3 s: the first request to a server in this process can take over a second in an emulated VM.
  return startRun(toCheck({ interval: 5, timeout: 3, ...spec }, 'check'), { address, port }).result;
}

function listen(server: net.Server, address = HOST): Promise<number> {
  return new Promise((resolve) => server.listen(0, address, () => resolve((server.address() as net.AddressInfo).port)));
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('unit: health checkers against real servers', function () {
  this.timeout(20000);
  const servers: Array<{ close(): unknown }> = [];
  after(() => {
    for (const s of servers) s.close();
  });

  describe('tcp', () => {
    it('is up when the handshake completes and down when refused', async () => {
      const server = net.createServer((socket) => socket.destroy());
      servers.push(server);
      const port = await listen(server, '127.0.0.2');
      assert.deepEqual(await run({ type: 'tcp' }, port, '127.0.0.2'), { ok: true, reason: 'connected' });
      assert.deepEqual(await run({ type: 'tcp' }, await closedPort()), { ok: false, reason: 'connect refused' });
    });
  });

  describe('http', () => {
    let port = 0;
    const BODY = 'service ok\n';
    const trickling = new Set<NodeJS.Timeout>();
    before(async () => {
      const server = http.createServer((req, res) => {
        switch (req.url) {
          case '/ok': res.end(BODY); break;
          case '/busy': res.writeHead(503).end('busy'); break;
          case '/host': res.end(`host=${req.headers.host}`); break;
          case '/trickle': {
            // Headers at once, then a byte a second: an idle timeout would never fire.
            res.writeHead(200, { 'content-length': '1000' });
            const timer = setInterval(() => res.write('x'), 1000);
            trickling.add(timer);
            res.on('close', () => { clearInterval(timer); trickling.delete(timer); });
            break;
          }
          default: res.writeHead(404).end();
        }
      });
      servers.push(server);
      // The raw trickler: the status line itself comes a byte a second.
      port = await listen(server);
    });
    after(() => {
      for (const t of trickling) clearInterval(t);
    });

    it('judges the status by the accepted ranges', async () => {
      assert.deepEqual(await run({ type: 'http', path: '/ok' }, port), { ok: true, reason: 'HTTP 200' });
      assert.deepEqual(await run({ type: 'http', path: '/busy' }, port), { ok: false, reason: 'HTTP 503' });
      assert.equal((await run({ type: 'http', path: '/busy', status: ['500-503'] }, port)).ok, true);
      assert.equal((await run({ type: 'http', path: '/missing', status: [200, '300-399'] }, port)).reason, 'HTTP 404');
    });

    it('checks the body against a pattern and an md5 digest', async () => {
      assert.equal((await run({ type: 'http', path: '/ok', body: '^service ok\n$' }, port)).ok, true);
      const wrong = await run({ type: 'http', path: '/ok', body: 'degraded' }, port);
      assert.deepEqual(wrong, { ok: false, reason: 'HTTP 200, body does not match /degraded/' });
      const digest = createHash('md5').update(BODY).digest('hex');
      assert.equal((await run({ type: 'http', path: '/ok', digest }, port)).ok, true);
      const bad = await run({ type: 'http', path: '/ok', digest: '0'.repeat(32) }, port);
      assert.equal(bad.ok, false);
      assert.match(bad.reason, /body digest [0-9a-f]{32} is not 0{32}/);
    });

    it('sends the Host header asked for', async () => {
      assert.equal((await run({ type: 'http', path: '/host', host: 'www.example.test', body: '^host=www\\.example\\.test$' }, port)).ok, true);
      assert.equal((await run({ type: 'http', path: '/host', body: `^host=127\\.0\\.0\\.1:${port}$` }, port)).ok, true);
    });

    it('is down when refused', async () => {
      assert.deepEqual(await run({ type: 'http' }, await closedPort()), { ok: false, reason: 'connect refused' });
    });

    it('cuts off a body trickling a byte a second at the timeout', async () => {
      const started = Date.now();
      const result = await run({ type: 'http', path: '/trickle', body: 'x', timeout: 1.5 }, port);
      assert.deepEqual(result, { ok: false, reason: 'body timeout after 1.5 s' });
      // Generous: the deadline is 1.5 s; an idle timeout would run until the 1000th byte.
      assert.ok(Date.now() - started < 10000);
    });

    it('cuts off a status line trickling a byte a second at the timeout', async () => {
      const raw = net.createServer((socket) => {
        const text = 'HTTP/1.1 200 OK\r\n\r\n';
        let i = 0;
        const timer = setInterval(() => (i < text.length ? socket.write(text[i++]) : clearInterval(timer)), 1000);
        socket.on('close', () => clearInterval(timer));
        socket.on('error', () => clearInterval(timer));
      });
      servers.push(raw);
      const rawPort = await listen(raw, '127.0.0.3');
      assert.deepEqual(await run({ type: 'http', timeout: 1.5 }, rawPort, '127.0.0.3'), { ok: false, reason: 'response timeout after 1.5 s' });
    });
  });

  describe('https', () => {
    let port = 0;
    before(async function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-tls-'));
      try {
        // An EC key: RSA key generation alone outlasted the hook's 20 s in an emulated VM.
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '1', '-subj', '/CN=health.test'], { stdio: 'ignore' });
        const server = https.createServer({ key: fs.readFileSync(`${dir}/key.pem`), cert: fs.readFileSync(`${dir}/cert.pem`) }, (_req, res) => res.end('tls ok'));
        servers.push(server);
        port = await listen(server);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('passes a self-signed certificate with verify off', async () => {
      assert.deepEqual(await run({ type: 'https', verify: false, body: 'tls ok' }, port), { ok: true, reason: 'HTTP 200' });
    });

    it('fails a self-signed certificate with verify on', async () => {
      const result = await run({ type: 'https', host: 'health.test' }, port);
      assert.equal(result.ok, false);
      assert.match(result.reason, /^TLS: .*self[- ]signed/);
    });
  });

  describe('udp', () => {
    let port = 0;
    before(async () => {
      const server = dgram.createSocket('udp4');
      server.on('message', (msg, from) => server.send(msg.toString() === 'ping' ? 'pong' : 'what?', from.port, from.address));
      servers.push(server);
      port = await new Promise((resolve) => server.bind(0, HOST, () => resolve(server.address().port)));
    });

    it('is up when the answer matches and down when it does not', async () => {
      assert.deepEqual(await run({ type: 'udp', send: 'ping', expect: '^pong$' }, port), { ok: true, reason: 'answered' });
      assert.deepEqual(await run({ type: 'udp', send: 'hello', expect: '^pong$' }, port), { ok: false, reason: 'answer does not match /^pong$/' });
    });

    it('is down when nothing listens', async () => {
      // Loopback answers a closed port with ICMP port unreachable: down at once, not at the timeout.
      assert.deepEqual(await run({ type: 'udp', send: 'ping', timeout: 1 }, await closedPort()), { ok: false, reason: 'port unreachable' });
    });
  });

  describe('dns', () => {
    let port = 0;
    before(async () => {
      // A responder for one name: an A record 127.0.0.53 for health.test, NXDOMAIN otherwise.
      const server = dgram.createSocket('udp4');
      server.on('message', (query, from) => {
        let end = 12;
        const labels: string[] = [];
        while (query[end] !== 0) {
          labels.push(query.toString('ascii', end + 1, end + 1 + query[end]));
          end += query[end] + 1;
        }
        const question = query.subarray(12, end + 5);
        const known = labels.join('.').toLowerCase() === 'health.test' && query.readUInt16BE(end + 1) === 1;
        const header = Buffer.alloc(12);
        header.writeUInt16BE(query.readUInt16BE(0), 0);
        header.writeUInt16BE(known ? 0x8180 : 0x8183, 2);
        header.writeUInt16BE(1, 4);
        header.writeUInt16BE(known ? 1 : 0, 6);
        const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 53]);
        server.send(Buffer.concat(known ? [header, question, answer] : [header, question]), from.port, from.address);
      });
      servers.push(server);
      port = await new Promise((resolve) => server.bind(0, '127.0.0.5', () => resolve(server.address().port)));
    });

    it('is up when the server answers (with the expected address)', async () => {
      assert.equal((await run({ type: 'dns', name: 'health.test' }, port, '127.0.0.5')).ok, true);
      assert.equal((await run({ type: 'dns', name: 'health.test', expect: '127.0.0.53' }, port, '127.0.0.5')).ok, true);
      const other = await run({ type: 'dns', name: 'health.test', expect: '127.0.0.54' }, port, '127.0.0.5');
      assert.deepEqual(other, { ok: false, reason: 'DNS A health.test is 127.0.0.53, not 127.0.0.54' });
    });

    it('is down on NXDOMAIN and when nothing answers', async () => {
      assert.deepEqual(await run({ type: 'dns', name: 'other.test' }, port, '127.0.0.5'), { ok: false, reason: 'DNS A other.test: ENOTFOUND' });
      const silent = await run({ type: 'dns', name: 'health.test' }, await closedPort(), '127.0.0.5');
      assert.equal(silent.ok, false);
    });
  });

  describe('command', () => {
    it('reads the exit status, and a weight from it with dynamicWeight (clamped)', async () => {
      assert.deepEqual(await run({ type: 'command', command: ['true'] }, 80), { ok: true, reason: 'exit 0' });
      assert.deepEqual(await run({ type: 'command', command: ['false'] }, 80), { ok: false, reason: 'exit 1' });
      assert.deepEqual(await run({ type: 'command', command: ['sh', '-c', 'exit 7'] }, 80), { ok: false, reason: 'exit 7' });
      assert.deepEqual(await run({ type: 'command', command: ['sh', '-c', 'exit 7'], dynamicWeight: true }, 80), { ok: true, reason: 'exit 7', weight: 5 });
      assert.deepEqual(await run({ type: 'command', command: ['sh', '-c', 'exit 200'], dynamicWeight: true, maxWeight: 3 }, 80), { ok: true, reason: 'exit 200', weight: 3 });
      assert.deepEqual(await run({ type: 'command', command: ['sh', '-c', 'exit 1'], dynamicWeight: true }, 80), { ok: false, reason: 'exit 1' });
    });

    it('passes the destination in the environment', async () => {
      const script = '[ "$IPVS_CHECK_ADDRESS" = 127.0.0.9 ] && [ "$IPVS_CHECK_PORT" = 8080 ]';
      assert.equal((await run({ type: 'command', command: ['sh', '-c', script] }, 8080, '127.0.0.9')).ok, true);
    });

    it('kills a hanging command and everything it started at the timeout', async () => {
      // A marker no other process has: its background child and itself both sleep on it.
      const marker = `${40 + (process.pid % 1000) / 1000}`;
      const check = toCheck({ type: 'command', command: ['sh', '-c', `sleep ${marker} & sleep ${marker}; true`], interval: 5, timeout: 0.5 }, 'check');
      const started = Date.now();
      const r = startRun(check, { address: HOST, port: 80 });
      assert.deepEqual(await r.result, { ok: false, reason: 'exit timeout after 0.5 s' });
      await r.settled;
      assert.ok(Date.now() - started < 10000);
      // The group's SIGKILL is sent at the deadline; the grandchild is reaped by init shortly after.
      let left: string[] = [];
      for (let i = 0; i < 50; i++) {
        left = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(marker);
          } catch {
            return false;
          }
        });
        if (left.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(left, []);
    });

    it('says it cannot run a program that does not exist', async () => {
      assert.deepEqual(await run({ type: 'command', command: ['/nonexistent/health-check'] }, 80), {
        ok: false, cannotRun: true, reason: 'cannot run /nonexistent/health-check: ENOENT',
      });
    });
  });

  describe('file', () => {
    let dir = '';
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-file-'))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reads a weight, clamped; missing or garbage is down', async () => {
      fs.writeFileSync(`${dir}/w`, '42\n');
      assert.deepEqual(await run({ type: 'file', path: `${dir}/w` }, 80), { ok: true, reason: `weight 42 from ${dir}/w`, weight: 42 });
      assert.deepEqual(await run({ type: 'file', path: `${dir}/w`, maxWeight: 10 }, 80), { ok: true, reason: `weight 10 from ${dir}/w`, weight: 10 });
      fs.writeFileSync(`${dir}/w`, '0');
      assert.equal((await run({ type: 'file', path: `${dir}/w` }, 80)).weight, 0);
      fs.writeFileSync(`${dir}/w`, 'lots');
      assert.deepEqual(await run({ type: 'file', path: `${dir}/w` }, 80), { ok: false, reason: `${dir}/w holds no weight: "lots"` });
      assert.deepEqual(await run({ type: 'file', path: `${dir}/none` }, 80), { ok: false, reason: `cannot read ${dir}/none: ENOENT` });
    });
  });
});
