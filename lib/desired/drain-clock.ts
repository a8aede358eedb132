// When each draining destination's drain began (see ApplyOptions.drain). The
// drain itself lives in the kernel (a weight-0 destination the desired state
// lacks); only its start time needs keeping, and only by whoever wants a
// drain timeout honoured across processes (the `ipvs apply` command keeps one
// in a state file). Keys are opaque: a service's identity and a destination's.
import { describe, expectObject } from '../validate';

const VERSION = 1;

/** The JSON form of a DrainClock (what toJSON() gives and from() takes). */
export interface DrainClockState {
  version: 1;
  /** Drain start times in milliseconds since the epoch, by destination. */
  starts: Record<string, number>;
}

export class DrainClock {
  private readonly starts = new Map<string, number>();

  /** A clock from its saved state (toJSON()); a TypeError names what is wrong. */
  static from(state: unknown, name = 'state'): DrainClock {
    const o = expectObject(state, name);
    if (o.version !== VERSION) throw new TypeError(`Expected ${name}.version to be ${VERSION} but received ${describe(o.version)}`);
    const starts = expectObject(o.starts, `${name}.starts`);
    const clock = new DrainClock();
    for (const [key, value] of Object.entries(starts)) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
        throw new TypeError(`Expected a time in milliseconds for ${name}.starts[${JSON.stringify(key)}] but received ${describe(value)}`);
      clock.starts.set(key, value);
    }
    return clock;
  }

  /** The number of drains on the clock. */
  get size(): number {
    return this.starts.size;
  }

  toJSON(): DrainClockState {
    return { version: VERSION, starts: Object.fromEntries(this.starts) };
  }

  /** @internal The key of a destination of a service (their identities, see convert.ts). */
  static key(serviceId: string, destinationId: string): string {
    return `${serviceId}|${destinationId}`;
  }

  /** @internal */
  since(key: string): number | undefined {
    return this.starts.get(key);
  }

  /** @internal */
  start(key: string, at: number): void {
    this.starts.set(key, at);
  }

  /**
   * @internal Forgets the drains of the services `covered` says yes to that
   * are not in `still` (the ones an apply() found draining).
   */
  forget(covered: (serviceId: string) => boolean, still: ReadonlySet<string>): void {
    for (const key of this.starts.keys()) {
      if (still.has(key)) continue;
      if (covered(key.slice(0, key.indexOf('|')))) this.starts.delete(key);
    }
  }
}
