// The HTTP probe's own response reading (probes/http-response.ts): a status
// line, headers and bodies split anywhere across chunks, Content-Length,
// chunked and read-to-close bodies, interim 1xx heads, and responses that
// are cut short, too long or not HTTP. Then the probe against raw servers
// on 127.0.0.0/8 that write their answers in pieces, close early, trickle a
// chunked body past the deadline, and see the request the probe writes.
import assert from 'assert/strict';
import * as net from 'net';
import { startRun, toCheck } from '../../lib/health';
import type { ProbeResult } from '../../lib/health';
import { MAX_BODY, MAX_HEAD, ResponseReader, Step } from '../../lib/health/probes/http-response';
import { answeringServer, inPieces as writePieces } from './raw-http';

/** Feeds `text` to a reader in pieces of `size` bytes; the steps that were not 'more', in order. */
function feed(reader: ResponseReader, text: string | Buffer, size: number, readBody = true): Step[] {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const steps: Step[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    // A fresh view of a buffer reused afterwards, as the socket's read buffer is.
    const scratch = Buffer.from(bytes.subarray(i, i + size));
    let step = reader.push(scratch);
    scratch.fill(0x58);
    if (step === 'head') {
      steps.push(step);
      if (!readBody) return steps;
      step = reader.readBody();
    }
    if (step !== 'more') steps.push(step);
    if (step === 'error' || step === 'body') return steps;
  }
  return steps;
}

