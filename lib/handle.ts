// IpvsHandle: one netlink socket in one network namespace, with a method per
// IPVS operation. Every method validates its input first (TypeError /
// RangeError, nothing sent), then returns a Promise settled off the event
// loop, in call order relative to every other call on the handle.
import { addon, RawDestinationEntry, RawHandle, RawRequest, RawServiceEntry } from './addon';
import { connectionsOf, type Connection } from './connections';
import { Command, Errno, SYNC_STATE_NUMBER } from './constants';
import {
  CheckedDestination,
  CheckedKey,
  checkDestinationChanges,
  checkServiceChanges,
  DESTINATION_FIELDS,
  mergeSettings,
  SERVICE_SETTING_FIELDS,
  toDaemon,
  toDestination,
  toDestinationKey,
  toService,
  toServiceKey,
  toSyncState,
  toTimeouts,
} from './convert';
import { closedError, Failed, failureError, fromNative, kernelError } from './errors';
import { KernelFeatures } from './features';
import { destinationSettings, rawEntries, serviceEntriesOf, serviceSpecOf, servicesOf } from './listing';
import { Outcome, Requests, RequestQueue, SendOptions } from './queue';
import type {
  Destination,
  DestinationSpec,
  Info,
  Service,
  ServiceEntry,
  ServiceKey,
  ServiceOptions,
  ServiceSpec,
  SyncDaemon,
  SyncDaemonSpec,
  SyncState,
  Timeouts,
} from './types';
import { describe, expectBoolean, fields } from './validate';
import { apply, batch, type ApplyOptions, type ApplyResult, type BatchOptions, type BatchResult, type Operation } from './desired/apply';
import type { DesiredService } from './types';

/** What list() takes. */
const LIST_FIELDS = new Set(['stats']);

/** Options of open(). */
export interface OpenOptions {
  /**
   * The network namespace whose IPVS to program: a name under /run/netns
   * (as `ip netns add` makes) or a path such as /proc/<pid>/ns/net.
   * Defaults to the caller's own namespace.
   */
  netns?: string;
}

const OPEN_FIELDS = new Set(['netns']);

function netnsPath(netns: unknown): string | undefined {
  if (netns === undefined) return undefined;
  if (typeof netns !== 'string' || netns.length === 0 || netns.includes('\0'))
    throw new TypeError(`Expected a namespace name or path for options.netns but received ${describe(netns)}`);
  if (netns.includes('/')) return netns;
  if (netns === '.' || netns === '..') throw new RangeError(`Expected a namespace name for options.netns but received ${describe(netns)}`);
  return `/run/netns/${netns}`;
}

/** Opens a handle on the IPVS of this (or the given) network namespace. */
export async function open(options: OpenOptions = {}): Promise<IpvsHandle> {
  const handle = createHandle(options);
  try {
    await handle.ready;
  } catch (error) {
    // A path is named in full unless absurdly long (the message never echoes megabytes).
    const netns = handle.netns && handle.netns.length > 256 ? `${handle.netns.slice(0, 256)}... (${handle.netns.length} characters)` : handle.netns;
    throw fromNative(error, { operation: 'open', object: netns ? `network namespace ${netns}` : '' });
  }
  return handle;
}

/**
 * A handle whose socket is still opening: calls made on it wait for the open
 * and fail with its error if it fails. Validates `options` at once.
 */
export function createHandle(options: OpenOptions = {}): IpvsHandle {
  const o = fields(options, 'options', OPEN_FIELDS);
  const path = netnsPath(o.netns);
  const native = new addon.Handle();
  return new IpvsHandle(native, native.open(path), path);
}

function versionText(code: number): string {
  return `${(code >> 16) & 0xff}.${(code >> 8) & 0xff}.${code & 0xff}`;
}

