// Reading listings: the addon hands over JSON chunks of raw entries (kernel
// numbers, each chunk a Buffer outside the JS heap) and the counters in one
// BigUint64Array. They are parsed and turned into the public shapes a few
// milliseconds of entries per event-loop turn, so a table of 200,000
// destinations never blocks the loop for long.
import { addon, type RawDestinationEntry, type RawListing, type RawServiceEntry } from './addon';
import { byNumber, FAMILY_NUMBER, FORWARDING_NUMBER, PROTOCOL_NUMBER, TUNNEL_FLAG, TUNNEL_NUMBER } from './constants';
import { serviceSettings } from './convert';
import { Slicer } from './slices';
import type { Destination, DestinationSpec, Service, ServiceEntry, ServiceSpec, ServiceKey, Stats } from './types';

const PROTOCOL_NAME = byNumber(PROTOCOL_NUMBER);
const FORWARDING_NAME = byNumber(FORWARDING_NUMBER);
const TUNNEL_NAME = byNumber(TUNNEL_NUMBER);

const EMPTY = Buffer.alloc(0);

/**
 * Calls `each` for every entry of the listing, chunk by chunk, yielding to
 * the event loop whenever a slice has run SLICE_MS: between entries, not only
 * between chunks (a chunk of a stream's batch, parsed and turned into the
 * public shapes with its counters, ran 10-26 ms on the emulated test VM's
 * main thread, the first one of a fresh process the longest).
 */
async function forEachEntry<T>(listing: RawListing, each: (entry: T) => void): Promise<void> {
  const slicer = new Slicer(4);
  const chunks = listing.chunks;
  const encoding = listing.ascii ? 'latin1' : 'utf8';
  for (let i = 0; i < chunks.length; i++) {
    const entries = JSON.parse(chunks[i].toString(encoding)) as T[];
    // The text is garbage once parsed: freed now, not at the next scavenge
    // (a stream of batches would otherwise hold several batches' texts).
    addon.release(chunks[i]);
    chunks[i] = EMPTY;
    for (let k = 0; k < entries.length; k++) {
      each(entries[k]);
      if (slicer.due()) await slicer.pause();
    }
  }
}

/** The raw entries of a listing (for apply(): no public conversion). */
export async function rawEntries<T>(listing: RawListing): Promise<T[]> {
  const all: T[] = [];
  await forEachEntry<T>(listing, (entry) => {
    all.push(entry);
  });
  return all;
}

/**
 * A listing's counters as bigints. A zero counter (an idle destination, a
 * rate with no traffic) is the one shared 0n rather than a new heap object:
 * a listing of 200,000 destinations reads 2,000,000 counters, and every
 * bigint read from a BigUint64Array is an allocation the GC must later trace.
 */
class Counters {
  private readonly words: Uint32Array;
  constructor(private readonly values: BigUint64Array) {
    this.words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  }
  at(k: number): bigint {
    return this.words[2 * k] === 0 && this.words[2 * k + 1] === 0 ? 0n : this.values[k];
  }
  stats(index: number | null): Stats | null {
    if (index === null) return null;
    const i = index * 10;
    return {
      conns: this.at(i),
      inpkts: this.at(i + 1),
      outpkts: this.at(i + 2),
      inbytes: this.at(i + 3),
      outbytes: this.at(i + 4),
      cps: this.at(i + 5),
      inpps: this.at(i + 6),
      outpps: this.at(i + 7),
      inbps: this.at(i + 8),
      outbps: this.at(i + 9),
    };
  }
}

function countersOf(listing: RawListing): Counters | null {
  return listing.stats === null ? null : new Counters(listing.stats);
}

/** Frees the listing's counters now that every Stats holds its own bigints (as its chunks are freed once parsed). */
function releaseCounters(listing: RawListing): void {
  if (listing.stats !== null) addon.release(listing.stats);
}

function familyName(af: number): 'ipv4' | 'ipv6' {
  return af === FAMILY_NUMBER.ipv6 ? 'ipv6' : 'ipv4';
}

