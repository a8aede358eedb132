// Health checking: checks that run against destinations, the states they
// give, and the weights that follow; weight changes go to a sink (the
// reconciler) in batches. Nothing here touches the kernel.
export { toCheck, CHECK_TYPES, MAX_REPORTED_WEIGHT } from './spec';
export type { CheckSpec, CheckType, CheckedCheck, TcpCheck, HttpCheck, UdpCheck, DnsCheck, CommandCheck, FileCheck } from './spec';
export { splitHealth, toPolicy } from './document';
export type { HealthService, HealthDestination } from './document';
export { Pool, DEFAULT_POLICY, SORRY_ID, RAMP_STEPS } from './pool';
export type { PoolPolicy, PoolDecision, Member, SorryServer } from './pool';
export { CheckState } from './state';
export { Scheduler } from './scheduler';
export type { SchedulerStats } from './scheduler';
export { HealthMetrics } from './metrics';
export { HealthMonitor, checkTarget } from './monitor';
export type { WeightChange, WeightSink, InitialTable, HealthMonitorOptions, HealthEvent, QuorumEvent, DestinationStatus } from './monitor';
export { startRun } from './probes';
export type { ProbeResult, ProbeTarget, Run } from './probes';
export { serviceIdOf, toNotify } from './document';
export type { HealthNotify } from './document';
export { overrideSink, initialOverrides, withSorryServers } from './sink';
export type { OverrideTarget, OverrideChange } from './sink';
export { runNotify, NOTIFY_TIMEOUT_MS } from './notify';
export type { NotifyOutcome } from './notify';
export { HealthKeeper } from './keeper';
export type { HealthKeeperOptions, NotifyEvent } from './keeper';
