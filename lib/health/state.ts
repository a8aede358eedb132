// Rise and fall: a destination goes down after `fall` consecutive failures
// and comes up after `rise` consecutive successes; one result of the other
// kind starts the count again. The starting state comes from the kernel (see
// monitor.ts), so a restart never flaps a live destination.
import type { ProbeResult } from './probes';

export type Transition = 'up' | 'down' | null;

export class CheckState {
  /** Consecutive successes while down, or failures while up. */
  private count = 0;
  /** The last result's reason ('' before the first run). */
  reason = '';
  /** The weight the check last reported (command with dynamicWeight, file), if any. */
  reportedWeight: number | undefined = undefined;
  /** When the state last changed (performance.now()), or when it was made. */
  since: number;

  constructor(
    private readonly rise: number,
    private readonly fall: number,
    /** Whether the destination counts as up before any result. */
    public up: boolean,
    now: number,
  ) {
    this.since = now;
  }

  /** Counts one result (never one the checker could not run); says when the state changes. */
  record(result: ProbeResult, now: number): Transition {
    this.reason = result.reason;
    if (result.ok) this.reportedWeight = result.weight;
    if (result.ok === this.up) {
      this.count = 0;
      return null;
    }
    this.count++;
    if (this.count < (this.up ? this.fall : this.rise)) return null;
    this.count = 0;
    this.up = result.ok;
    this.since = now;
    return this.up ? 'up' : 'down';
  }

  /** Whether the last failure left the destination up but counting towards `fall` (a retry is due sooner). */
  get failing(): boolean {
    return this.up && this.count > 0;
  }
}
