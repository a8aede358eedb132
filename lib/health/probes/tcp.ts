// TCP connect: up when the three-way handshake completes; the connection is
// then reset (RST, as HAProxy's checks close theirs): a normal close would
// leave a TIME_WAIT socket on the director per check (10,000 checks a second
// hold 600,000 of them for a minute) and costs a FIN exchange; a reset costs
// neither, and the backend sees an accepted connection that went away, as
// with any client that dies. Node's socket defaults are the right ones here
// (no keep-alive, no half-open): setting them again would only cost a
// setsockopt() per run.
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

/** The one result of every passing run: nothing in it changes from run to run. */
const CONNECTED: ProbeResult = Object.freeze({ ok: true, reason: 'connected' });

export const tcpProbe: Probe<TcpCheck> = (_check, target, context) =>
  new Promise((resolve) => {
    const socket = net.connect({ host: target.address, port: target.port });
    const done = (result: ProbeResult, connected = false) => {
      context.cancel = undefined;
      if (connected) socket.resetAndDestroy();
      else socket.destroy();
      resolve(result);
    };
    context.cancel = () => done({ ok: false, reason: 'aborted' });
    socket.on('connect', () => done(CONNECTED, true));
    socket.on('error', (error: NodeJS.ErrnoException) => done(socketFailure('connect', error)));
  });
