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
  /** Start times by service id, then by destination id (so that forgetting a service's is O(its drains)). */
  private readonly starts = new Map<string, Map<string, number>>();
  private count = 0;

  /** A clock from its saved state (toJSON()); a TypeError names what is wrong. */
  static from(state: unknown, name = 'state'): DrainClock {
    const o = expectObject(state, name);
    if (o.version !== VERSION) throw new TypeError(`Expected ${name}.version to be ${VERSION} but received ${describe(o.version)}`);
    const starts = expectObject(o.starts, `${name}.starts`);
    const clock = new DrainClock();
    for (const [key, value] of Object.entries(starts)) {
      const bar = key.indexOf('|');
      if (bar <= 0) throw new TypeError(`Expected a service and a destination in the key ${JSON.stringify(key)} of ${name}.starts`);
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
        throw new TypeError(`Expected a time in milliseconds for ${name}.starts[${JSON.stringify(key)}] but received ${describe(value)}`);
      clock.start(key.slice(0, bar), key.slice(bar + 1), value);
    }
    return clock;
  }

  /** The number of drains on the clock. */
  get size(): number {
    return this.count;
  }

  toJSON(): DrainClockState {
    const starts: Record<string, number> = {};
    for (const [service, byDestination] of this.starts) for (const [destination, at] of byDestination) starts[`${service}|${destination}`] = at;
    return { version: VERSION, starts };
  }

  /** @internal When the drain of a destination (by id) of a service (by id) began. */
  since(service: string, destination: string): number | undefined {
    return this.starts.get(service)?.get(destination);
  }

  /** @internal */
  start(service: string, destination: string, at: number): void {
    let byDestination = this.starts.get(service);
    if (byDestination === undefined) this.starts.set(service, (byDestination = new Map()));
    if (!byDestination.has(destination)) this.count++;
    byDestination.set(destination, at);
  }

  /** @internal Forgets the drain of one destination (by id) of a service (by id), if it is on the clock. */
  forgetOne(service: string, destination: string): void {
    const byDestination = this.starts.get(service);
    if (byDestination === undefined || !byDestination.delete(destination)) return;
    this.count--;
    if (byDestination.size === 0) this.starts.delete(service);
  }

  /**
   * @internal Forgets the drains of one service (by id) but those of `keep`
   * (destination ids: those an apply() found still draining).
   */
  forgetService(service: string, keep: ReadonlySet<string> | undefined): void {
    const byDestination = this.starts.get(service);
    if (byDestination === undefined) return;
    for (const destination of byDestination.keys())
      if (keep === undefined || !keep.has(destination)) {
        byDestination.delete(destination);
        this.count--;
      }
    if (byDestination.size === 0) this.starts.delete(service);
  }
}
