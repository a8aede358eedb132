// TCP connect: up when the three-way handshake completes; the connection is
// closed at once (no data sent).
import * as net from 'net';
import type { CheckedCheck } from '../spec';
import { isCheckerError, Probe, ProbeResult } from './probe';

type TcpCheck = Extract<CheckedCheck, { type: 'tcp' }>;

/** 'connect refused', 'connect failed: EHOSTUNREACH': a socket error in words. */
export function socketFailure(phase: string, error: NodeJS.ErrnoException): ProbeResult {
  if (isCheckerError(error)) return { ok: false, cannotRun: true, reason: `cannot open a socket: ${error.code}` };
  if (error.code === 'ECONNREFUSED') return { ok: false, reason: `${phase} refused` };
  if (error.code === 'ECONNRESET') return { ok: false, reason: `${phase}: connection reset` };
  return { ok: false, reason: `${phase} failed: ${error.code ?? error.message}` };
}

export const tcpProbe: Probe<TcpCheck> = (_check, target, context) =>
  new Promise((resolve) => {
    const socket = net.connect({ host: target.address, port: target.port });
    const done = (result: ProbeResult) => {
      context.signal.removeEventListener('abort', abort);
      socket.destroy();
      resolve(result);
    };
    const abort = () => done({ ok: false, reason: 'aborted' });
    context.signal.addEventListener('abort', abort);
    socket.once('connect', () => done({ ok: true, reason: 'connected' }));
    socket.once('error', (error: NodeJS.ErrnoException) => done(socketFailure('connect', error)));
  });
