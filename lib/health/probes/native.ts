// TCP checks and plain HTTP checks (no `body`, no `digest`) on the native
// probe engine (native/probe_engine.cc): one thread with an epoll loop does
// the connect, the request and the reading of the response head; this side
// makes one call per run and gets results in batches, then words them
// exactly as tcp.ts, http.ts and http-response.ts do. At 10,000 checks a
// second, Node's socket machinery (a handle, a stream, events and promises
// per connection) was most of the checker's CPU and held the rate below the
// checks' period; HTTPS and the checks that read a body stay on those probes.
//
// The engine keeps the hard deadline itself (one timer for the whole
// exchange, as probe.ts: a server trickling its answer is cut off at the
// timeout) and closes a connected socket with a reset, as tcp.ts does.
import { addon, RawProbeEngine } from '../../addon';
import { errnoName } from '../../errors';
import type { CheckedCheck } from '../spec';
import { requestText, statusAccepted, statusResult } from './http';
import { MAX_HEAD, notHttp } from './http-response';
import { ProbeResult, ProbeTarget, Run, seconds } from './probe';
import { CONNECTED, socketFailure } from './tcp';

type TcpCheck = Extract<CheckedCheck, { type: 'tcp' }>;
type HttpCheck = Extract<CheckedCheck, { type: 'http' | 'https' }>;
export type NativeCheck = TcpCheck | HttpCheck;

/** How a run ended: the numbers of native/probe_engine.cc's Outcome. */
const enum Outcome {
  /** The handshake completed (tcp). */
  Connected = 0,
  /** The head was read; value: the status. */
  Status = 1,
  /** value: the errno of socket(), connect, send or recv. */
  SocketError = 2,
  Timeout = 3,
  /** The server closed before the end of the head. */
  ClosedEarly = 4,
  /** detail: the start of what came. */
  NotHttp = 5,
  HeadTooLong = 6,
  /** value: the status; detail: the Content-Length value. */
  BadLength = 7,
}

/** native/probe_engine.cc's Phase, by number. */
const PHASES = ['connect', 'response'];

const ABORTED: ProbeResult = Object.freeze({ ok: false, reason: 'aborted' });

/** One run on the engine: its result comes in a batch; nothing outlives it (the engine closed the socket before). */
class NativeRun implements Run {
  readonly result: Promise<ProbeResult>;
  readonly settled: Promise<void>;
  resolve!: (result: ProbeResult) => void;

  constructor(
    private readonly probes: NativeProbes,
    readonly id: number,
    readonly check: NativeCheck,
  ) {
    this.result = new Promise<ProbeResult>((resolve) => (this.resolve = resolve));
    this.settled = this.result.then(() => undefined);
  }

  cancel(): void {
    this.probes.cancel(this);
  }
}

export class NativeProbes {
  private readonly engine: RawProbeEngine;
  private readonly runs = new Map<number, NativeRun>();
  private nextId = 0;

  constructor() {
    this.engine = new addon.ProbeEngine((results, details) => this.deliver(results, details));
  }

  /** Runs going now. */
  get active(): number {
    return this.runs.size;
  }

  /** A TCP check, or a plain HTTP one (startRun() sends HTTPS and checks with a body to read elsewhere). */
  start(check: NativeCheck, target: ProbeTarget): Run {
    const id = this.nextId;
    this.nextId = (id + 1) >>> 0;
    const run = new NativeRun(this, id, check);
    try {
      if (check.type === 'tcp') this.engine.start(id, 'tcp', target.address, target.port, check.timeoutMs);
      else this.engine.start(id, 'http', target.address, target.port, check.timeoutMs, requestText(check, target));
    } catch (error) {
      // As runProbe() words a probe that throws: the checker could not run it (said, never silent).
      run.resolve({ ok: false, cannotRun: true, reason: `checker failed: ${(error as Error).message}` });
      return run;
    }
    this.runs.set(id, run);
    return run;
  }

  /** Closes the run's socket now; its result is 'aborted'. */
  cancel(run: NativeRun): void {
    if (!this.runs.delete(run.id)) return;
    this.engine.cancel(run.id);
    run.resolve(ABORTED);
  }

  /** Closes every socket and ends the engine's thread; runs going now are 'aborted'. */
  stop(): void {
    this.engine.stop();
    for (const run of this.runs.values()) run.resolve(ABORTED);
    this.runs.clear();
  }

  private deliver(results: Uint32Array, details: Array<string | undefined> | undefined): void {
    for (let i = 0; i < results.length; i += 4) {
      const run = this.runs.get(results[i]);
      if (run === undefined) continue;
      this.runs.delete(run.id);
      run.resolve(resultOf(run.check, results[i + 1], results[i + 2], results[i + 3], details?.[i / 4] ?? ''));
    }
  }
}

/** A result in the words the JavaScript probes use. */
function resultOf(check: NativeCheck, outcome: Outcome, phase: number, value: number, detail: string): ProbeResult {
  switch (outcome) {
    case Outcome.Connected:
      return CONNECTED;
    case Outcome.Status:
      return statusResult(statusAccepted(value, (check as HttpCheck).status), value);
    case Outcome.SocketError:
      return socketFailure(PHASES[phase], { name: 'Error', message: '', code: errnoName(value) });
    case Outcome.Timeout:
      return { ok: false, reason: `${PHASES[phase]} timeout after ${seconds(check.timeoutMs)}` };
    case Outcome.ClosedEarly:
      return { ok: false, reason: 'response: connection closed early' };
    case Outcome.NotHttp:
      return { ok: false, reason: notHttp(detail) };
    case Outcome.HeadTooLong:
      return { ok: false, reason: `response head longer than ${MAX_HEAD} bytes` };
    case Outcome.BadLength:
      return { ok: false, reason: `HTTP ${value}, bad Content-Length ${JSON.stringify(detail)}` };
  }
  throw new Error(`the probe engine sent an unknown outcome ${outcome as number}`);
}

let shared: NativeProbes | undefined;

/** The engine every native run of this process (or worker) uses, started at its first run. */
export function nativeProbes(): NativeProbes {
  return (shared ??= new NativeProbes());
}