describe('unit: health HTTP response reading', () => {
  const SIZES = [1, 2, 3, 7, 1000];

  it('reads a status line and headers split anywhere', () => {
    for (const size of SIZES) {
      const reader = new ResponseReader();
      assert.deepEqual(feed(reader, 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nX-A: b\r\n\r\nbusy', size, false), ['head'], `pieces of ${size}`);
      assert.equal(reader.status, 503);
    }
  });

  it('reads a Content-Length body split anywhere, and nothing past its length', () => {
    for (const size of SIZES) {
      const reader = new ResponseReader();
      assert.deepEqual(feed(reader, 'HTTP/1.0 200 OK\r\ncontent-length: 11\r\n\r\nservice ok\nGARBAGE', size), ['head', 'body'], `pieces of ${size}`);
      assert.equal(reader.body().toString(), 'service ok\n');
    }
  });

  it('decodes a chunked body split anywhere, with chunk extensions and trailers', () => {
    const response = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '5;name=value\r\nservi\r\n6\r\nce ok\n\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
    for (const size of SIZES) {
      const reader = new ResponseReader();
      assert.deepEqual(feed(reader, response, size), ['head', 'body'], `pieces of ${size}`);
      assert.equal(reader.body().toString(), 'service ok\n0123456789');
    }
  });

  it('reads a body without a length up to the close', () => {
    const reader = new ResponseReader();
    assert.deepEqual(feed(reader, 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ', 4), ['head']);
    assert.equal(reader.push(Buffer.from('world')), 'more');
    assert.equal(reader.end(), 'body');
    assert.equal(reader.body().toString(), 'hello world');
  });

  it('accepts heads with bare LF line ends', () => {
    const reader = new ResponseReader();
    assert.deepEqual(feed(reader, 'HTTP/1.0 200 OK\nContent-Length: 2\n\nok', 3), ['head', 'body']);
    assert.equal(reader.body().toString(), 'ok');
  });

  it('skips interim 1xx heads, and has no body for 204', () => {
    const reader = new ResponseReader();
    assert.deepEqual(feed(reader, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n', 5), ['head', 'body']);
    assert.equal(reader.status, 204);
    assert.equal(reader.body().length, 0);
  });

  it('fails a response cut short: in the head, in a Content-Length body, in a chunked body', () => {
    const inHead = new ResponseReader();
    assert.deepEqual(feed(inHead, 'HTTP/1.1 200 OK\r\nContent-Le', 4), []);
    assert.equal(inHead.end(), 'error');
    assert.equal(inHead.error, 'response: connection closed early');

    const inBody = new ResponseReader();
    assert.deepEqual(feed(inBody, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort', 4), ['head']);
    assert.equal(inBody.end(), 'error');
    assert.equal(inBody.error, 'HTTP 200, body: connection closed early');

    const inChunks = new ResponseReader();
    assert.deepEqual(feed(inChunks, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab', 4), ['head']);
    assert.equal(inChunks.end(), 'error');
  });

  it('fails what is not HTTP at once, and bad framing by name', () => {
    const junk = new ResponseReader();
    assert.deepEqual(feed(junk, 'SSH-2.0-OpenSSH_9.2p1 Debian\r\n', 100), ['error']);
    assert.equal(junk.error, 'response is not HTTP: "SSH-2.0-OpenSSH_9.2p1 Debian"');

    const badLength = new ResponseReader();
    assert.deepEqual(feed(badLength, 'HTTP/1.1 200 OK\r\nContent-Length: 12, 13\r\n\r\n', 100), ['error']);
    assert.equal(badLength.error, 'HTTP 200, bad Content-Length "12, 13"');

    const badChunk = new ResponseReader();
    assert.deepEqual(feed(badChunk, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 100), ['head', 'error']);
    assert.equal(badChunk.error, 'HTTP 200, bad chunk size "zz"');
  });

  it('bounds the head and the body kept', () => {
    const longHead = new ResponseReader();
    const head = `HTTP/1.1 200 OK\r\nX-Long: ${'a'.repeat(MAX_HEAD)}`;
    assert.deepEqual(feed(longHead, head, 16384), ['error']);
    assert.equal(longHead.error, `response head longer than ${MAX_HEAD} bytes`);

    const longBody = new ResponseReader();
    const steps = feed(longBody, Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), Buffer.alloc(MAX_BODY + 1, 0x61)]), 65536);
    assert.deepEqual(steps, ['head', 'error']);
    assert.equal(longBody.error, `HTTP 200, body longer than ${MAX_BODY} bytes`);
  });
});

describe('unit: health HTTP probe against raw servers', function () {
  this.timeout(20000);
  const servers: net.Server[] = [];
  const timers = new Set<NodeJS.Timeout>();
  after(() => {
    for (const t of timers) clearInterval(t);
    for (const s of servers) s.close();
  });

  /** A server on 127.0.0.4 that answers each request with `answer(socket, request)`. */
  function rawServer(answer: (socket: net.Socket, request: string) => void): Promise<number> {
    return answeringServer(servers, '127.0.0.4', answer);
  }

  /** Writes `pieces` one at a time, a few milliseconds apart, then closes. */
  function inPieces(socket: net.Socket, pieces: string[]): void {
    writePieces(timers, socket, pieces);
  }

  function run(spec: Record<string, unknown>, port: number): Promise<ProbeResult> {
    return startRun(toCheck({ type: 'http', interval: 5, timeout: 2, ...spec }, 'check'), { address: '127.0.0.4', port }).result;
  }

  it('writes one HTTP/1.0 request with the path, Host header and Connection: close', async () => {
    let seen = '';
    const port = await rawServer((socket, request) => {
      seen = request;
      socket.end('HTTP/1.0 200 OK\r\n\r\n');
    });
    assert.deepEqual(await run({ path: '/health?x=1', host: 'www.example.test' }, port), { ok: true, reason: 'HTTP 200' });
    assert.equal(seen, 'GET /health?x=1 HTTP/1.0\r\nHost: www.example.test\r\nUser-Agent: ipvs-health\r\nConnection: close\r\n\r\n');
    await run({ method: 'HEAD' }, port);
    assert.equal(seen, `HEAD / HTTP/1.0\r\nHost: 127.0.0.4:${port}\r\nUser-Agent: ipvs-health\r\nConnection: close\r\n\r\n`);
  });

  it('reads a status line, headers and a chunked body that arrive in pieces', async () => {
    const port = await rawServer((socket) =>
      inPieces(socket, ['HT', 'TP/1.1 2', '00 OK\r\nTransfer-Enc', 'oding: chunked\r', '\n\r\n', '4\r\nserv', '\r\n6\r\nice ok\r', '\n0\r\n\r\n']));
    assert.deepEqual(await run({ body: '^service ok$' }, port), { ok: true, reason: 'HTTP 200' });
    assert.deepEqual(await run({ body: '^degraded$' }, port), { ok: false, reason: 'HTTP 200, body does not match /^degraded$/' });
    // Without a body to check, the status decides.
    assert.deepEqual(await run({ status: ['300-399'] }, port), { ok: false, reason: 'HTTP 200' });
  });

  it('is down when the server closes before the end of the head or of the body', async () => {
    const early = await rawServer((socket) => inPieces(socket, ['HTTP/1.1 200 OK\r\nContent-']));
    assert.deepEqual(await run({}, early), { ok: false, reason: 'response: connection closed early' });
    const short = await rawServer((socket) => inPieces(socket, ['HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n', 'only this']));
    assert.deepEqual(await run({ body: 'x' }, short), { ok: false, reason: 'HTTP 200, body: connection closed early' });
    const silent = await rawServer((socket) => socket.end());
    assert.deepEqual(await run({}, silent), { ok: false, reason: 'response: connection closed early' });
  });

  it('cuts off a chunked body trickling a chunk a second at the timeout', async () => {
    const port = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      const timer = setInterval(() => socket.write('1\r\nx\r\n'), 1000);
      timers.add(timer);
      socket.on('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    });
    assert.deepEqual(await run({ body: 'x', timeout: 1.5 }, port), { ok: false, reason: 'body timeout after 1.5 s' });
  });

  it('is down on an answer that is not HTTP', async () => {
    const port = await rawServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2p1\r\n'));
    assert.deepEqual(await run({}, port), { ok: false, reason: 'response is not HTTP: "SSH-2.0-OpenSSH_9.2p1"' });
  });
});
