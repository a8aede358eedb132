// Health checking as Prometheus metrics (prom-client), in a registry the
// exporter can merge or serve: each destination's state, transitions,
// check durations, checks that could not run, depool refusals, quorum, and
// the scheduler's own timing (how late runs start, periods skipped).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SchedulerStats } from './scheduler';

export const CHECK_LABELS = ['service', 'destination', 'check'] as const;

/** Check durations: a loopback connect is well under a millisecond, a timeout several seconds. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class HealthMetrics {
  readonly up: Gauge;
  readonly transitions: Counter;
  readonly duration: Histogram;
  readonly errors: Counter;
  readonly refusals: Counter;
  readonly quorum: Gauge;
  readonly weightChanges: Counter;
  readonly sinkFailures: Counter;
  private schedulerStats: SchedulerStats | undefined;

  /** `registry`: where the metrics go (the exporter's, or a new one of their own). */
  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.up = new Gauge({ name: 'ipvs_health_destination_up', help: 'Whether the destination passes its check (1) or not (0), after rise and fall', labelNames: CHECK_LABELS, registers });
    this.transitions = new Counter({ name: 'ipvs_health_transitions_total', help: 'Changes of a destination\'s health state, by the state entered', labelNames: [...CHECK_LABELS, 'to'], registers });
    this.duration = new Histogram({ name: 'ipvs_health_check_duration_seconds', help: 'Duration of check runs, by check type and result', labelNames: ['check', 'result'], buckets: DURATION_BUCKETS, registers });
    this.errors = new Counter({ name: 'ipvs_health_check_errors_total', help: 'Check runs the checker could not make (counted neither up nor down)', labelNames: ['check'], registers });
    this.refusals = new Counter({ name: 'ipvs_health_depool_refusals_total', help: 'Down destinations kept pooled because depooling them would cross the depool threshold', labelNames: ['service'], registers });
    this.quorum = new Gauge({ name: 'ipvs_health_quorum', help: 'Whether the service holds its quorum (1) or not (0)', labelNames: ['service'], registers });
    this.weightChanges = new Counter({ name: 'ipvs_health_weight_changes_total', help: 'Destination weight changes handed to the sink', registers });
    this.sinkFailures = new Counter({ name: 'ipvs_health_sink_failures_total', help: 'Batches of weight changes the sink refused (retried with the next batch)', registers });
    const stats = () => this.schedulerStats;
    new Gauge({
      name: 'ipvs_health_scheduler_max_lag_seconds', help: 'The latest a check run started after its due time', registers,
      collect() { this.set((stats()?.maxLagMs ?? 0) / 1000); },
    });
    new Counter({
      name: 'ipvs_health_scheduler_runs_total', help: 'Check runs started', registers,
      collect() { this.reset(); this.inc(stats()?.runs ?? 0); },
    });
    new Counter({
      name: 'ipvs_health_scheduler_skipped_periods_total', help: 'Check periods skipped because the previous run or the queue ran past them', registers,
      collect() { this.reset(); this.inc(stats()?.skipped ?? 0); },
    });
  }

  /** The scheduler whose stats the scheduler metrics read at each scrape. */
  watch(stats: SchedulerStats): void {
    this.schedulerStats = stats;
  }
}
