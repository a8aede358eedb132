// The reconciler's model of the table it owns: the kernel's entries (the
// shape the listing gives, without counters), as read at adoption and as
// changed since by the reconciler's own applied writes. It is the "current"
// side of the diff, so a change costs a diff of the services it touches, not
// a read of the table.
import { addon, type RawDestination, type RawDestinationEntry, type RawFingerprints, type RawServiceEntry } from '../addon';
import { FAMILY_NUMBER, FORWARDING_NUMBER } from '../constants';
import { destinationOfEntry, type CheckedDestination, type CheckedService } from '../convert';
import { addDestination, noDestinations, serviceFingerprint, type DestinationSums } from '../fingerprint';
import { Slicer } from '../slices';
import type { ChangeResult } from './operations';
import type { Planned } from './operations';
import { scan } from './plan';

/** A kernel destination entry from a checked destination (connection counts as last known, or 0). */
function destinationEntry(d: CheckedDestination, known?: RawDestinationEntry): RawDestinationEntry {
  return {
    address: d.address,
    family: d.family,
    port: d.port,
    weight: d.weight,
    forwarding: d.forwarding,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
    // As the listing gives it: tunnel settings for tunnel forwarding only.
    tunnel: d.forwarding === FORWARDING_NUMBER.tunnel ? { type: d.tunnelType ?? 0, port: d.tunnelPort ?? 0, flags: d.tunnelFlags ?? 0 } : null,
    activeConnections: known?.activeConnections ?? 0,
    inactiveConnections: known?.inactiveConnections ?? 0,
    persistentConnections: known?.persistentConnections ?? 0,
    stats: null,
  };
}

function serviceEntry(s: CheckedService, destinations: RawDestinationEntry[]): RawServiceEntry {
  const r = s.raw;
  return {
    family: r.family,
    protocol: r.protocol ?? 0,
    address: r.fwmark ? (r.family === FAMILY_NUMBER.ipv6 ? '::' : '0.0.0.0') : r.address ?? '',
    port: r.port ?? 0,
    fwmark: r.fwmark ?? 0,
    scheduler: r.scheduler,
    flags: r.flags,
    timeout: r.timeout,
    netmask: r.netmask,
    persistenceEngine: r.persistenceEngine,
    stats: null,
    destinations,
  };
}

/**
 * Fingerprint changes handed to the addon at once, at most: bounds the text
 * of one call, and the event-loop block it is (under emulation, 4,096 lines
 * were 73 ms in a churn and 1,024 up to 10 ms, joined and handed over; each
 * call costs about 0.5 ms there, so 256 add about 40 ms to the adoption of
 * 20,000 services).
 */
const FLUSH_AT = 256;

/**
 * A destination entry as the fingerprint reads it: the entry itself, but a
 * tunnel one (the only fields the fingerprint reads that an entry names
 * otherwise: its tunnel settings), which is converted.
 */
function printed(entry: RawDestinationEntry): RawDestination {
  return entry.forwarding === FORWARDING_NUMBER.tunnel ? destinationOfEntry(entry) : (entry as unknown as RawDestination);
}

/** The fingerprint sums of a service entry's destinations. */
function sumsOf(entry: RawServiceEntry): DestinationSums {
  const list = entry.destinations ?? [];
  const sums = noDestinations();
  for (let i = 0; i < list.length; i++) addDestination(sums, printed(list[i]), 1);
  return sums;
}

export class TableModel {
  /** The owned services by id, as the kernel holds them (as far as the reconciler knows). */
  readonly services = new Map<string, RawServiceEntry>();
  /**
   * The fingerprint of each service of the model, kept in the addon, so that
   * a verify compares the kernel's table with it on a worker thread. Changes
   * reach it in batches (see fingerprints).
   */
  private readonly table = new addon.Fingerprints();
  /**
   * Each service's destination sums (fingerprint.ts), changed with each of
   * its destinations: a service's fingerprint then costs the same whatever
   * its number of destinations (a churn touches one destination of each).
   */
  private readonly sums = new Map<string, DestinationSums>();
  /** Fingerprint changes not yet handed to the addon: lines 'id\tfingerprint' or 'id\t-'. */
  private pending: string[] = [];

