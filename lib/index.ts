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

/** The IPVS version and connection-table size, on the default handle. See IpvsHandle.info. */
export function info(): Promise<Info> {
  return getDefaultHandle().info();
}
/** Adds a virtual service (ipvsadm -A) on the default handle. See IpvsHandle.addService. */
export function addService(spec: ServiceSpec): Promise<void> {
  return getDefaultHandle().addService(spec);
}
/** Changes a service, keeping settings not given (ipvsadm -E). See IpvsHandle.editService. */
export function editService(key: ServiceKey, changes: ServiceOptions): Promise<void> {
  return getDefaultHandle().editService(key, changes);
}
/** Deletes a virtual service (ipvsadm -D). See IpvsHandle.deleteService. */
export function deleteService(key: ServiceKey): Promise<void> {
  return getDefaultHandle().deleteService(key);
}
/** One service with its destinations. See IpvsHandle.getService. */
export function getService(key: ServiceKey): Promise<Service> {
  return getDefaultHandle().getService(key);
}
/** Every service with its destinations and stats (ipvsadm -Ln). See IpvsHandle.list. */
export function list(): Promise<Service[]> {
  return getDefaultHandle().list();
}
/** Adds a real server to a service (ipvsadm -a). See IpvsHandle.addDestination. */
export function addDestination(service: ServiceKey, destination: DestinationSpec): Promise<void> {
  return getDefaultHandle().addDestination(service, destination);
}
/** Changes a real server, keeping settings not given (ipvsadm -e). See IpvsHandle.editDestination. */
export function editDestination(service: ServiceKey, destination: DestinationSpec): Promise<void> {
  return getDefaultHandle().editDestination(service, destination);
}
/** Removes a real server from a service (ipvsadm -d). See IpvsHandle.deleteDestination. */
export function deleteDestination(service: ServiceKey, destination: Pick<DestinationSpec, 'address' | 'port'>): Promise<void> {
  return getDefaultHandle().deleteDestination(service, destination);
}
/** A service's real servers. See IpvsHandle.listDestinations. */
export function listDestinations(service: ServiceKey): Promise<Destination[]> {
  return getDefaultHandle().listDestinations(service);
}
/** Removes every service (ipvsadm -C). See IpvsHandle.flush. */
export function flush(): Promise<void> {
  return getDefaultHandle().flush();
}
/** Zeroes all counters, or one service's (ipvsadm -Z). See IpvsHandle.zero. */
export function zero(service?: ServiceKey): Promise<void> {
  return getDefaultHandle().zero(service);
}
/** The tcp, tcpfin and udp timeouts (ipvsadm -L --timeout). See IpvsHandle.getTimeouts. */
export function getTimeouts(): Promise<Timeouts> {
  return getDefaultHandle().getTimeouts();
}
/** Sets timeouts; 0 or absent keeps a value (ipvsadm --set). See IpvsHandle.setTimeouts. */
export function setTimeouts(timeouts: Partial<Timeouts>): Promise<void> {
  return getDefaultHandle().setTimeouts(timeouts);
}
/** Starts a sync daemon (ipvsadm --start-daemon). See IpvsHandle.startDaemon. */
export function startDaemon(spec: SyncDaemonSpec): Promise<void> {
  return getDefaultHandle().startDaemon(spec);
}
/** Stops a sync daemon (ipvsadm --stop-daemon). See IpvsHandle.stopDaemon. */
export function stopDaemon(state: SyncState): Promise<void> {
  return getDefaultHandle().stopDaemon(state);
}
/** The running sync daemons (ipvsadm -L --daemon). See IpvsHandle.listDaemons. */
export function listDaemons(): Promise<SyncDaemon[]> {
  return getDefaultHandle().listDaemons();
}
/** The connection table (ipvsadm -Lnc). See IpvsHandle.listConnections. */
export function listConnections(): Promise<Connection[]> {
  return getDefaultHandle().listConnections();
}
