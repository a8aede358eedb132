// An agent's status as Prometheus metrics (text exposition format 0.0.4):
// what `ipvs agent --metrics-port` serves at /metrics. Plain text from the
// status: the agent has a dozen numbers, no need for a registry.
import type { AgentStatus } from './agent';

const METRICS: Array<[name: string, type: 'gauge' | 'counter', help: string, value: (s: AgentStatus) => number]> = [
  ['ipvs_fleet_applied_revision', 'gauge', 'The store revision whose desired state the table holds.', (s) => s.appliedRevision],
  ['ipvs_fleet_store_revision', 'gauge', 'The latest store revision the agent has seen.', (s) => s.storeRevision],
  ['ipvs_fleet_lag_revisions', 'gauge', 'Store revisions seen but not applied (held, or being applied).', (s) => Math.max(0, s.storeRevision - s.appliedRevision)],
  ['ipvs_fleet_store_up', 'gauge', '1: the last call to the store worked.', (s) => (s.store === 'connected' ? 1 : 0)],
  ['ipvs_fleet_update_held', 'gauge', '1: an update is held for removing more than the limit.', (s) => (s.held === null ? 0 : 1)],
  ['ipvs_fleet_held_updates_total', 'counter', 'Updates held for removing more than the limit.', (s) => s.heldUpdates],
  ['ipvs_fleet_watch_restarts_total', 'counter', 'Watches of the store lost and restarted.', (s) => s.watchRestarts],
  ['ipvs_fleet_full_reads_total', 'counter', 'Full reads of the store.', (s) => s.fullReads],
  ['ipvs_fleet_services', 'gauge', 'Owned services in the applied desired state.', (s) => s.services],
  ['ipvs_fleet_sends_total', 'counter', 'Sends to the kernel.', (s) => s.counters.sends],
  ['ipvs_fleet_operations_total', 'counter', 'Operations sent to the kernel.', (s) => s.counters.operations],
  ['ipvs_fleet_verifies_total', 'counter', 'Verifies of the table.', (s) => s.counters.verifies],
  ['ipvs_fleet_drifts_total', 'counter', 'Differences found by verifies (and repaired).', (s) => s.counters.drifts],
];

/** The metrics of `status`, labelled with its director. */
export function fleetMetrics(status: AgentStatus): string {
  const label = `{director="${status.director.replace(/["\\]/g, '\\$&')}"}`;
  return METRICS.map(([name, type, help, value]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${label} ${value(status)}\n`).join('');
}