  /**
   * The fingerprints, every change made so far included. A call into the
   * addon is costly (most of all under emulation), so changes are handed to
   * it in one call per batch rather than one per service.
   */
  get fingerprints(): RawFingerprints {
    this.flush();
    return this.table;
  }

  /** Replaces what is known of one service (a read-back); null: absent. */
  set(id: string, entry: RawServiceEntry | null): void {
    if (entry === null) {
      this.services.delete(id);
      this.sums.delete(id);
    } else {
      this.services.set(id, entry);
      this.sums.set(id, sumsOf(entry));
    }
    this.touch(id);
  }

  /** Removes every service. */
  clear(): void {
    this.services.clear();
    this.sums.clear();
    this.pending = [];
    this.table.clear();
  }

  /** Makes one service's fingerprint match its entry again (at the next flush). */
  private touch(id: string): void {
    const entry = this.services.get(id);
    this.pending.push(entry === undefined ? `${id}\t-` : `${id}\t${serviceFingerprint(entry, this.sums.get(id)!)}`);
    if (this.pending.length >= FLUSH_AT) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.table.update(this.pending.join('\n'));
    this.pending = [];
  }

  /**
   * Takes in what a run of a plan did: every applied operation changes the
   * model as it changed the kernel. Returns the ids of the services whose
   * state is not known any more (an operation failed, was answered
   * 'already', or its outcome is unknown): they are to be read back.
   */
  async record(plan: readonly Planned[], changes: readonly ChangeResult[]): Promise<Set<string>> {
    const unsure = new Set<string>();
    const touched = new Set<string>();
    // In slices: creating a 20,000 x 10 table records 220,000 operations
    // (sixteen between two reads of the clock overran the slice to 6-7 ms
    // under emulation).
    const slicer = new Slicer(4);
    for (let i = 0; i < changes.length; i++) {
      if (slicer.due()) await slicer.pause();
      const p = plan[i];
      const status = changes[i].status;
      if (status === 'skipped') continue;
      if (status !== 'applied') {
        unsure.add(p.service.id);
        continue;
      }
      this.apply(p);
      touched.add(p.service.id);
    }
    // The clock read after each service: its fingerprint reads its own fields
    // and its sums (sixteen of them overran the slice to 7-9 ms under emulation).
    const services = new Slicer(1);
    for (const id of touched) {
      this.touch(id);
      if (services.due()) await services.pause();
    }
    return unsure;
  }

  private apply(p: Planned): void {
    const id = p.service.id;
    const have = this.services.get(id);
    switch (p.operation.operation) {
      case 'addService':
        this.services.set(id, serviceEntry(p.service as CheckedService, []));
        this.sums.set(id, noDestinations());
        return;
      case 'editService':
        this.services.set(id, serviceEntry(p.service as CheckedService, have?.destinations ?? []));
        if (have === undefined) this.sums.set(id, noDestinations());
        return;
      case 'deleteService':
        this.services.delete(id);
        this.sums.delete(id);
        return;
      default: {
        if (have === undefined) return;
        const list = (have.destinations ??= []);
        const sums = this.sums.get(id)!;
        const d = p.destination as CheckedDestination;
        const at = scan(list, list.length, d.address, d.port);
        if (at !== undefined) addDestination(sums, printed(list[at]), -1);
        if (p.operation.operation === 'deleteDestination') {
          if (at !== undefined) list.splice(at, 1);
          return;
        }
        const entry = destinationEntry(d, at === undefined ? undefined : list[at]);
        if (at !== undefined) list[at] = entry;
        else list.push(entry);
        addDestination(sums, printed(entry), 1);
      }
    }
  }
}

