// What every probe shares: its target, its result, and the hard deadline.
// The deadline covers the whole exchange: it is one timer started with the
// run, never a socket idle timeout (which a server trickling one byte a
// second would reset forever). At the deadline the run's AbortSignal fires
// (each probe destroys its socket or kills its process group on it) and the
// result is a failure naming the phase the exchange was stuck in.
import type { CheckedCheck } from '../spec';

/** Where a check runs: the destination's address and the port the check uses. */
export interface ProbeTarget {
  address: string;
  port: number;
}

export interface ProbeResult {
  /** The destination passed. */
  ok: boolean;
  /** Why, for events and logs: 'HTTP 200', 'HTTP 503', 'connect timeout after 2 s'. */
  reason: string;
  /** A weight the check itself reports (command with dynamicWeight, file), already clamped. */
  weight?: number;
  /**
   * The checker could not run the check at all (no such program, out of file
   * descriptors): this says nothing about the destination, so it counts
   * neither as a success nor as a failure, and is reported as an error.
   */
  cannotRun?: boolean;
}

/** Handed to a probe: abort when the deadline passes, and the phase the exchange is in. */
export interface ProbeContext {
  readonly signal: AbortSignal;
  /** 'connect', 'TLS handshake', 'response', 'body', 'answer', 'exit': named in a timeout's reason. */
  phase: string;
}

export type Probe<C extends CheckedCheck = CheckedCheck> = (check: C, target: ProbeTarget, context: ProbeContext) => Promise<ProbeResult>;

/** A run: its result at the deadline at the latest, and when the probe's own work has finished (its process reaped). */
export interface Run {
  result: Promise<ProbeResult>;
  settled: Promise<void>;
}

/** Error codes that say the checker itself is short of something, not that the destination failed. */
const CHECKER_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS', 'EAGAIN']);

export function isCheckerError(error: unknown): boolean {
  return CHECKER_ERRORS.has((error as NodeJS.ErrnoException | null)?.code ?? '');
}

/** '2 s', '0.5 s'. */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** The abort reason at a deadline: one object, not an exception built per run. */
const DEADLINE = new Error('deadline passed');

/** Runs `probe` under a hard deadline of the check's timeout. */
export function runProbe<C extends CheckedCheck>(probe: Probe<C>, check: C, target: ProbeTarget): Run {
  const controller = new AbortController();
  const context: ProbeContext = { signal: controller.signal, phase: 'connect' };
  let work: Promise<ProbeResult>;
  try {
    work = probe(check, target, context);
  } catch (error) {
    work = Promise.reject(error);
  }
  const guarded = work.then(
    (result) => result,
    (error: unknown): ProbeResult => ({ ok: false, cannotRun: true, reason: `checker failed: ${(error as Error)?.message ?? String(error)}` }),
  );
  const result = new Promise<ProbeResult>((resolve) => {
    const timer = setTimeout(() => {
      resolve({ ok: false, reason: `${context.phase} timeout after ${seconds(check.timeoutMs)}` });
      controller.abort(DEADLINE);
    }, check.timeoutMs);
    // A probe that answers closes what it opened itself: no abort then (abort() builds an exception each time).
    void guarded.then((r) => {
      clearTimeout(timer);
      resolve(r);
    });
  });
  return { result, settled: guarded.then(() => undefined) };
}
