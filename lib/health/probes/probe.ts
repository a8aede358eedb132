// What every probe shares: its target, its result, and the hard deadline.
// The deadline covers the whole exchange: it is one timer started with the
// run, never a socket idle timeout (which a server trickling one byte a
// second would reset forever). At the deadline the run's result is a failure
// naming the phase the exchange was stuck in, and the probe's cancel() closes
// its socket or kills its process group.
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

/** Handed to a probe: what to close at the deadline, and the phase the exchange is in. */
export interface ProbeContext {
  /**
   * Set by the probe: closes what the run opened (destroys its socket, kills
   * its process group) and makes the probe's promise settle. Called once, at
   * the deadline, and only if the probe has not answered by then.
   */
  cancel: (() => void) | undefined;
  /** 'connect', 'TLS handshake', 'response', 'body', 'answer', 'exit': named in a timeout's reason. */
  phase: string;
}

export type Probe<C extends CheckedCheck = CheckedCheck> = (check: C, target: ProbeTarget, context: ProbeContext) => Promise<ProbeResult>;

/** A run: its result at the deadline at the latest, and when the probe's own work has finished (its process reaped). */
export interface Run {
  result: Promise<ProbeResult>;
  settled: Promise<void>;
  /** Ends the run now (its check was removed, the monitor stopped): its result is 'aborted'. Native runs only. */
  cancel?(): void;
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

/**
 * Runs `probe` under a hard deadline of the check's timeout. One timer and
 * three promises per run (the probe's, the result, settled), and a plain
 * cancel callback instead of an AbortController: its signal and listeners
 * were about 5 % of the checker's CPU in a profile of the scale bench.
 */
export function runProbe<C extends CheckedCheck>(probe: Probe<C>, check: C, target: ProbeTarget): Run {
  const context: ProbeContext = { cancel: undefined, phase: 'connect' };
  let work: Promise<ProbeResult>;
  try {
    work = probe(check, target, context);
  } catch (error) {
    work = Promise.reject(error);
  }
  let answer!: (result: ProbeResult) => void;
  const result = new Promise<ProbeResult>((resolve) => (answer = resolve));
  const timer = setTimeout(() => {
    answer({ ok: false, reason: `${context.phase} timeout after ${seconds(check.timeoutMs)}` });
    context.cancel?.();
  }, check.timeoutMs);
  const settled = work.then(
    (r) => {
      clearTimeout(timer);
      answer(r);
    },
    (error: unknown) => {
      clearTimeout(timer);
      answer({ ok: false, cannotRun: true, reason: `checker failed: ${(error as Error)?.message ?? String(error)}` });
    },
  );
  return { result, settled };
}