function publicTunnel(t: { type: number; port: number; flags: number }): Destination['tunnel'] {
  const type = TUNNEL_NAME.get(t.type) ?? 'ipip';
  const checksum = t.flags & TUNNEL_FLAG.remote ? 'remote' : t.flags & TUNNEL_FLAG.checksum ? 'checksum' : 'none';
  return type === 'gue' ? { type, port: t.port, checksum } : { type, checksum };
}

/** Turns a raw destination entry into the public shape, in place (it is fresh from JSON.parse). */
function toPublicDestination(d: RawDestinationEntry, counters: Counters | null): Destination {
  const out = d as unknown as Destination;
  out.family = familyName(d.family);
  out.forwarding = FORWARDING_NAME.get(d.forwarding) ?? 'masq';
  // The addon gives tunnel settings for tunnel forwarding only (null otherwise).
  if (d.tunnel !== null) out.tunnel = publicTunnel(d.tunnel);
  out.stats = counters === null ? null : counters.stats(d.stats);
  return out;
}

/** A listed destination's key and settings in the public shape (a spec that recreates it). */
export function destinationSettings(d: RawDestinationEntry): DestinationSpec {
  const forwarding = FORWARDING_NAME.get(d.forwarding) ?? 'masq';
  const spec: DestinationSpec = {
    address: d.address,
    port: d.port,
    weight: d.weight,
    forwarding,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
  };
  // As in toPublicDestination: the addon gives tunnel settings for tunnel forwarding only.
  if (d.tunnel !== null) spec.tunnel = publicTunnel(d.tunnel);
  return spec;
}

/** A listed service's key alone, in the public shape. */
export function serviceKeyOf(s: RawServiceEntry): ServiceKey {
  if (s.fwmark) return { fwmark: s.fwmark, family: familyName(s.family) };
  return { protocol: PROTOCOL_NAME.get(s.protocol) ?? 'tcp', address: s.address, port: s.port };
}

/** A listed service's key and settings in the public shape (a spec that recreates it). */
export function serviceSpecOf(s: RawServiceEntry): ServiceSpec {
  const family = familyName(s.family);
  const settings = serviceSettings(s);
  // Built field by field, not by spreading (V8's slow path; this runs per listed service).
  const spec = (
    s.fwmark
      ? { family, fwmark: s.fwmark, scheduler: settings.scheduler }
      : { family, protocol: PROTOCOL_NAME.get(s.protocol) ?? 'tcp', address: s.address, port: s.port, scheduler: settings.scheduler }
  ) as ServiceSpec & Record<string, unknown>;
  spec.persistence = settings.persistence;
  spec.persistenceEngine = settings.persistenceEngine;
  spec.onePacket = settings.onePacket;
  spec.schedulerFlags = settings.schedulerFlags;
  return spec;
}

function toPublicService(s: RawServiceEntry, counters: Counters | null): ServiceEntry {
  const entry = serviceSpecOf(s) as ServiceEntry;
  entry.stats = counters === null ? null : counters.stats(s.stats);
  return entry;
}

/** Services with their destinations, in the public shape. */
export async function servicesOf(listing: RawListing): Promise<Service[]> {
  const out: Service[] = [];
  const counters = countersOf(listing);
  await forEachEntry<RawServiceEntry>(listing, (s) => {
    const service = toPublicService(s, counters) as Service;
    const destinations = s.destinations ?? [];
    for (const d of destinations) toPublicDestination(d, counters);
    service.destinations = destinations as unknown as Destination[];
    out.push(service);
  });
  releaseCounters(listing);
  return out;
}

/** Services without destinations, in the public shape. */
export async function serviceEntriesOf(listing: RawListing): Promise<ServiceEntry[]> {
  const out: ServiceEntry[] = [];
  const counters = countersOf(listing);
  await forEachEntry<RawServiceEntry>(listing, (s) => {
    out.push(toPublicService(s, counters));
  });
  releaseCounters(listing);
  return out;
}

/**
 * A JSON.stringify replacer that writes bigint counters as decimal strings,
 * so `JSON.stringify(await list(), jsonReplacer)` keeps 64-bit values exact.
 * Such a document is valid input to apply() (stats are ignored there).
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
