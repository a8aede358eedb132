// The public entry point: the handle API, the enums, the error class, and the
// same operations at top level on a shared default handle.
import { createHandle, IpvsHandle } from './ipvs-handle';

export { open, IpvsHandle } from './ipvs-handle';
export type { OpenOptions } from './ipvs-handle';
export { SERVICES_BATCH } from './handle';
export { Scheduler, ForwardingMethod, Protocol, Family, TunnelType, DEFAULT_PERSISTENCE_TIMEOUT } from './constants';
export type { TunnelChecksum } from './constants';
export { IpvsError, IPVS_UNAVAILABLE, HANDLE_CLOSED, OUTCOME_UNKNOWN, NOT_SENT, TOO_MANY_DELETES } from './errors';
export type { IpvsErrorDetails } from './errors';
export { formatIpvsadmList } from './rules/format';
export type { ListOptions, Names } from './rules/format';
export { parseConnections } from './connections';
export type { Connection } from './connections';
export { KernelFeatures } from './features';
export { jsonReplacer } from './listing';
export { canonicalAddress } from './address';
export type { ApplyOptions, ApplyResult, BatchOptions, BatchResult, ChangeCounts, ChangeResult, ChangeStatus, Operation, PrunedService } from './desired/operations';
export { DrainClock } from './desired/drain-clock';
export { Reconciler } from './desired/reconciler';
export type { ReconcilerOptions, ReconcileResult, Drift, VerifyResult, ReconcilerCounters, Override } from './desired/reconciler';
export type { DrainClockState } from './desired/drain-clock';
export * from './types';

let defaultHandle: IpvsHandle | null = null;

/** The shared handle the top-level functions use, opened on first use. */
export function getDefaultHandle(): IpvsHandle {
  if (defaultHandle === null) {
    const handle = createHandle();
    defaultHandle = handle;
    // A failed open is not kept: the next call tries again (e.g. after modprobe ip_vs).
    handle.ready.catch(() => {
      if (defaultHandle === handle) defaultHandle = null;
    });
  }
  return defaultHandle;
}

/** Closes the shared handle, if one was opened. Always resolves. */
export async function closeDefaultHandle(): Promise<void> {
  const handle = defaultHandle;
  defaultHandle = null;
  if (handle) await handle.close();
}

// Every IpvsHandle operation at top level, on the default handle: one
// definition serves both (a unit test checks that none is missing).
type Method = Exclude<keyof IpvsHandle, 'close' | 'features' | 'ready' | 'netns' | 'reconciler'>;
function onDefault<K extends Method>(name: K): IpvsHandle[K] {
  return ((...args: unknown[]) => (getDefaultHandle()[name] as (...a: unknown[]) => unknown)(...args)) as IpvsHandle[K];
}

/** See IpvsHandle.info. */
export const info = onDefault('info');
/** Adds a virtual service (ipvsadm -A). See IpvsHandle.addService. */
export const addService = onDefault('addService');
/** Changes a service, keeping settings not given (ipvsadm -E). See IpvsHandle.editService. */
export const editService = onDefault('editService');
/** Deletes a virtual service (ipvsadm -D). See IpvsHandle.deleteService. */
export const deleteService = onDefault('deleteService');
/** One service with its destinations. See IpvsHandle.getService. */
export const getService = onDefault('getService');
/** Every service with its destinations and stats. See IpvsHandle.list. */
export const list = onDefault('list');
/** Every service with its destinations, in batches. See IpvsHandle.services. */
export const services = onDefault('services');
/** Every service without destinations. See IpvsHandle.listServices. */
export const listServices = onDefault('listServices');
/** Adds a real server (ipvsadm -a). See IpvsHandle.addDestination. */
export const addDestination = onDefault('addDestination');
/** Changes a real server, keeping settings not given (ipvsadm -e). See IpvsHandle.editDestination. */
export const editDestination = onDefault('editDestination');
/** Removes a real server (ipvsadm -d). See IpvsHandle.deleteDestination. */
export const deleteDestination = onDefault('deleteDestination');
/** A service's real servers. See IpvsHandle.listDestinations. */
export const listDestinations = onDefault('listDestinations');
/** Removes every service (ipvsadm -C). See IpvsHandle.flush. */
export const flush = onDefault('flush');
/** Zeroes all counters, or one service's (ipvsadm -Z). See IpvsHandle.zero. */
export const zero = onDefault('zero');
/** See IpvsHandle.getTimeouts. */
export const getTimeouts = onDefault('getTimeouts');
/** See IpvsHandle.setTimeouts. */
export const setTimeouts = onDefault('setTimeouts');
/** See IpvsHandle.startDaemon. */
export const startDaemon = onDefault('startDaemon');
/** See IpvsHandle.stopDaemon. */
export const stopDaemon = onDefault('stopDaemon');
/** See IpvsHandle.listDaemons. */
export const listDaemons = onDefault('listDaemons');
/** See IpvsHandle.listConnections. */
export const listConnections = onDefault('listConnections');
/** Makes the table equal a desired state. See IpvsHandle.apply. */
export const apply = onDefault('apply');
/** Sends the operations of a plan. See IpvsHandle.batch. */
export const batch = onDefault('batch');
