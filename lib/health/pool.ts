// What a service's destinations should weigh, from their check states: pure
// logic, no I/O and no timers (the caller passes the time). Per service:
// - a down destination is inhibited (weight 0) or removed (`onFailure`);
// - an up one has its configured weight, or the weight its check reports,
//   reached by steps over `slowStart` after it comes up;
// - quorum with hysteresis (keepalived's): the weights of the up
//   destinations must sum to `quorum`; lost below quorum - hysteresis, held
//   again from quorum + hysteresis. While lost, a sorry server (when given)
//   takes the traffic and every real destination goes to weight 0;
// - a depool threshold (PyBal's): a down destination is depooled only while
//   the pooled destinations keep at least that fraction of the configured
//   weight; otherwise it stays in at its weight and the refusal is reported.

/** Steps of a slow start: few weight changes, each a tenth of the way. */
export const RAMP_STEPS = 10;

export interface SorryServer {
  address: string;
  port: number;
  weight: number;
}

export interface PoolPolicy {
  onFailure: 'inhibit' | 'remove';
  /** Milliseconds over which a recovered destination's weight ramps up; 0: at once. */
  slowStartMs: number;
  /** The sum of up destinations' weights the service needs; 0: no quorum. */
  quorum: number;
  hysteresis: number;
  sorryServer: SorryServer | undefined;
  /** The fraction (0-1) of the configured weight that stays pooled whatever fails; 0: none. */
  depoolThreshold: number;
}

export const DEFAULT_POLICY: PoolPolicy = { onFailure: 'inhibit', slowStartMs: 0, quorum: 0, hysteresis: 0, sorryServer: undefined, depoolThreshold: 0 };

/** A destination of the pool as its checks see it. */
export interface Member {
  /** Its identity in the service ('198.19.1.2 80'). */
  id: string;
  configuredWeight: number;
  up: boolean;
  /** When it last changed state (performance.now() time); -Infinity for a state taken from the kernel at start. */
  since: number;
  /** A weight its check reports, replacing the configured one (never added to it). */
  reportedWeight: number | undefined;
}

export interface PoolDecision {
  /** Every destination's weight (the sorry server's too, by SORRY_ID); null: removed. */
  weights: Map<string, number | null>;
  quorum: boolean;
  /** Whether quorum changed in this evaluation. */
  quorumChanged: boolean;
  /** The weight that the up destinations sum to (what quorum is measured by). */
  alive: number;
  /** Down destinations kept pooled by the depool threshold that were not kept in the previous evaluation. */
  newlyRefused: string[];
  /** When a slow start's next step is due (performance.now() time), or Infinity. */
  nextStepAt: number;
}

/** The key of the sorry server in a decision's weights. */
export const SORRY_ID = 'sorry';

export class Pool {
  private quorumHeld: boolean | undefined = undefined;
  private readonly depooled = new Set<string>();
  private refused = new Set<string>();

  constructor(readonly policy: PoolPolicy) {}

  /** The weight a member serves with at `now` (during a slow start, a step of the way). */
  private servingWeight(m: Member, now: number): { weight: number; nextStepAt: number } {
    const target = m.reportedWeight ?? m.configuredWeight;
    const elapsed = now - m.since;
    const ramp = this.policy.slowStartMs;
    if (ramp === 0 || elapsed >= ramp || target === 0) return { weight: target, nextStepAt: Infinity };
    const step = Math.floor((elapsed / ramp) * RAMP_STEPS) + 1;
    return { weight: Math.max(1, Math.round((target * step) / RAMP_STEPS)), nextStepAt: m.since + (step * ramp) / RAMP_STEPS };
  }

  evaluate(members: readonly Member[], now: number): PoolDecision {
    const policy = this.policy;
    const weights = new Map<string, number | null>();
    const down = policy.onFailure === 'inhibit' ? 0 : null;
    let nextStepAt = Infinity;

    // Depooling, oldest failure first, while the threshold allows.
    const total = members.reduce((sum, m) => sum + m.configuredWeight, 0);
    const floor = policy.depoolThreshold * total;
    for (const m of members) if (m.up) this.depooled.delete(m.id);
    let pooled = members.reduce((sum, m) => sum + (this.depooled.has(m.id) ? 0 : m.configuredWeight), 0);
    const refused = new Set<string>();
    const failing = members.filter((m) => !m.up && !this.depooled.has(m.id)).sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : 1));
    for (const m of failing) {
      if (pooled - m.configuredWeight >= floor - 1e-9) {
        this.depooled.add(m.id);
        pooled -= m.configuredWeight;
      } else refused.add(m.id);
    }
    const newlyRefused = [...refused].filter((id) => !this.refused.has(id));
    this.refused = refused;

    let alive = 0;
    for (const m of members) {
      if (!m.up) continue;
      alive += m.reportedWeight ?? m.configuredWeight;
    }
    const before = this.quorumHeld;
    if (policy.quorum === 0) this.quorumHeld = true;
    else if (this.quorumHeld === undefined) this.quorumHeld = alive >= policy.quorum;
    else if (this.quorumHeld && alive < policy.quorum - policy.hysteresis) this.quorumHeld = false;
    else if (!this.quorumHeld && alive >= policy.quorum + policy.hysteresis) this.quorumHeld = true;
    const sorry = !this.quorumHeld && policy.sorryServer !== undefined;

    for (const m of members) {
      if (this.depooled.has(m.id)) weights.set(m.id, down);
      else if (sorry) weights.set(m.id, 0);
      else if (refused.has(m.id)) weights.set(m.id, m.reportedWeight ?? m.configuredWeight);
      else {
        const serving = this.servingWeight(m, now);
        weights.set(m.id, serving.weight);
        nextStepAt = Math.min(nextStepAt, serving.nextStepAt);
      }
    }
    if (policy.sorryServer !== undefined) weights.set(SORRY_ID, sorry ? policy.sorryServer.weight : down);
    return { weights, quorum: this.quorumHeld, quorumChanged: before !== undefined && before !== this.quorumHeld, alive, newlyRefused, nextStepAt };
  }
}
