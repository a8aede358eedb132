// The fleet: directors that keep one desired state, stored in etcd. The agent
// (one per director) follows the store; layout.ts says where things live.
export { FleetAgent, countDeletes } from './agent';
export type { FleetAgentOptions, AgentStatus, AgentError, HeldUpdate } from './agent';
export { EtcdClient, EtcdError } from './etcd';
export type { KeyValue, WatchEvent, WatchEnd, TxnCompare, TxnOperation } from './etcd';
export { layout, DEFAULT_PREFIX, checkDirector, checkStoredService, parseStored, serviceName, effectiveState } from './layout';
export type { Layout, StoredService } from './layout';
export { readState, writeState } from './state-file';
export type { SavedState } from './state-file';
export { putDesired } from './put';
export type { PutResult } from './put';
export { fleetMetrics } from './metrics';
