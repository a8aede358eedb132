// Orders a handle's calls and packs consecutive changes into few native
// batches, so that N concurrent calls cost a few sendmsg()s, not N round
// trips. Calls take effect in the order they were made: a job (a read, an
// edit's read-modify-write, a batch) runs alone after everything before it,
// and changes made after a job wait for it.
//
// Changes never reject for a kernel refusal: they resolve with the request's
// RawFailure (or undefined when applied), and the public method throws, so
// that the error's stack shows the caller's own frames (async stack traces).
import { setImmediate as nextTurn } from 'timers/promises';
import type { RawFailure, RawHandle, RawRequest } from './addon';

/** undefined: applied; a RawFailure: not (or not known to be) applied; null: not tried (stopped before it). */
export type Outcome = RawFailure | undefined | null;

/**
 * Requests sent per native call. Each slice is turned into JSON text on the
 * main thread (JSON.stringify; the addon only copies the text, and parses and
 * encodes it on a worker thread): this bounds each slice's share of the event
 * loop (about 5 ms for 256 requests in the software-emulated test VM, where
 * 512 took 15-23 ms), and the next slice is stringified while the previous
 * one is on the wire.
 */
export const SLICE = 256;

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
  /** Stop after the first slice with a failure: later requests are not tried (outcome null). */
  stopOnFailure?: boolean;
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

export class RequestQueue {
  private tail: Promise<void> = Promise.resolve();
  /** Changes not yet handed to the addon; new changes join it. */
  private open: OpenBatch | null = null;

  constructor(
    private readonly native: RawHandle,
    /** Every call first waits for the socket to open, and fails with its error. */
    private readonly ready: Promise<void>,
  ) {}

  /** Queues one change; resolves with its outcome (undefined when applied). */
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
      for (let i = start; i < end; i++) outcomes.push(undefined);
      // executeJson copies the text before it returns: the next slice can be
      // stringified at once, while this one is parsed and on the wire.
      const running = this.native.executeJson(text);
      if (end < requests.length) {
        // In a later turn of the loop, so that other work runs in between.
        await nextTurn();
        text = JSON.stringify(requests.slice(end, end + SLICE));
      }
      let failures: RawFailure[];
      try {
        failures = await running;
      } catch (error) {
        // The slice was refused as a whole before anything was sent (e.g. a closed socket).
        const e = error as { errno?: number; message?: string };
        failures = [];
        for (let i = start; i < end; i++) failures.push({ index: i - start, errno: e.errno ?? 5, outcome: 'unsent', message: e.message });
        if (start === 0) throw error;
      }
      let stop = false;
      for (const f of failures) {
        outcomes[start + f.index] = f;
        if (!options.independent && (f.outcome === 'unknown' || f.outcome === 'unsent')) stop = true;
      }
      options.onOutcomes?.(start, end, outcomes);
      options.onProgress?.(end);
      if (stop || (options.stopOnFailure && failures.length > 0)) {
        const cause = failures.find((f) => f.outcome === 'unknown' || f.outcome === 'unsent');
        for (let i = end; i < requests.length; i++)
          outcomes.push(cause ? { index: i, errno: cause.errno, outcome: 'unsent', message: cause.message } : null);
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
