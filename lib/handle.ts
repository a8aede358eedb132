// IpvsHandle: one netlink socket in one network namespace, with a method per
// IPVS operation. Every method validates its input first (TypeError /
// RangeError, nothing sent), then returns a Promise settled off the event loop.
import { addon, RawDestination, RawHandle, RawRequest } from './addon';
import { parseConnections, type Connection } from './connections';
import {
  CheckedDestination,
  CheckedKey,
  fromDaemon,
  fromService,
  SYNC_STATE_NUMBER,
  toDaemon,
  toDestination,
  toDestinationKey,
  toService,
  toServiceKey,
  toSyncState,
  toTimeouts,
} from './convert';
import { Failed, fromNative, kernelError } from './errors';
import { KernelFeatures } from './features';
import { RequestQueue } from './queue';
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
import { expectObject, expectKnownKeys } from './validate';

const C = addon.constants;
const ENOENT = 2;

/** Options of open(). */
export interface OpenOptions {
  /**
   * The network namespace whose IPVS to program: a name under /run/netns
   * (as `ip netns add` makes) or a path such as /proc/<pid>/ns/net.
   * Defaults to the caller's own namespace.
   */
  netns?: string;
}

function netnsPath(netns: unknown): string | undefined {
  if (netns === undefined) return undefined;
  if (typeof netns !== 'string' || netns.length === 0 || netns.includes('\0'))
    throw new TypeError(`Expected a namespace name or path for netns but received ${JSON.stringify(netns)}`);
  if (netns.includes('/')) return netns;
  if (netns === '.' || netns === '..') throw new RangeError(`Expected a namespace name for netns but received '${netns}'`);
  return `/run/netns/${netns}`;
}

/** Opens a handle on the IPVS of this (or the given) network namespace. */
export async function open(options: OpenOptions = {}): Promise<IpvsHandle> {
  const handle = createHandle(options);
  try {
    await handle.ready;
  } catch (error) {
    throw fromNative(error, { operation: 'open', object: handle.netns ? `network namespace ${handle.netns}` : '' });
  }
  return handle;
}

/**
 * A handle whose socket is still opening: calls made on it wait for the open
 * and fail with its error if it fails. Validates `options` at once.
 */
export function createHandle(options: OpenOptions = {}): IpvsHandle {
  expectObject(options, 'options');
  expectKnownKeys(options as Record<string, unknown>, 'options', ['netns']);
  const path = netnsPath(options.netns);
  const native = new addon.Handle();
  return new IpvsHandle(native, native.open(path), path);
}

function versionText(code: number): string {
  return `${(code >> 16) & 0xff}.${(code >> 8) & 0xff}.${code & 0xff}`;
}

/** A handle on one network namespace's IPVS. Make one with open(). */
export class IpvsHandle {
  private readonly queue: RequestQueue;
  private closed = false;
  /** What the running kernel supports (namespaces share the kernel). */
  readonly features = new KernelFeatures();

  /** @internal use open() */
  constructor(
    private readonly native: RawHandle,
    /** @internal settles when the socket is open; rejects with the addon's error */
    readonly ready: Promise<void>,
    /** The namespace path this handle talks to; undefined for the caller's own. */
    readonly netns?: string,
  ) {
    // Unobserved until a call waits on it.
    ready.catch(() => undefined);
    this.queue = new RequestQueue(native, ready);
  }

  /** The IPVS version and the connection table's size. */
  async info(): Promise<Info> {
    const raw = await this.read({ operation: 'info', object: '' }, () => this.native.getInfo());
    return { version: versionText(raw.version), versionCode: raw.version, connectionTableSize: raw.connTableSize };
  }

  /** Adds a virtual service (ipvsadm -A). EEXIST if it exists. */
  async addService(spec: ServiceSpec): Promise<void> {
    const s = toService(spec);
    return this.change({ command: C.IPVS_CMD_NEW_SERVICE, service: s.raw }, this.failed('addService', s, s));
  }

