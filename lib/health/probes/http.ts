// HTTP and HTTPS: one request on a fresh connection (no keep-alive, as a
// client arriving through the virtual service would open one), the status
// checked against the accepted ranges, and when a body pattern or digest is
// asked for, the whole body read (up to MAX_BODY) and checked. Every phase
// is under the run's one deadline (see probe.ts): a server trickling its
// headers or body is cut off at the timeout, never kept alive by each byte.
import { createHash } from 'crypto';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import { hostPort } from '../../address';
import type { CheckedCheck, StatusRange } from '../spec';
import type { Probe, ProbeResult } from './probe';
import { socketFailure } from './tcp';

type HttpCheck = Extract<CheckedCheck, { type: 'http' | 'https' }>;

/** The most of a body kept for a pattern or digest: a health page is small, a runaway one must not fill memory. */
export const MAX_BODY = 1 << 20;

function statusAccepted(status: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some((r) => status >= r.low && status <= r.high);
}

function judge(check: HttpCheck, status: number, body: Buffer | undefined): ProbeResult {
  if (!statusAccepted(status, check.status)) return { ok: false, reason: `HTTP ${status}` };
  if (body !== undefined) {
    if (check.digest !== undefined) {
      const digest = createHash('md5').update(body).digest('hex');
      if (digest !== check.digest) return { ok: false, reason: `HTTP ${status}, body digest ${digest} is not ${check.digest}` };
    }
    if (check.body !== undefined && !check.body.test(body.toString('utf8'))) return { ok: false, reason: `HTTP ${status}, body does not match /${check.body.source}/` };
  }
  return { ok: true, reason: `HTTP ${status}` };
}

export const httpProbe: Probe<HttpCheck> = (check, target, context) =>
  new Promise((resolve) => {
    const tls = check.type === 'https';
    const host = check.host ?? hostPort(target.address, target.port);
    const options: https.RequestOptions = {
      host: target.address,
      port: target.port,
      method: check.method,
      path: check.path,
      headers: { host, 'user-agent': 'ipvs-health', connection: 'close' },
      agent: false,
    };
    if (tls) {
      options.rejectUnauthorized = check.verify;
      // SNI takes a name only, never an address.
      const name = check.host?.replace(/:\d+$/, '');
      if (name !== undefined && net.isIP(name) === 0) options.servername = name;
    }
    const request = (tls ? https : http).request(options);
    let finished = false;
    const done = (result: ProbeResult) => {
      if (finished) return;
      finished = true;
      context.signal.removeEventListener('abort', abort);
      request.destroy();
      resolve(result);
    };
    const abort = () => done({ ok: false, reason: 'aborted' });
    context.signal.addEventListener('abort', abort);
    request.once('socket', (socket: net.Socket) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        context.phase = 'response';
      });
      if (tls) socket.once('connect', () => (context.phase = 'TLS handshake'));
    });
    request.once('error', (error: NodeJS.ErrnoException) => {
      if (context.phase === 'TLS handshake' || (tls && error.code !== undefined && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(error.code)))
        done({ ok: false, reason: `TLS: ${error.message}` });
      else done(socketFailure(context.phase, error));
    });
    request.once('response', (response: http.IncomingMessage) => {
      const status = response.statusCode ?? 0;
      const wantBody = check.body !== undefined || check.digest !== undefined;
      if (!wantBody || !statusAccepted(status, check.status)) {
        done(judge(check, status, undefined));
        return;
      }
      context.phase = 'body';
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) done({ ok: false, reason: `HTTP ${status}, body longer than ${MAX_BODY} bytes` });
        else chunks.push(chunk);
      });
      response.once('end', () => done(judge(check, status, Buffer.concat(chunks))));
      response.once('error', (error: NodeJS.ErrnoException) => done(socketFailure('body', error)));
    });
    request.end();
  });
