// Orders a handle's calls and packs consecutive changes into few native
// batches, so that N concurrent calls cost a few sendmsg()s, not N round
// trips. Calls take effect in the order they were made: a job (a read, an
// edit's read-modify-write, a batch) runs alone after everything before it,
// and changes made after a job wait for it.
//
// Changes never reject for a kernel refusal: they resolve with the request's
// RawFailure (or APPLIED), and the public method throws, so
// that the error's stack shows the caller's own frames (async stack traces).
import { setImmediate as nextTurn } from 'timers/promises';
import type { RawFailure, RawHandle, RawRequest } from './addon';

/** A request that took effect. */
export const APPLIED = Object.freeze({ outcome: 'applied' as const });
/** A request not tried: a send stopped on a failure before it (see SendOptions.stopOnFailure). */
export const NOT_TRIED = Object.freeze({ outcome: 'notTried' as const });

/**
 * What became of one request, tagged by `outcome`: applied, not tried, or a
 * RawFailure (refused, unknown, unsent, invalid). The two without detail are
 * shared objects: a 220,000-request send makes no object per success.
 */
export type Outcome = typeof APPLIED | typeof NOT_TRIED | RawFailure;

/** Whether an outcome is a failure (neither applied nor left untried). */
export function isFailure(outcome: Outcome): outcome is RawFailure {
  return outcome.outcome !== 'applied' && outcome.outcome !== 'notTried';
}

/**
 * Requests sent per native call. Each slice is turned into JSON text on the
 * main thread (JSON.stringify; the addon only copies the text, and parses and
 * encodes it on a worker thread): this bounds each slice's share of the event
 * loop (bench/ measures it), and the next slice is stringified while the
 * previous one is on the wire. 256 took 3-7 ms of a turn under emulation
 * (profiled in a churn at 20,000 x 10); 64 take a quarter of that, and
 * creating 220,000 objects took the same time with either.
 */
export const SLICE = 64;

/** Consecutive changes not yet handed to the addon. */
interface OpenBatch {
  requests: RawRequest[];
  settle: Array<(outcome: Outcome) => void>;
  reject: Array<(error: unknown) => void>;
}

/**
 * What send() sends: an array, or anything that makes a slice of requests on
 * demand (so that a 220,000-change batch never holds all its request objects
 * at once: they would all survive young-generation GCs, whose pauses grow
 * with what survives).
 */
export interface Requests {
  readonly length: number;
  slice(start: number, end: number): RawRequest[];
}

export interface SendOptions {
  /**
   * Stop after the first slice holding a failure for which this returns true
   * (`index`: the request's place in the whole send): later requests are not
   * tried (NOT_TRIED).
   */
  stopOn?: (failure: RawFailure, index: number) => boolean;
  /**
   * The requests do not depend on one another (separate callers' changes,
   * packed together): a lost answer or a slice refused whole stops nothing,
   * and every slice is tried. Otherwise (a plan, where later operations may
   * build on earlier ones) such a failure makes every later request 'unsent'.
   */
  independent?: boolean;
  /** Called after each slice with the number of requests done. */
  onProgress?: (done: number) => void;
  /** Called as outcomes become known, for requests start..end-1. */
  onOutcomes?: (start: number, end: number, outcomes: Outcome[]) => void;
}

/** A promise's value or its rejection, as a value (observed at once, never unhandled). */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

export class RequestQueue {
  private tail: Promise<void> = Promise.resolve();
  /** Changes not yet handed to the addon; new changes join it. */
  private open: OpenBatch | null = null;

  constructor(
    private readonly native: RawHandle,
    /** Every call first waits for the socket to open, and fails with its error. */
    private readonly ready: Promise<void>,
  ) {}

  /** Queues one change; resolves with its outcome. */
  change(request: RawRequest): Promise<Outcome> {
    return new Promise<Outcome>((settle, reject) => {
      if (this.open === null) {
        const batch: OpenBatch = { requests: [], settle: [], reject: [] };
        this.open = batch;
        this.enqueue(async () => {
          if (this.open === batch) this.open = null;
          let settled = 0;
          try {
            // Each slice's callers hear back as soon as it is done.
            await this.send(batch.requests, {
              independent: true,
              onOutcomes: (start, end, outcomes) => {
                for (let i = start; i < end; i++) batch.settle[i](outcomes[i]);
                settled = end;
              },
            });
          } catch (error) {
            for (let i = settled; i < batch.reject.length; i++) batch.reject[i](error);
          }
        });
      }
      this.open.requests.push(request);
      this.open.settle.push(settle);
      this.open.reject.push(reject);
    });
  }

  /** Runs `job` alone, after every call made before it. */
  job<T>(job: () => Promise<T>): Promise<T> {
    this.open = null;
    return this.enqueue(async () => {
      await this.ready;
      return job();
    });
  }

  /** Settles when every call made so far has settled. */
  settled(): Promise<void> {
    this.open = null;
    return this.tail;
  }

  /**
   * Sends requests now, in slices; for use inside a job (or by the batch of
   * queued changes). Outcomes are in request order. A socket failure or a lost
   * answer makes the requests of later slices 'unsent', unless they are
   * `independent`.
   */
  async send(requests: Requests, options: SendOptions = {}): Promise<Outcome[]> {
    await this.ready;
    // Filled a slice at a time (one fill of 220,000 holds the event loop).
    const outcomes: Outcome[] = [];
    let text = JSON.stringify(requests.slice(0, SLICE));
    for (let start = 0; start < requests.length; start += SLICE) {
      const end = Math.min(start + SLICE, requests.length);
      for (let i = start; i < end; i++) outcomes.push(APPLIED);
      // executeJson copies the text before it returns: the next slice can be
      // stringified at once, while this one is parsed and on the wire. Its
      // rejection is taken at once (settled), so that a slice refused while
      // the next one is being made is never an unhandled rejection.
      const running = settle(this.native.executeJson(text));
      if (end < requests.length) {
        // In a later turn of the loop, so that other work runs in between.
        await nextTurn();
        text = JSON.stringify(requests.slice(end, end + SLICE));
      }
      const answer = await running;
      let failures: RawFailure[];
      if (answer.ok) failures = answer.value;
      else {
        // The slice was refused as a whole before anything was sent (e.g. a
        // closed socket that cannot be reopened): nothing of it is applied.
        if (start === 0) throw answer.error;
        const e = answer.error as { errno?: number; message?: string };
        failures = [];
        for (let i = start; i < end; i++) failures.push({ index: i - start, errno: e.errno ?? 5, outcome: 'unsent', message: e.message });
      }
      let lost = false;
      let stop = false;
      for (const f of failures) {
        outcomes[start + f.index] = f;
        if (!options.independent && (f.outcome === 'unknown' || f.outcome === 'unsent')) lost = true;
        if (options.stopOn?.(f, start + f.index)) stop = true;
      }
      options.onOutcomes?.(start, end, outcomes);
      options.onProgress?.(end);
      if (lost || stop) {
        const cause = failures.find((f) => f.outcome === 'unknown' || f.outcome === 'unsent');
        for (let i = end; i < requests.length; i++)
          outcomes.push(cause ? { index: i, errno: cause.errno, outcome: 'unsent', message: cause.message } : NOT_TRIED);
        options.onOutcomes?.(end, requests.length, outcomes);
        break;
      }
    }
    return outcomes;
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}
