// KernelHandle: one netlink socket in one network namespace, with a method per
// IPVS operation. Every method validates its input first (TypeError /
// RangeError, nothing sent), then returns a Promise settled off the event
// loop, in call order relative to every other call on the handle.
// IpvsHandle (ipvs-handle.ts) adds the desired-state tools on top, through
// the one narrow interface below (PlanAccess); nothing here knows of them.
import type { RawDestinationEntry, RawFailure, RawFingerprints, RawHandle, RawRequest, RawServiceEntry, RawServiceKey } from './addon';
import { connectionsOf, type Connection } from './connections';
import { Command, Errno, SYNC_STATE_NUMBER } from './constants';
import {
  Broken,
  CheckedDestination,
  CheckedKey,
  checkDestinationChanges,
  destinationRuleBroken,
  checkServiceChanges,
  DESTINATION_FIELDS,
  mergeSettings,
  SERVICE_SETTING_FIELDS,
  settleBroken,
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
import { isFailure, Outcome, Requests, RequestQueue, SendOptions } from './queue';
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
import { expectBoolean, expectInteger, fields } from './validate';

/** What list() takes. */
const LIST_FIELDS = new Set(['stats']);
/** What services() takes. */
const SERVICES_FIELDS = new Set(['stats', 'batchSize']);

/**
 * services()'s default batch: 64 services (640 destinations at 10 a service).
 * What a batch holds is what V8's young generation must copy when a
 * collection finds it alive, and what it copies makes it grow: streaming
 * 20,000 x 10 in a fresh process grew the peak RSS by 46 MiB at 256 a batch,
 * 26 MiB at 64 and 15 MiB at 16 (list(): 151 MiB), in about the same time.
 */
export const SERVICES_BATCH = 64;

function versionText(code: number): string {
  return `${(code >> 16) & 0xff}.${(code >> 8) & 0xff}.${code & 0xff}`;
}

/**
 * @internal What lib/desired/ (apply, batch, the reconciler) uses of a handle
 * beyond its public calls. Inside job() use only these members, never the
 * handle's queued calls (they would wait for the job).
 */
export interface PlanAccess {
  /** Runs `fn` as one job whose place in call order is taken now: no other call of this handle runs in between. */
  job<T>(call: Failed, fn: () => Promise<T>): Promise<T>;
  /** The whole table, with destinations, without stats. */
  readTable(): Promise<RawServiceEntry[]>;
  /** One service with its destinations, without stats; null when absent. */
  readService(key: RawServiceKey): Promise<RawServiceEntry | null>;
  /**
   * The table compared with `expected` (fingerprints by service id) on the
   * addon's worker thread: only the services that differ, those not
   * expected, and the ids of those missing reach JavaScript.
   */
  verify(expected: RawFingerprints): Promise<{ differing: RawServiceEntry[]; unexpected: RawServiceEntry[]; missing: string[] }>;
  /**
   * Deletes every service named in `owned` (its ids), the requests made on
   * the addon's worker thread; the deletes not applied, by service id.
   */
  deleteServices(owned: RawFingerprints): Promise<Map<string, RawFailure>>;
  /** Sends requests in slices; outcomes in request order. */
  send(requests: Requests, options: SendOptions): Promise<Outcome[]>;
  /** How a call on this object is named in errors. */
  describeCall(operation: string, service: CheckedKey, spec?: { scheduler: string; persistenceEngine?: string }, destination?: string): Failed;
  /** Refuses destination options the running kernel would silently drop. */
  requireFeatures(d: CheckedDestination, service: CheckedKey, call: Failed): void;
}

/** The IPVS calls on one network namespace. Users get an IpvsHandle (open()). */
export class KernelHandle {
  private readonly queue: RequestQueue;
  private closing: Promise<void> | null = null;
  /** What the running kernel supports (namespaces share the kernel). */
  readonly features = new KernelFeatures();
  /** @internal For lib/desired/ (through IpvsHandle). */
  protected readonly access: PlanAccess;

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
    this.access = {
      job: (call, fn) => this.job(call, fn),
      readTable: async () => rawEntries<RawServiceEntry>(await native.list({ destinations: true, stats: false })),
      readService: async (key) => {
        try {
          const [entry] = await rawEntries<RawServiceEntry>(await native.list({ service: key, destinations: true, stats: false }));
          return entry ?? null;
        } catch (error) {
          if ((error as { errno?: number }).errno === Errno.ESRCH) return null;
          throw error;
        }
      },
      verify: async (expected) => {
        const r = await native.verify(expected);
        return { differing: await rawEntries<RawServiceEntry>(r.differing), unexpected: await rawEntries<RawServiceEntry>(r.unexpected), missing: r.missing };
      },
      deleteServices: async (owned) => {
        const r = await native.deleteServices(owned);
        const failures = new Map<string, RawFailure>();
        for (let i = 0; i < r.ids.length; i++) failures.set(r.ids[i], r.failures[i]);
        return failures;
      },
      send: (requests, options) => this.queue.send(requests, options),
      describeCall: (operation, service, spec, destination) => this.describeCall(operation, service, spec, destination),
      requireFeatures: (d, service, call) => this.requireFeatures(d, service, call),
    };
  }

  /** The IPVS version and the connection table's size. */
  async info(): Promise<Info> {
    const raw = await this.job({ operation: 'info', object: '' }, () => this.native.getInfo());
    return { version: versionText(raw.version), versionCode: raw.version, connectionTableSize: raw.connTableSize };
  }

  /** Adds a virtual service (ipvsadm -A). EEXIST if it exists. */
  async addService(spec: ServiceSpec): Promise<void> {
    const s = toService(spec);
    await this.change({ command: Command.IPVS_CMD_NEW_SERVICE, service: s.raw }, this.describeCall('addService', s, s.raw));
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
    const call = this.describeCall('editService', k);
    const outcome = await this.job(call, async () => {
      const [current] = await rawEntries<RawServiceEntry>(await this.native.list({ service: k.raw, destinations: false, stats: false }));
      // A rule the service already breaks in the kernel (made by another tool) is not the edit's doing.
      const broken: Broken = [];
      const s = toService(mergeSettings({ ...serviceSpecOf(current) }, c), 'changes', broken);
      settleBroken(broken, () => current);
      Object.assign(call, this.describeCall('editService', k, s.raw));
      const [o] = await this.queue.send([{ command: Command.IPVS_CMD_SET_SERVICE, service: s.raw }]);
      return o;
    });
    if (isFailure(outcome)) throw failureError(outcome, call);
  }

  /** Deletes a virtual service and its destinations (ipvsadm -D). ESRCH if absent. */
  async deleteService(key: ServiceKey): Promise<void> {
    const k = toServiceKey(key);
    await this.change({ command: Command.IPVS_CMD_DEL_SERVICE, service: k.raw, keyOnly: true }, this.describeCall('deleteService', k));
  }

  /** One service with its destinations and stats. ESRCH if absent. */
  async getService(key: ServiceKey): Promise<Service> {
    const k = toServiceKey(key);
    const [service] = await this.job(this.describeCall('getService', k), async () =>
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

  /**
   * Every service with its destinations, in batches of at most `batchSize`
   * (default SERVICES_BATCH, 64) services, for tables too large to hold at
   * once: memory stays bounded by the batch, and the next batch is read
   * while the caller works on the last. `stats: false` leaves the counters out (every stats
   * null). Not a snapshot: each batch's destinations are read when it is
   * (a service deleted meanwhile is left out). Ending the loop early frees it.
   *
   *     for await (const batch of handle.services({ batchSize: 1000 })) for (const s of batch) ...
   */
  async *services(options?: { batchSize?: number; stats?: boolean }): AsyncGenerator<Service[], void, undefined> {
    const o = options === undefined ? {} : fields(options, 'options', SERVICES_FIELDS);
    const stats = expectBoolean(o.stats, 'options.stats', true);
    const batchSize = o.batchSize === undefined ? SERVICES_BATCH : expectInteger(o.batchSize, 'options.batchSize', 1, 65536);
    const call = { operation: 'services', object: '' };
    const cursor = await this.job(call, async () => this.native.listCursor({ destinations: true, stats, batchSize }));
    const next = () => this.job(call, async () => cursor.next());
    try {
      let pending = next();
      for (;;) {
        const listing = await pending;
        if (listing === null) return;
        // The next batch is read while this one is converted and used.
        pending = next();
        pending.catch(() => undefined);
        yield await servicesOf(listing);
      }
    } finally {
      await cursor.close().catch(() => undefined);
    }
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
    const call = this.describeCall('addDestination', k, undefined, d.name);
    this.requireFeatures(d, k, call);
    await this.change({ command: Command.IPVS_CMD_NEW_DEST, service: k.raw, destination: d.raw }, call);
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
    const call = this.describeCall('editDestination', k, undefined, key.name);
    const outcome = await this.job(call, async (): Promise<Outcome> => {
      const current = (await rawEntries<RawDestinationEntry>(await this.native.listDestinations(k.raw, { stats: false }))).find(
        (d) => d.address === key.raw.address && d.port === key.raw.port,
      );
      if (current === undefined) {
        // An absent service lists no destinations: tell the two cases apart.
        await this.native.list({ service: k.raw, destinations: false, stats: false });
        throw kernelError(Errno.ENOENT, call);
      }
      const merged = mergeSettings({ ...destinationSettings(current) }, changes);
      // The current tunnel settings go when the forwarding changes away from
      // 'tunnel'; a tunnel given with other forwarding is refused, as by addDestination.
      if (merged.forwarding !== 'tunnel' && (changes.tunnel === undefined || changes.tunnel === null)) delete merged.tunnel;
      const broken: Broken = [];
      const d = toDestination(merged, k, 'destination', broken);
      for (const b of broken) if (b.rule !== destinationRuleBroken(current, k.raw)) throw b.error;
      this.requireFeatures(d, k, call);
      const [o] = await this.queue.send([{ command: Command.IPVS_CMD_SET_DEST, service: k.raw, destination: d.raw }]);
      return o;
    });
    if (isFailure(outcome)) throw failureError(outcome, call);
  }

  /** Removes a real server from a service (ipvsadm -d). */
  async deleteDestination(service: ServiceKey, destination: Pick<DestinationSpec, 'address' | 'port'>): Promise<void> {
    const k = toServiceKey(service);
    const d = toDestinationKey(destination, k);
    await this.change({ command: Command.IPVS_CMD_DEL_DEST, service: k.raw, destination: d.raw }, this.describeCall('deleteDestination', k, undefined, d.name));
  }

  /** A service's destinations with stats. ESRCH if the service does not exist. */
  async listDestinations(service: ServiceKey): Promise<Destination[]> {
    const k = toServiceKey(service);
    const [s] = await this.job(this.describeCall('listDestinations', k), async () =>
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
    await this.change({ command: Command.IPVS_CMD_ZERO, service: k.raw, keyOnly: true }, this.describeCall('zero', k));
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

  /** Closes the socket once every call made before has settled. Always resolves. */
  async close(): Promise<void> {
    if (this.closing === null)
      this.closing = this.queue
        .settled()
        .then(() => this.native.close())
        .catch(() => undefined);
    return this.closing;
  }

  private describeCall(operation: string, service: CheckedKey, spec?: { scheduler: string; persistenceEngine?: string }, destination?: string): Failed {
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

  /** Refuses destination options the running kernel would silently drop. */
  private requireFeatures(d: CheckedDestination, service: CheckedKey, call: Failed): void {
    const raw = d.raw;
    const f = (feature: Parameters<KernelFeatures['require']>[0]) => this.features.require(feature, call.operation, call.object);
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
    if (isFailure(outcome)) throw failureError(outcome, failed);
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