  /**
   * Changes a service's settings (ipvsadm -E). Settings not given keep their
   * current values (read back first, since the kernel resets what a change
   * leaves out).
   */
  async editService(key: ServiceKey, changes: ServiceOptions): Promise<void> {
    const k = toServiceKey(key);
    // Only settings: a key field here would make the edit hit another service.
    expectKnownKeys(expectObject(changes, 'changes'), 'changes', ['scheduler', 'persistence', 'persistenceEngine', 'onePacket', 'schedulerFlags']);
    const current = await this.getService(key);
    const merged: Record<string, unknown> = {
      ...(current.fwmark ? { fwmark: current.fwmark, family: current.family } : { protocol: current.protocol, address: current.address, port: current.port }),
      scheduler: current.scheduler,
      persistence: current.persistence,
      persistenceEngine: current.persistenceEngine,
      onePacket: current.onePacket,
      schedulerFlags: current.schedulerFlags,
    };
    for (const [name, value] of Object.entries(changes)) if (value !== undefined) merged[name] = value;
    const s = toService(merged, 'changes');
    return this.change({ command: C.IPVS_CMD_SET_SERVICE, service: s.raw }, this.failed('editService', k, s));
  }

  /** Deletes a virtual service and its destinations (ipvsadm -D). ESRCH if absent. */
  async deleteService(key: ServiceKey): Promise<void> {
    const k = toServiceKey(key);
    return this.change({ command: C.IPVS_CMD_DEL_SERVICE, service: k.raw, keyOnly: true }, this.failed('deleteService', k));
  }

  /** One service with its destinations. ESRCH if absent. */
  async getService(key: ServiceKey): Promise<Service> {
    const k = toServiceKey(key);
    const failed = this.failed('getService', k);
    const [raw, destinations] = await this.read(failed, () =>
      Promise.all([this.native.getService(k.raw), this.native.getDestinations(k.raw)]),
    );
    return fromService({ ...raw, destinations });
  }

  /** Every service with its destinations (ipvsadm -Ln). */
  async list(): Promise<Service[]> {
    const raw = await this.read({ operation: 'list', object: '' }, () => this.native.getServices(true));
    return raw.map(fromService);
  }

  /** Every service, without destinations: one dump instead of one per service. */
  async listServices(): Promise<Service[]> {
    const raw = await this.read({ operation: 'listServices', object: '' }, () => this.native.getServices(false));
    return raw.map(fromService);
  }

  /** Adds a real server to a service (ipvsadm -a). */
  async addDestination(service: ServiceKey, destination: DestinationSpec): Promise<void> {
    const k = toServiceKey(service);
    const d = toDestination(destination, k);
    const failed = this.failed('addDestination', k, undefined, d.name);
    this.checkDestination(d, k, failed);
    return this.change({ command: C.IPVS_CMD_NEW_DEST, service: k.raw, destination: d.raw }, failed);
  }

  /**
   * Changes a destination (ipvsadm -e). Settings not given keep their current
   * values (read back first: the kernel resets what a change leaves out).
   */
  async editDestination(service: ServiceKey, destination: DestinationSpec): Promise<void> {
    const k = toServiceKey(service);
    const key = toDestinationKey(destination, k);
    const current = (await this.listDestinations(service)).find(
      (d) => d.address === key.raw.address && d.port === key.raw.port,
    );
    const failed = this.failed('editDestination', k, undefined, key.name);
    // Said here rather than by sending a half-empty SET that could, in a race
    // with its creation, zero the destination.
    if (current === undefined) throw kernelError(ENOENT, failed);
    const merged: Record<string, unknown> = {
      address: current.address,
      port: current.port,
      weight: current.weight,
      forwarding: current.forwarding,
      upperThreshold: current.upperThreshold,
      lowerThreshold: current.lowerThreshold,
      tunnel: current.tunnel ?? undefined,
    };
    for (const [name, value] of Object.entries(destination)) if (value !== undefined) merged[name] = value;
    if (merged.forwarding !== 'tunnel') delete merged.tunnel;
    const d = toDestination(merged, k);
    this.checkDestination(d, k, failed);
    return this.change({ command: C.IPVS_CMD_SET_DEST, service: k.raw, destination: d.raw }, failed);
  }

  /** Removes a real server from a service (ipvsadm -d). */
  async deleteDestination(service: ServiceKey, destination: Pick<DestinationSpec, 'address' | 'port'>): Promise<void> {
    const k = toServiceKey(service);
    const d = toDestinationKey(destination, k);
    return this.change(
      { command: C.IPVS_CMD_DEL_DEST, service: k.raw, destination: d.raw },
      this.failed('deleteDestination', k, undefined, d.name),
    );
  }

  /** A service's destinations. ESRCH if the service does not exist. */
  async listDestinations(service: ServiceKey): Promise<Destination[]> {
    return (await this.getService(service)).destinations;
  }

