// TCP connect checks run on the native probe engine (native.ts): up when the
// three-way handshake completes; the connection is then reset (RST, as
// HAProxy's checks close theirs): a normal close would leave a TIME_WAIT
// socket on the director per check (10,000 checks a second hold 600,000 of
// them for a minute) and costs a FIN exchange; a reset costs neither, and the
// backend sees an accepted connection that went away, as with any client that
// dies. What is here is what the engine's results and the HTTP probe share:
// the words for a socket's failure, and the passing result.
import { isCheckerError, ProbeResult } from './probe';

/** 'connect refused', 'connect failed: EHOSTUNREACH': a socket error in words. */
export function socketFailure(phase: string, error: NodeJS.ErrnoException): ProbeResult {
  if (isCheckerError(error)) return { ok: false, cannotRun: true, reason: `cannot open a socket: ${error.code}` };
  if (error.code === 'ECONNREFUSED') return { ok: false, reason: `${phase} refused` };
  if (error.code === 'ECONNRESET') return { ok: false, reason: `${phase}: connection reset` };
  return { ok: false, reason: `${phase} failed: ${error.code ?? error.message}` };
}

/** The one result of every passing TCP run: nothing in it changes from run to run. */
export const CONNECTED: ProbeResult = Object.freeze({ ok: true, reason: 'connected' });
