// HTTP and HTTPS: one request on a fresh connection, written by hand
// (`GET /path HTTP/1.0`, Host, Connection: close: a client arriving through
// the virtual service would open one too), the status line and headers read
// straight off the socket (http-response.ts), the status checked against the
// accepted ranges, and only when a body pattern or digest is asked for, the
// body read (up to MAX_BODY) and checked. HTTPS is the same request over
// tls.connect. Every phase is under the run's one deadline (see probe.ts): a
// server trickling its head or body is cut off at the timeout, never kept
// alive by each byte.
//
// Not Node's http client: its request, agent, parser, response stream and
// header objects were most of an HTTP check's cost at 10,000 checks a second,
// and a health check needs none of them.
import { createHash } from 'crypto';
import * as net from 'net';
import * as tls from 'tls';
import { hostPort } from '../../address';
import type { CheckedCheck, StatusRange } from '../spec';
import { ResponseReader, Step } from './http-response';
import type { Probe, ProbeContext, ProbeResult } from './probe';
import { socketFailure } from './tcp';

export { MAX_BODY } from './http-response';

type HttpCheck = Extract<CheckedCheck, { type: 'http' | 'https' }>;

/**
 * Where sockets read into: one buffer for all of them, since every chunk is
 * parsed (and what is kept copied) in the callback that receives it; this
 * spares a Buffer and a stream 'data' event per chunk.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** The results of a status with no body to judge: the same objects every run. */
const STATUS_RESULTS = new Map<number, ProbeResult>();

export function statusResult(ok: boolean, status: number): ProbeResult {
  const key = ok ? status : -status;
  let result = STATUS_RESULTS.get(key);
  if (result === undefined) {
    result = Object.freeze({ ok, reason: `HTTP ${status}` });
    STATUS_RESULTS.set(key, result);
  }
  return result;
}

export function statusAccepted(status: number, ranges: readonly StatusRange[]): boolean {
  for (const r of ranges) if (status >= r.low && status <= r.high) return true;
  return false;
}

function judgeBody(check: HttpCheck, status: number, body: Buffer): ProbeResult {
  if (check.digest !== undefined) {
    const digest = createHash('md5').update(body).digest('hex');
    if (digest !== check.digest) return { ok: false, reason: `HTTP ${status}, body digest ${digest} is not ${check.digest}` };
  }
  if (check.body !== undefined && !check.body.test(body.toString('utf8'))) return { ok: false, reason: `HTTP ${status}, body does not match /${check.body.source}/` };
  return statusResult(true, status);
}

/** The request, whole: one write. */
export function requestText(check: HttpCheck, target: { address: string; port: number }): string {
  const host = check.host ?? hostPort(target.address, target.port);
  return `${check.method} ${check.path} HTTP/1.0\r\nHost: ${host}\r\nUser-Agent: ipvs-health\r\nConnection: close\r\n\r\n`;
}

/** TLS failures by their error codes (a certificate not verified, a handshake refused). */
const TLS_CODE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/;

export const httpProbe: Probe<HttpCheck> = (check, target, context) =>
  new Promise((resolve) => {
    const secure = check.type === 'https';
    const wantBody = check.body !== undefined || check.digest !== undefined;
    const reader = new ResponseReader();
    let finished = false;
    const done = (result: ProbeResult) => {
      if (finished) return;
      finished = true;
      context.cancel = undefined;
      socket.destroy();
      resolve(result);
    };
    const step = (s: Step) => {
      if (s === 'more') return;
      if (s === 'error') done({ ok: false, reason: reader.error });
      else if (s === 'body') done(judgeBody(check, reader.status, reader.body()));
      else {
        // The head is read: without a body to judge (or with a status already refused), the status decides.
        const accepted = statusAccepted(reader.status, check.status);
        if (!wantBody || !accepted) done(statusResult(accepted, reader.status));
        else {
          context.phase = 'body';
          step(reader.readBody());
        }
      }
    };
    const onread = {
      buffer: READ_BUFFER,
      callback: (size: number, buffer: Uint8Array) => {
        if (!finished) step(reader.push(Buffer.from(buffer.buffer, buffer.byteOffset, size)));
        return true;
      },
    };
    const socket = secure ? connectTls(check, target, context, onread) : net.connect({ host: target.address, port: target.port, onread });
    socket.on(secure ? 'secureConnect' : 'connect', () => {
      context.phase = 'response';
      socket.write(requestText(check, target));
    });
    socket.on('end', () => {
      if (!finished) step(reader.end());
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (secure && (context.phase === 'TLS handshake' || (error.code !== undefined && TLS_CODE.test(error.code)))) done({ ok: false, reason: `TLS: ${error.message}` });
      else done(socketFailure(context.phase, error));
    });
    context.cancel = () => done({ ok: false, reason: 'aborted' });
  });

function connectTls(check: HttpCheck, target: { address: string; port: number }, context: ProbeContext, onread: net.OnReadOpts): tls.TLSSocket {
  // SNI takes a name only, never an address.
  const name = check.host?.replace(/:\d+$/, '');
  // tls.connect takes onread too (Node's documentation); @types/node does not list it.
  const options: tls.ConnectionOptions & { onread: net.OnReadOpts } = {
    host: target.address,
    port: target.port,
    servername: name !== undefined && net.isIP(name) === 0 ? name : undefined,
    rejectUnauthorized: check.verify,
    onread,
  };
  const socket = tls.connect(options);
  socket.once('connect', () => (context.phase = 'TLS handshake'));
  return socket;
}