  /** Removes every service and destination (ipvsadm -C). */
  async flush(): Promise<void> {
    return this.change({ command: C.IPVS_CMD_FLUSH }, { operation: 'flush', object: '' });
  }

  /** Zeroes the counters of one service, or of all when none is given (ipvsadm -Z). */
  async zero(service?: ServiceKey): Promise<void> {
    if (service === undefined) return this.change({ command: C.IPVS_CMD_ZERO }, { operation: 'zero', object: '' });
    const k = toServiceKey(service);
    return this.change({ command: C.IPVS_CMD_ZERO, service: k.raw, keyOnly: true }, this.failed('zero', k));
  }

  /** Connection timeouts in seconds (ipvsadm -L --timeout). */
  async getTimeouts(): Promise<Timeouts> {
    return this.read({ operation: 'getTimeouts', object: '' }, () => this.native.getTimeouts());
  }

  /** Sets connection timeouts; a value left out (or 0) keeps its current setting (ipvsadm --set). */
  async setTimeouts(timeouts: Partial<Timeouts>): Promise<void> {
    const raw = toTimeouts(timeouts);
    return this.change({ command: C.IPVS_CMD_SET_CONFIG, timeouts: raw }, { operation: 'setTimeouts', object: 'timeouts' });
  }

  /** Starts a connection-synchronisation daemon (ipvsadm --start-daemon). EEXIST if one of that state runs. */
  async startDaemon(spec: SyncDaemonSpec): Promise<void> {
    const d = toDaemon(spec);
    const failed = { operation: 'startDaemon', object: d.name };
    if (d.extended) this.features.require('syncDaemonOptions', failed.operation, failed.object);
    return this.change({ command: C.IPVS_CMD_NEW_DAEMON, daemon: d.raw }, failed);
  }

  /** Stops the master or backup sync daemon (ipvsadm --stop-daemon). */
  async stopDaemon(state: SyncState): Promise<void> {
    const s = toSyncState(state, 'state');
    return this.change(
      { command: C.IPVS_CMD_DEL_DAEMON, daemon: { state: SYNC_STATE_NUMBER[s], multicastInterface: '', syncId: 0 } },
      { operation: 'stopDaemon', object: `sync daemon ${s}` },
    );
  }

  /** The running sync daemons: none, a master, a backup, or both (ipvsadm -L --daemon). */
  async listDaemons(): Promise<SyncDaemon[]> {
    const raw = await this.read({ operation: 'listDaemons', object: '' }, () => this.native.getDaemons());
    return raw.map(fromDaemon);
  }

  /** The connection table (ipvsadm -Lc), read from /proc/net/ip_vs_conn of this handle's namespace. */
  async listConnections(): Promise<Connection[]> {
    const text = await this.read({ operation: 'listConnections', object: '' }, () => this.native.readNetFile('ip_vs_conn'));
    return parseConnections(text);
  }

  /** Closes the socket once every call made before has finished. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.read(() => this.native.close());
  }

  private failed(operation: string, service: CheckedKey, spec?: { scheduler: string; persistenceEngine?: string }, destination?: string): Failed {
    return {
      operation,
      object: destination ? `${destination} in ${service.name}` : service.name,
      service: service.name,
      destination,
      scheduler: spec?.scheduler,
      persistenceEngine: spec?.persistenceEngine,
      hint: spec ? this.features.schedulerHint(spec.scheduler) : undefined,
    };
  }

  /** Refuses destination options the running kernel would silently drop. */
  private checkDestination(d: CheckedDestination, service: CheckedKey, failed: Failed): void {
    const raw: RawDestination = d.raw;
    const f = (feature: Parameters<KernelFeatures['require']>[0]) => this.features.require(feature, failed.operation, failed.object);
    if (raw.family !== service.raw.family) f('mixedFamily');
    if (raw.tunnelType === 1) f('gueTunnel');
    if (raw.tunnelType === 2) f('greTunnel');
    if (raw.tunnelFlags) f('tunnelChecksum');
  }

  private change(request: RawRequest, failed: Failed): Promise<void> {
    this.ensureOpen(failed);
    return this.queue.change(request, failed);
  }

  private async read<T>(failed: Failed, job: () => Promise<T>): Promise<T> {
    this.ensureOpen(failed);
    try {
      return await this.queue.read(job);
    } catch (error) {
      throw fromNative(error, failed);
    }
  }

  private ensureOpen(failed: Failed): void {
    if (this.closed) throw fromNative(Object.assign(new Error('closed'), { errno: 9, closed: true }), failed);
  }
}