/** A handle on one network namespace's IPVS. Make one with open(). */
export class IpvsHandle {
  private readonly queue: RequestQueue;
  private closing: Promise<void> | null = null;
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
    const raw = await this.job({ operation: 'info', object: '' }, () => this.native.getInfo());
    return { version: versionText(raw.version), versionCode: raw.version, connectionTableSize: raw.connTableSize };
  }

  /** Adds a virtual service (ipvsadm -A). EEXIST if it exists. */
  async addService(spec: ServiceSpec): Promise<void> {
    const s = toService(spec);
    await this.change({ command: Command.IPVS_CMD_NEW_SERVICE, service: s.raw }, this.failed('addService', s, s.raw));
  }

  /**
   * Changes a service's settings (ipvsadm -E). Settings not given keep their
   * values, nested ones too (`{ persistence: { timeout: 60 } }` keeps the
   * netmask). Read and written as one step, in call order. ESRCH if absent.
   */
  async editService(key: ServiceKey, changes: ServiceOptions): Promise<void> {
    const k = toServiceKey(key);
    // Only settings: a key field here would make the edit hit another service.
    const c = fields(changes, 'changes', SERVICE_SETTING_FIELDS);
    checkServiceChanges(c, k);
    const failed = this.failed('editService', k);
    const outcome = await this.job(failed, async () => {
      const [current] = await rawEntries<RawServiceEntry>(await this.native.list({ service: k.raw, destinations: false, stats: false }));
      const s = toService(mergeSettings({ ...serviceSpecOf(current) }, c), 'changes');
      Object.assign(failed, this.failed('editService', k, s.raw));
      const [o] = await this.queue.send([{ command: Command.IPVS_CMD_SET_SERVICE, service: s.raw }]);
      return o;
    });
    if (outcome) throw failureError(outcome, failed);
  }

  /** Deletes a virtual service and its destinations (ipvsadm -D). ESRCH if absent. */
  async deleteService(key: ServiceKey): Promise<void> {
    const k = toServiceKey(key);
    await this.change({ command: Command.IPVS_CMD_DEL_SERVICE, service: k.raw, keyOnly: true }, this.failed('deleteService', k));
  }

  /** One service with its destinations and stats. ESRCH if absent. */
  async getService(key: ServiceKey): Promise<Service> {
    const k = toServiceKey(key);
    const [service] = await this.job(this.failed('getService', k), async () =>
      servicesOf(await this.native.list({ service: k.raw, destinations: true, stats: true })),
    );
    return service;
  }

  /**
   * Every service with its destinations and stats (ipvsadm -Ln --stats).
   * `{ stats: false }`: without the counters (every `stats` is null), a
   * cheaper read of a large table for what does not show them.
   */
  async list(options?: { stats?: boolean }): Promise<Service[]> {
    const o = options === undefined ? {} : fields(options, 'options', LIST_FIELDS);
    const stats = expectBoolean(o.stats, 'options.stats', true);
    return this.job({ operation: 'list', object: '' }, async () => servicesOf(await this.native.list({ destinations: true, stats })));
  }

  /** Every service with its stats, without destinations (the field is absent): one dump instead of one per service. */
  async listServices(): Promise<ServiceEntry[]> {
    return this.job({ operation: 'listServices', object: '' }, async () =>
      serviceEntriesOf(await this.native.list({ destinations: false, stats: true })),
    );
  }

  /** Adds a real server to a service (ipvsadm -a). */
  async addDestination(service: ServiceKey, destination: DestinationSpec): Promise<void> {
    const k = toServiceKey(service);
    const d = toDestination(destination, k);
    const failed = this.failed('addDestination', k, undefined, d.name);
    this.checkDestination(d, k, failed);
    await this.change({ command: Command.IPVS_CMD_NEW_DEST, service: k.raw, destination: d.raw }, failed);
  }

  /**
   * Changes a destination (ipvsadm -e). Settings not given keep their values
   * (the tunnel's too). Read and written as one step, in call order. ENOENT if
   * the destination is absent, ESRCH if the service is.
   */
  async editDestination(service: ServiceKey, destination: DestinationSpec): Promise<void> {
    const k = toServiceKey(service);
    // The caller's object is read once (a getter cannot answer differently
    // later); the key and each setting given are checked before the current ones are read.
    const changes = fields(destination, 'destination', DESTINATION_FIELDS);
    const key = checkDestinationChanges(changes, k);
    const failed = this.failed('editDestination', k, undefined, key.name);
    const outcome = await this.job(failed, async (): Promise<Outcome> => {
      const current = (await rawEntries<RawDestinationEntry>(await this.native.listDestinations(k.raw, { stats: false }))).find(
        (d) => d.address === key.raw.address && d.port === key.raw.port,
      );
      if (current === undefined) {
        // An absent service lists no destinations: tell the two cases apart.
        await this.native.list({ service: k.raw, destinations: false, stats: false });
        throw kernelError(Errno.ENOENT, failed);
      }
      const merged = mergeSettings({ ...destinationSettings(current) }, changes);
      // The current tunnel settings go when the forwarding changes away from
      // 'tunnel'; a tunnel given with other forwarding is refused, as by addDestination.
      if (merged.forwarding !== 'tunnel' && (changes.tunnel === undefined || changes.tunnel === null)) delete merged.tunnel;
      const d = toDestination(merged, k);
      this.checkDestination(d, k, failed);
      const [o] = await this.queue.send([{ command: Command.IPVS_CMD_SET_DEST, service: k.raw, destination: d.raw }]);
      return o;
    });
    if (outcome) throw failureError(outcome, failed);
  }

  /** Removes a real server from a service (ipvsadm -d). */
  async deleteDestination(service: ServiceKey, destination: Pick<DestinationSpec, 'address' | 'port'>): Promise<void> {
    const k = toServiceKey(service);
    const d = toDestinationKey(destination, k);
    await this.change({ command: Command.IPVS_CMD_DEL_DEST, service: k.raw, destination: d.raw }, this.failed('deleteDestination', k, undefined, d.name));
  }

  /** A service's destinations with stats. ESRCH if the service does not exist. */
  async listDestinations(service: ServiceKey): Promise<Destination[]> {
    const k = toServiceKey(service);
    const [s] = await this.job(this.failed('listDestinations', k), async () =>
      servicesOf(await this.native.list({ service: k.raw, destinations: true, stats: true })),
    );
    return s.destinations;
  }

  /** Removes every service and destination (ipvsadm -C). */
  async flush(): Promise<void> {
    await this.change({ command: Command.IPVS_CMD_FLUSH }, { operation: 'flush', object: '' });
  }

  /** Zeroes the counters of one service, or of all when none is given (ipvsadm -Z). */
  async zero(service?: ServiceKey): Promise<void> {
    if (service === undefined) return this.change({ command: Command.IPVS_CMD_ZERO }, { operation: 'zero', object: '' });
    const k = toServiceKey(service);
    await this.change({ command: Command.IPVS_CMD_ZERO, service: k.raw, keyOnly: true }, this.failed('zero', k));
  }

  /** Connection timeouts in seconds (ipvsadm -L --timeout). */
  async getTimeouts(): Promise<Timeouts> {
    return this.job({ operation: 'getTimeouts', object: '' }, () => this.native.getTimeouts());
  }

  /** Sets connection timeouts; a value left out (or 0) keeps its current setting (ipvsadm --set). */
  async setTimeouts(timeouts: Partial<Timeouts>): Promise<void> {
    const raw = toTimeouts(timeouts);
    await this.change({ command: Command.IPVS_CMD_SET_CONFIG, timeouts: raw }, { operation: 'setTimeouts', object: 'timeouts' });
  }

  /** Starts a connection-synchronisation daemon (ipvsadm --start-daemon). EEXIST if one of that state runs. */
  async startDaemon(spec: SyncDaemonSpec): Promise<void> {
    const d = toDaemon(spec);
    const failed = { operation: 'startDaemon', object: d.name };
    if (d.extended) this.features.require('syncDaemonOptions', failed.operation, failed.object);
    await this.change({ command: Command.IPVS_CMD_NEW_DAEMON, daemon: d.raw }, failed);
  }

  /** Stops the master or backup sync daemon (ipvsadm --stop-daemon). */
  async stopDaemon(state: SyncState): Promise<void> {
    const s = toSyncState(state, 'state');
    await this.change(
      { command: Command.IPVS_CMD_DEL_DAEMON, daemon: { state: SYNC_STATE_NUMBER[s], interface: '', syncId: 0 } },
      { operation: 'stopDaemon', object: `sync daemon ${s}` },
    );
  }

  /** The running sync daemons: none, a master, a backup, or both (ipvsadm -L --daemon). */
  async listDaemons(): Promise<SyncDaemon[]> {
    const raw = await this.job({ operation: 'listDaemons', object: '' }, () => this.native.getDaemons());
    return raw.map((d) => ({
      state: d.state === SYNC_STATE_NUMBER.backup ? 'backup' : 'master',
      interface: d.interface,
      syncId: d.syncId,
      maxLength: d.maxLength ?? null,
      group: d.group ?? null,
      port: d.port ?? null,
      ttl: d.ttl ?? null,
    }));
  }

  /** The connection table (ipvsadm -Lc), read from /proc/net/ip_vs_conn of this handle's namespace. */
  async listConnections(): Promise<Connection[]> {
    const bytes = await this.job({ operation: 'listConnections', object: '' }, () => this.native.readNetFile('ip_vs_conn'));
    return connectionsOf(bytes);
  }

  /**
   * Makes the table equal `desired` (services in the shape list() returns):
   * adds, changes in place and removes only what differs. See ApplyOptions.
   */
  apply(desired: readonly DesiredService[], options: ApplyOptions = {}): Promise<ApplyResult> {
    // Not async: apply() takes its place in call order now, not a turn later.
    try {
      return apply(this, desired, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends the operations of a plan (what apply({ dryRun: true }) returns), packed, each reported. */
  batch(operations: readonly Operation[], options: BatchOptions = {}): Promise<BatchResult> {
    try {
      return batch(this, operations, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Closes the socket once every call made before has settled. Always resolves. */
  async close(): Promise<void> {
    if (this.closing === null)
      this.closing = this.queue
        .settled()
        .then(() => this.native.close())
        .catch(() => undefined);
    return this.closing;
  }

  /**
   * @internal Runs `fn` as one job whose place in call order is taken now
   * (apply() and batch(): read, plan and send with no other call of this
   * handle in between). Inside it use readTable() and send(), never the
   * queued methods (they would wait for this job).
   */
  exclusive<T>(failed: Failed, fn: () => Promise<T>): Promise<T> {
    return this.job(failed, fn);
  }

  /** @internal The raw table without stats; only inside exclusive(). */
  async readTable(): Promise<RawServiceEntry[]> {
    return rawEntries<RawServiceEntry>(await this.native.list({ destinations: true, stats: false }));
  }

  /** @internal Sends requests in slices, outcomes in order; only inside exclusive(). */
  send(requests: Requests, options: SendOptions): Promise<Outcome[]> {
    return this.queue.send(requests, options);
  }

  /** @internal */
  failed(operation: string, service: CheckedKey, spec?: { scheduler: string; persistenceEngine?: string }, destination?: string): Failed {
    return {
      operation,
      object: destination ? `${destination} in ${service.name}` : service.name,
      service: service.name,
      destination,
      scheduler: spec?.scheduler,
      persistenceEngine: spec?.persistenceEngine || undefined,
      hint: spec ? this.features.schedulerHint(spec.scheduler) : undefined,
    };
  }

  /** @internal Refuses destination options the running kernel would silently drop. */
  checkDestination(d: CheckedDestination, service: CheckedKey, failed: Failed): void {
    const raw = d.raw;
    const f = (feature: Parameters<KernelFeatures['require']>[0]) => this.features.require(feature, failed.operation, failed.object);
    if (raw.family !== service.raw.family) f('mixedFamily');
    if (raw.tunnelType === 1) f('gueTunnel');
    if (raw.tunnelType === 2) f('greTunnel');
    if (raw.tunnelFlags) f('tunnelChecksum');
  }

  private async change(request: RawRequest, failed: Failed): Promise<void> {
    this.ensureOpen(failed);
    let outcome: Outcome;
    try {
      outcome = await this.queue.change(request);
    } catch (error) {
      throw fromNative(error, failed);
    }
    if (outcome) throw failureError(outcome, failed);
  }

  private async job<T>(failed: Failed, job: () => Promise<T>): Promise<T> {
    this.ensureOpen(failed);
    try {
      return await this.queue.job(job);
    } catch (error) {
      throw fromNative(error, failed);
    }
  }

  private ensureOpen(failed: Failed): void {
    if (this.closing !== null) throw closedError(failed);
  }
}


