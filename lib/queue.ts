// Orders a handle's calls and packs consecutive changes into one native
// execute(), so that N concurrent calls cost a few sendmsg()s, not N round
// trips. Calls complete in the order they were made: a read waits for every
// change made before it, and changes made after a read wait for it.
import type { RawHandle, RawRequest } from './addon';
import { Failed, fromNative, kernelError } from './errors';

interface PendingChange {
  request: RawRequest;
  failed: Failed;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class RequestQueue {
  private tail: Promise<void> = Promise.resolve();
  /** Changes not yet handed to the addon; new changes join it. */
  private open: PendingChange[] | null = null;

  constructor(
    private readonly native: RawHandle,
    /** Every call first waits for the socket to open, and fails with its error. */
    private readonly ready: Promise<void>,
  ) {}

  /** Queues one change; resolves when the kernel accepted it. */
  change(request: RawRequest, failed: Failed): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.open === null) {
        const batch: PendingChange[] = [];
        this.open = batch;
        this.enqueue(() => {
          if (this.open === batch) this.open = null;
          return this.dispatch(batch);
        });
      }
      this.open.push({ request, failed, resolve, reject });
    });
  }

  /** Queues a read (or any other native call) behind everything before it. */
  read<T>(job: () => Promise<T>): Promise<T> {
    this.open = null;
    return this.enqueue(async () => {
      await this.ready;
      return job();
    });
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async dispatch(batch: PendingChange[]): Promise<void> {
    let failures;
    try {
      await this.ready;
      failures = await this.native.execute(batch.map((c) => c.request));
    } catch (error) {
      for (const c of batch) c.reject(fromNative(error, c.failed));
      return;
    }
    const failed = new Map(failures.map((f) => [f.index, f]));
    batch.forEach((c, index) => {
      const f = failed.get(index);
      if (f === undefined) c.resolve();
      else c.reject(kernelError(f.errno, c.failed, f.kernelMessage));
    });
  }
}
