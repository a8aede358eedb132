// The public entry point: the handle API, the enums, the error class, and the
// same operations at top level on a shared default handle.
import { createHandle, IpvsHandle } from './handle';
import type { Connection } from './connections';
import type {
  Destination,
  DestinationSpec,
  Info,
  Service,
  ServiceKey,
  ServiceOptions,
  ServiceSpec,
  SyncDaemon,
  SyncDaemonSpec,
  SyncState,
  Timeouts,
} from './types';

export { open, IpvsHandle } from './handle';
export type { OpenOptions } from './handle';
export { Scheduler, ForwardingMethod, Protocol, Family, TunnelType } from './constants';
export { IpvsError, IPVS_UNAVAILABLE, HANDLE_CLOSED } from './errors';
export type { IpvsErrorDetails } from './errors';
export { formatIpvsadmList } from './format';
export { parseConnections } from './connections';
export type { Connection } from './connections';
export { KernelFeatures } from './features';
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

/** Closes the shared handle, if one was opened. */
export async function closeDefaultHandle(): Promise<void> {
  const handle = defaultHandle;
  defaultHandle = null;
  if (handle) await handle.close();
}

export function info(): Promise<Info> {
  return getDefaultHandle().info();
}
export function addService(spec: ServiceSpec): Promise<void> {
  return getDefaultHandle().addService(spec);
}
export function editService(key: ServiceKey, changes: ServiceOptions): Promise<void> {
  return getDefaultHandle().editService(key, changes);
}
export function deleteService(key: ServiceKey): Promise<void> {
  return getDefaultHandle().deleteService(key);
}
export function getService(key: ServiceKey): Promise<Service> {
  return getDefaultHandle().getService(key);
}
export function list(): Promise<Service[]> {
  return getDefaultHandle().list();
}
export function addDestination(service: ServiceKey, destination: DestinationSpec): Promise<void> {
  return getDefaultHandle().addDestination(service, destination);
}
export function editDestination(service: ServiceKey, destination: DestinationSpec): Promise<void> {
  return getDefaultHandle().editDestination(service, destination);
}
export function deleteDestination(service: ServiceKey, destination: Pick<DestinationSpec, 'address' | 'port'>): Promise<void> {
  return getDefaultHandle().deleteDestination(service, destination);
}
export function listDestinations(service: ServiceKey): Promise<Destination[]> {
  return getDefaultHandle().listDestinations(service);
}
export function flush(): Promise<void> {
  return getDefaultHandle().flush();
}
export function zero(service?: ServiceKey): Promise<void> {
  return getDefaultHandle().zero(service);
}
export function getTimeouts(): Promise<Timeouts> {
  return getDefaultHandle().getTimeouts();
}
export function setTimeouts(timeouts: Partial<Timeouts>): Promise<void> {
  return getDefaultHandle().setTimeouts(timeouts);
}
export function startDaemon(spec: SyncDaemonSpec): Promise<void> {
  return getDefaultHandle().startDaemon(spec);
}
export function stopDaemon(state: SyncState): Promise<void> {
  return getDefaultHandle().stopDaemon(state);
}
export function listDaemons(): Promise<SyncDaemon[]> {
  return getDefaultHandle().listDaemons();
}
export function listConnections(): Promise<Connection[]> {
  return getDefaultHandle().listConnections();
}
