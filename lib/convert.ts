// Public shapes -> the addon's raw shapes, with validation on the way in, the
// names used in messages, and the identities apply() and the edits compare.
// Each field keeps its public name down to the wire (raw values are the
// kernel's numbers; see constants.ts).
import type { RawDaemon, RawDestination, RawDestinationEntry, RawService, RawServiceEntry, RawServiceKey, RawTimeouts } from './addon';
import { hostPort, ipv4Number, ipv4Text, maskPrefix, prefixMask, versionOf } from './address';
import {
  DEFAULT_PERSISTENCE_TIMEOUT,
  Family,
  FAMILY_NUMBER,
  FORWARDING_NUMBER,
  ForwardingMethod,
  INTERFACE_MAX_LENGTH,
  NAME_MAX_LENGTH,
  PROTOCOL_NUMBER,
  Protocol,
  ServiceFlag,
  SYNC_STATE_NUMBER,
  TUNNEL_FLAG,
  TUNNEL_NUMBER,
  TunnelChecksum,
  TunnelType,
} from './constants';
import type { SyncState } from './types';
import {
  describe,
  expectAddress,
  expectBoolean,
  expectInteger,
  expectInterfaceName,
  expectName,
  expectOneOf,
  expectObject,
  fields,
  isPlainObject,
  Name,
  optionalInteger,
  refuseHidden,
  refuseUnknown,
} from './validate';

const PROTOCOLS = Object.keys(PROTOCOL_NUMBER) as Protocol[];
const FORWARDING_METHODS = Object.keys(FORWARDING_NUMBER) as ForwardingMethod[];
const TUNNEL_TYPES = Object.keys(TUNNEL_NUMBER) as TunnelType[];
const CHECKSUMS = Object.keys(TUNNEL_FLAG) as TunnelChecksum[];
const FAMILIES: Family[] = ['ipv4', 'ipv6'];

const U32_MAX = 0xffffffff;
const INT32_MAX = 0x7fffffff;
/** The kernel stores timeout * HZ in 32 bits; this is safe for HZ up to 1000. */
export const PERSISTENCE_TIMEOUT_MAX = Math.floor(U32_MAX / 1000);

// --- Service keys -----------------------------------------------------------

const SETTING_FIELDS = ['scheduler', 'persistence', 'persistenceEngine', 'onePacket', 'schedulerFlags'];
/** What a service spec may hold: its key, its settings, and what list() adds. */
const SERVICE_FIELDS = new Set(['protocol', 'address', 'port', 'fwmark', 'family', ...SETTING_FIELDS, 'stats', 'destinations']);
export const SERVICE_SETTING_FIELDS = new Set(SETTING_FIELDS);

/** A validated key in the addon's shape, plus its description and identity. */
export interface CheckedKey {
  raw: RawServiceKey;
  /** The key fields alone (what destination requests and deletes send; `raw` may hold settings too). */
  key: RawServiceKey;
  family: Family;
  /** 'service tcp 1.1.1.1:80' or 'service fwmark 5 (ipv4)'. */
  name: string;
  /** Equal for two keys exactly when they name the same service. */
  id: string;
}

/** The identity of a raw service key (as the addon and the kernel's listing give it). */
export function serviceId(raw: RawServiceKey): string {
  return raw.fwmark ? `fwmark ${raw.fwmark} ${raw.family}` : `${raw.protocol} ${raw.address} ${raw.port}`;
}

export function serviceName(raw: RawServiceKey): string {
  if (raw.fwmark) return `service fwmark ${raw.fwmark} (${raw.family === FAMILY_NUMBER.ipv6 ? 'ipv6' : 'ipv4'})`;
  const protocol = PROTOCOLS.find((p) => PROTOCOL_NUMBER[p] === raw.protocol) ?? `protocol ${raw.protocol}`;
  return `service ${protocol} ${hostPort(raw.address ?? '', raw.port ?? 0)}`;
}

function checkedKey(value: { fwmark: unknown; protocol: unknown; address: unknown; port: unknown; family: unknown }, name: string): CheckedKey {
  if (value.fwmark !== undefined) {
    const fwmark = expectInteger(value.fwmark, `${name}.fwmark`, 1, U32_MAX);
    for (const field of ['protocol', 'address', 'port'] as const)
      if (value[field] !== undefined)
        throw new TypeError(`Expected either ${name}.fwmark or ${name}.protocol/address/port but received both (${field}: ${describe(value[field])})`);
    const family = value.family === undefined ? 'ipv4' : expectOneOf(value.family, `${name}.family`, FAMILIES);
    // Every key field is set, so that nothing inherited can stand in for one.
    const raw = { family: FAMILY_NUMBER[family], fwmark, protocol: 0, address: '', port: 0 };
    return { raw, key: raw, family, name: serviceName(raw), id: serviceId(raw) };
  }
  const protocol = expectOneOf(value.protocol, `${name}.protocol`, PROTOCOLS);
  const address = expectAddress(value.address, `${name}.address`);
  const family: Family = versionOf(address) === 6 ? 'ipv6' : 'ipv4';
  if (value.family !== undefined && value.family !== family)
    throw new RangeError(`Expected ${name}.family to be '${family}' for the address ${address} but received ${describe(value.family)}`);
  const port = expectInteger(value.port, `${name}.port`, 0, 65535);
  const raw = { family: FAMILY_NUMBER[family], protocol: PROTOCOL_NUMBER[protocol], address, port, fwmark: 0 };
  return { raw, key: raw, family, name: serviceName(raw), id: serviceId(raw) };
}

/**
 * A service spec's own fields, each read once, into an object of one fixed
 * shape (apply() reads 20,000 of these: a switch over Object.keys() is several
 * times cheaper than a null-prototype copy). Unknown and hidden fields are refused.
 */
function serviceFields(value: unknown, name: string) {
  const object = expectObject(value, name);
  const keys = Object.keys(object);
  refuseHidden(object, keys.length, name);
  const f = {
    protocol: undefined as unknown, address: undefined as unknown, port: undefined as unknown, fwmark: undefined as unknown,
    family: undefined as unknown, scheduler: undefined as unknown, persistence: undefined as unknown,
    persistenceEngine: undefined as unknown, onePacket: undefined as unknown, schedulerFlags: undefined as unknown,
  };
  for (let i = 0; i < keys.length; i++) {
    switch (keys[i]) {
      case 'protocol': f.protocol = object.protocol; break;
      case 'address': f.address = object.address; break;
      case 'port': f.port = object.port; break;
      case 'fwmark': f.fwmark = object.fwmark; break;
      case 'family': f.family = object.family; break;
      case 'scheduler': f.scheduler = object.scheduler; break;
      case 'persistence': f.persistence = object.persistence; break;
      case 'persistenceEngine': f.persistenceEngine = object.persistenceEngine; break;
      case 'onePacket': f.onePacket = object.onePacket; break;
      case 'schedulerFlags': f.schedulerFlags = object.schedulerFlags; break;
      // What list() adds: a listed service is valid input.
      case 'stats': case 'destinations': break;
      default: if (object[keys[i]] !== undefined) refuseUnknown(keys[i], name, SERVICE_FIELDS);
    }
  }
  return f;
}

/** A service key; a full spec or a listed service also serves as one (its settings are ignored). */
export function toServiceKey(value: unknown, name = 'service'): CheckedKey {
  return checkedKey(serviceFields(value, name), name);
}

// --- Services -----------------------------------------------------------------

function toNetmask(value: unknown, family: Family, name: string): number {
  if (family === 'ipv6') {
    if (value === undefined) return 128;
    // The kernel rejects prefix 0 for IPv6.
    return expectInteger(value, name, 1, 128);
  }
  if (value === undefined) return U32_MAX;
  if (typeof value === 'number') return prefixMask(expectInteger(value, name, 0, 32));
  if (typeof value !== 'string' || versionOf(expectAddress(value, name)) !== 4)
    throw new TypeError(`Expected a prefix length 0-32 or a dotted IPv4 mask for ${name} but received ${describe(value)}`);
  return ipv4Number(value);
}

/** The public form of a kernel netmask: a prefix length, or dotted text for a non-contiguous IPv4 mask. */
export function netmaskValue(netmask: number, family: number): number | string {
  if (family === FAMILY_NUMBER.ipv6) return netmask;
  return maskPrefix(netmask) ?? ipv4Text(netmask);
}

export interface CheckedService extends CheckedKey {
  raw: RawService;
}

/**
 * A service spec checked into the addon's shape, and held to the library's
 * rules for new services (see ServiceRule). `broken`: where to put the rules
 * it breaks instead of throwing (apply() accepts a broken rule where the
 * kernel already holds the service breaking it).
 */
export function toService(value: unknown, name = 'service', broken?: Broken): CheckedService {
  const spec = serviceFields(value, name);
  const key = checkedKey(spec, name);
  const { scheduler, flags, timeout, netmask, persistenceEngine } = serviceSettingsOf(spec, key, name, false);
  // Built field by field: an object spread with extra fields takes V8's slow
  // path, and apply() checks 20,000 services at a time.
  const k = key.raw;
  const raw = { family: k.family, protocol: k.protocol, address: k.address, port: k.port, fwmark: k.fwmark, scheduler, flags, timeout, netmask, persistenceEngine };
  const checked = { raw, key: k, family: key.family, name: key.name, id: key.id };
  const rule = serviceRuleBroken(raw);
  if (rule !== null) {
    const error = serviceRuleError(rule, name, key, spec.persistence);
    if (broken === undefined) throw error;
    broken.push({ rule, error, service: checked });
  }
  return checked;
}

/**
 * Checks each setting an edit gives (editService's `changes`) before the
 * current settings are read, so that a bad value is a TypeError/RangeError
 * whether or not the service exists. What depends on the settings it keeps
 * (an engine or port 0 needs persistence) is checked once they are merged.
 */
export function checkServiceChanges(changes: Record<string, unknown>, key: CheckedKey, name = 'changes'): void {
  serviceSettingsOf(serviceFields(changes, name), key, name, true);
}

/** A spec's settings with their defaults; `partial`: only the settings given are checked (an edit's changes). */
function serviceSettingsOf(spec: ReturnType<typeof serviceFields>, key: CheckedKey, name: string, partial: boolean) {
  const scheduler = spec.scheduler === undefined ? 'wlc' : expectName(spec.scheduler, `${name}.scheduler`, NAME_MAX_LENGTH);
  let flags = 0;
  let timeout = 0;
  let netmask = toNetmask(undefined, key.family, `${name}.persistence.netmask`);
  if (spec.persistence !== undefined && spec.persistence !== null) {
    const p = fields(spec.persistence, `${name}.persistence`, PERSISTENCE_FIELDS);
    timeout = optionalInteger(p.timeout, `${name}.persistence.timeout`, 1, PERSISTENCE_TIMEOUT_MAX, DEFAULT_PERSISTENCE_TIMEOUT);
    netmask = toNetmask(p.netmask, key.family, `${name}.persistence.netmask`);
    flags |= ServiceFlag.PERSISTENT;
  }
  let persistenceEngine = '';
  if (spec.persistenceEngine !== undefined && spec.persistenceEngine !== null)
    persistenceEngine = expectName(spec.persistenceEngine, `${name}.persistenceEngine`, NAME_MAX_LENGTH);
  if (expectBoolean(spec.onePacket, `${name}.onePacket`)) {
    // An edit asking for it on a TCP service is refused at once; a whole spec is held to the rule by toService.
    if (partial && !key.raw.fwmark && key.raw.protocol !== PROTOCOL_NUMBER.udp) throw serviceRuleError('onePacket', name, key, spec.persistence);
    flags |= ServiceFlag.ONEPACKET;
  }
  if (spec.schedulerFlags !== undefined) {
    const f = fields(spec.schedulerFlags, `${name}.schedulerFlags`, SCHEDULER_FLAG_FIELDS);
    if (expectBoolean(f.fallback, `${name}.schedulerFlags.fallback`)) flags |= ServiceFlag.SCHED1;
    if (expectBoolean(f.port, `${name}.schedulerFlags.port`)) flags |= ServiceFlag.SCHED2;
    if (expectBoolean(f.flag3, `${name}.schedulerFlags.flag3`)) flags |= ServiceFlag.SCHED3;
  }
  return { scheduler, flags, timeout, netmask, persistenceEngine };
}

// --- The library's rules for new objects -------------------------------------------
//
// The kernel accepts objects that ipvsadm never makes and that do not work as
// they read (a direct-routing destination on another port than its service's:
// the packet keeps the virtual port). The library refuses them from its
// callers, but what the kernel already holds (made by keepalived or any tool
// speaking netlink) is never refused: undo, drains and read-backs are built
// from the kernel's own entries, and apply() accepts a desired object that
// breaks a rule only where the kernel holds it breaking the same rule (so that
// apply(await list()) round-trips).

/** A rule of the library's that the kernel does not enforce. */
export type ServiceRule = 'engineWithoutPersistence' | 'onePacketNotDatagram' | 'portZeroWithoutPersistence';
export type DestinationRule = 'portNotService' | 'familyWithoutTunnel';

/** A broken rule, set aside for the caller of toService/toDestination to decide. */
export type BrokenRule =
  | { rule: ServiceRule; error: RangeError; service: CheckedService; destination?: undefined }
  | { rule: DestinationRule; error: RangeError; service: CheckedKey; destination: CheckedDestination };
export type Broken = BrokenRule[];

/** The first rule a raw service breaks, or null. */
export function serviceRuleBroken(raw: RawService): ServiceRule | null {
  const persistent = (raw.flags & ServiceFlag.PERSISTENT) !== 0;
  if (raw.persistenceEngine && !persistent) return 'engineWithoutPersistence';
  // One-packet scheduling is per datagram.
  if (raw.flags & ServiceFlag.ONEPACKET && !raw.fwmark && raw.protocol !== PROTOCOL_NUMBER.udp) return 'onePacketNotDatagram';
  // A port-zero service matches every port; ipvsadm allows it only with persistence.
  if (!raw.fwmark && raw.port === 0 && !persistent) return 'portZeroWithoutPersistence';
  return null;
}

function serviceRuleError(rule: ServiceRule | 'onePacket', name: string, key: CheckedKey, persistence: unknown): RangeError {
  switch (rule) {
    case 'engineWithoutPersistence':
      return new RangeError(`Expected ${name}.persistence to be set for ${name}.persistenceEngine (an engine needs a persistent service) but received ${describe(persistence)}`);
    case 'onePacket':
    case 'onePacketNotDatagram':
      return new RangeError(`Expected a udp or fwmark service for ${name}.onePacket (one-packet scheduling is per datagram) but received ${key.name}`);
    case 'portZeroWithoutPersistence':
      return new RangeError(`Expected ${name}.persistence to be set for port 0 (a port-zero service must be persistent) but received ${describe(persistence)}`);
  }
}

/** The first rule a raw destination of `service` breaks, or null. */
export function destinationRuleBroken(d: RawDestination, service: RawServiceKey): DestinationRule | null {
  // Only NAT rewrites the port: with other methods the packet keeps the
  // virtual port, so another port would be a lie (ipvsadm silently replaces it).
  const servicePort = service.fwmark ? 0 : service.port ?? 0;
  if (d.forwarding !== FORWARDING_NUMBER.masq && servicePort !== 0 && d.port !== servicePort) return 'portNotService';
  if (d.family !== service.family && d.forwarding !== FORWARDING_NUMBER.tunnel) return 'familyWithoutTunnel';
  return null;
}

function destinationRuleError(rule: DestinationRule, name: Name, d: RawDestination, service: CheckedKey): RangeError {
  const forwarding = FORWARDING_METHODS.find((f) => FORWARDING_NUMBER[f] === d.forwarding) ?? String(d.forwarding);
  if (rule === 'portNotService')
    return new RangeError(`Expected ${name}.port to be the service's port ${defaultPort(service)} (only 'masq' forwarding rewrites ports) but received ${d.port}`);
  return new RangeError(`Expected forwarding 'tunnel' for ${name}, whose address family differs from its ${service.family} service, but received '${forwarding}'`);
}

/**
 * Whether the kernel's own object breaks `rule` too (then a desired object
 * breaking it describes what is there, and is accepted).
 */
export function kernelBreaks(broken: BrokenRule, have: RawServiceEntry | undefined): boolean {
  if (have === undefined) return false;
  if (broken.destination === undefined) return serviceRuleBroken(have) === broken.rule;
  const hd = destinationIn(have, broken.destination);
  return hd !== undefined && destinationRuleBroken(hd, have) === broken.rule;
}

/**
 * Accepts each broken rule the table's own object breaks too (it describes
 * what is there), and throws the first other one: a caller may not ask for
 * such an object, but may keep one the kernel holds.
 */
export function settleBroken(broken: Broken, lookup: (serviceId: string) => RawServiceEntry | undefined): void {
  for (const b of broken) if (!kernelBreaks(b, lookup(b.service.id))) throw b.error;
}

/** The kernel's destination at an address and port of a listed service, if any. */
export function destinationIn(have: RawServiceEntry | null | undefined, d: { address: string; port: number }): RawDestinationEntry | undefined {
  return have?.destinations?.find((x) => x.port === d.port && x.address === d.address);
}

// --- From the kernel's own entries (never refused) ------------------------------------

/** A listed service's key fields alone, every one set (what a delete or a destination request sends). */
export function rawKeyOfEntry(entry: RawServiceEntry): RawServiceKey {
  return entry.fwmark
    ? { family: entry.family, fwmark: entry.fwmark, protocol: 0, address: '', port: 0 }
    : { family: entry.family, protocol: entry.protocol, address: entry.address, port: entry.port, fwmark: 0 };
}

/** A listed service as a checked one: its exact settings, no rule applied (it is what the kernel holds). */
export function serviceOfEntry(entry: RawServiceEntry): CheckedService {
  const raw: RawService = {
    family: entry.family, protocol: entry.protocol, address: entry.address, port: entry.port, fwmark: entry.fwmark,
    scheduler: entry.scheduler, flags: entry.flags, timeout: entry.timeout, netmask: entry.netmask, persistenceEngine: entry.persistenceEngine,
  };
  const key = rawKeyOfEntry(entry);
  return { raw, key, family: entry.family === FAMILY_NUMBER.ipv6 ? 'ipv6' : 'ipv4', name: serviceName(key), id: serviceId(key) };
}

/**
 * A listed service's key as a checked one, its id already known: what a
 * delete needs (its name, for errors only, is made when asked for).
 */
export function keyOfEntry(entry: RawServiceEntry, id: string): CheckedKey {
  return new EntryKey(rawKeyOfEntry(entry), entry.family === FAMILY_NUMBER.ipv6 ? 'ipv6' : 'ipv4', id);
}

class EntryKey implements CheckedKey {
  constructor(readonly key: RawServiceKey, readonly family: Family, readonly id: string) {}
  get raw(): RawServiceKey {
    return this.key;
  }
  get name(): string {
    return serviceName(this.key);
  }
}

/** A listed destination as a checked one: its exact settings (tunnel ones for tunnel forwarding), no rule applied. */
export function destinationOfEntry(entry: RawDestinationEntry): CheckedDestination {
  const d = new CheckedDestination(entry.family, entry.address, entry.port);
  d.forwarding = entry.forwarding;
  d.weight = entry.weight;
  d.upperThreshold = entry.upperThreshold;
  d.lowerThreshold = entry.lowerThreshold;
  if (entry.tunnel !== null) {
    d.tunnelType = entry.tunnel.type;
    d.tunnelPort = entry.tunnel.port;
    d.tunnelFlags = entry.tunnel.flags;
  }
  return d;
}

const PERSISTENCE_FIELDS = new Set(['timeout', 'netmask']);
const SCHEDULER_FLAG_FIELDS = new Set(['fallback', 'port', 'flag3']);

/** A service's settings in the public shape, from its raw form (for edits and listings). */
export function serviceSettings(raw: RawService): {
  scheduler: string;
  persistence: { timeout: number; netmask: number | string } | null;
  persistenceEngine: string | null;
  onePacket: boolean;
  schedulerFlags: { fallback: boolean; port: boolean; flag3: boolean };
} {
  const flags = raw.flags;
  return {
    scheduler: raw.scheduler,
    persistence: flags & ServiceFlag.PERSISTENT ? { timeout: raw.timeout, netmask: netmaskValue(raw.netmask, raw.family) } : null,
    persistenceEngine: raw.persistenceEngine || null,
    onePacket: (flags & ServiceFlag.ONEPACKET) !== 0,
    schedulerFlags: {
      fallback: (flags & ServiceFlag.SCHED1) !== 0,
      port: (flags & ServiceFlag.SCHED2) !== 0,
      flag3: (flags & ServiceFlag.SCHED3) !== 0,
    },
  };
}

/** Nested settings merge field by field: `{persistence: {timeout: 60}}` keeps the netmask. */
const NESTED_SETTINGS = new Set(['persistence', 'schedulerFlags', 'tunnel']);

/** A plain object whose own properties are all enumerable (what fields() accepts). */
function isPlainData(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.getOwnPropertyNames(value).every((k) => Object.prototype.propertyIsEnumerable.call(value, k));
}

/** `current` with `changes` laid over it; nested settings merge one level down, null clears. */
export function mergeSettings(current: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current };
  for (const [field, value] of Object.entries(changes)) {
    if (value === undefined) continue;
    // Own properties only: an inherited `tunnel` (Object.prototype pollution) is not the current setting.
    const before = Object.prototype.hasOwnProperty.call(current, field) ? current[field] : undefined;
    // Only a plain object merges: anything else (an array, a Map, a proxy, hidden
    // properties) is laid as is, for the checks to refuse it naming the field.
    if (NESTED_SETTINGS.has(field) && isPlainData(value) && before !== null && typeof before === 'object') {
      const nested: Record<string, unknown> = { ...(before as Record<string, unknown>) };
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) nested[k] = v;
      merged[field] = nested;
    } else merged[field] = value;
  }
  return merged;
}

// --- Destinations ---------------------------------------------------------------

export const DESTINATION_FIELDS = new Set([
  'address', 'port', 'weight', 'forwarding', 'upperThreshold', 'lowerThreshold', 'tunnel',
  // What list() adds: a listed destination is valid input.
  'family', 'activeConnections', 'inactiveConnections', 'persistentConnections', 'stats',
]);
export const DESTINATION_SETTING_FIELDS = new Set(['weight', 'forwarding', 'upperThreshold', 'lowerThreshold', 'tunnel']);

/**
 * A validated destination: itself in the addon's shape (its own fields are
 * the RawDestination that requests carry and JSON.stringify writes), with its
 * identity and name as getters, made only when needed. One object per
 * destination, not two: apply() checks 220,000 of them for a 20,000 x 10 table.
 */
export class CheckedDestination implements RawDestination {
  forwarding = 0;
  weight = 0;
  upperThreshold = 0;
  lowerThreshold = 0;
  tunnelType?: number;
  tunnelPort?: number;
  tunnelFlags?: number;

  constructor(
    readonly family: number,
    readonly address: string,
    readonly port: number,
  ) {}

  /** The addon's shape (this object itself). */
  get raw(): RawDestination {
    return this;
  }

  /** Equal for two destinations of one service exactly when they are the same (made on demand: apply() compares address and port). */
  get id(): string {
    return destinationId(this.address, this.port);
  }

  /** 'destination 2.2.2.2:80' */
  get name(): string {
    return `destination ${hostPort(this.address, this.port)}`;
  }
}

export function destinationId(address: string, port: number): string {
  return `${address} ${port}`;
}

function defaultPort(service: CheckedKey): number {
  return service.raw.fwmark ? 0 : service.raw.port ?? 0;
}

/**
 * A destination spec checked into the addon's shape. This runs once per
 * destination in apply(), so it reads the spec's own fields with one pass
 * over Object.keys() (each getter runs once, nothing inherited counts, no copy
 * is made). `mode`: 'key', address and port only (settings are not checked,
 * but unknown fields are still refused); 'full', a whole destination,
 * defaults applied; 'changes', an edit's: each setting given is checked, and
 * what depends on settings it keeps is left for the merged destination.
 */
function checkDestination(value: unknown, service: CheckedKey, name: Name, mode: 'key' | 'full' | 'changes', broken?: Broken): CheckedDestination {
  const spec = expectObject(value, name);
  let address: unknown, port: unknown, family: unknown, weight: unknown, forwardingName: unknown;
  let upperThreshold: unknown, lowerThreshold: unknown, tunnel: unknown;
  const keys = Object.keys(spec);
  refuseHidden(spec, keys.length, name);
  for (let i = 0; i < keys.length; i++) {
    switch (keys[i]) {
      case 'address': address = spec.address; break;
      case 'port': port = spec.port; break;
      case 'family': family = spec.family; break;
      case 'weight': weight = spec.weight; break;
      case 'forwarding': forwardingName = spec.forwarding; break;
      case 'upperThreshold': upperThreshold = spec.upperThreshold; break;
      case 'lowerThreshold': lowerThreshold = spec.lowerThreshold; break;
      case 'tunnel': tunnel = spec.tunnel; break;
      // What list() adds: a listed destination is valid input.
      case 'activeConnections': case 'inactiveConnections': case 'persistentConnections': case 'stats': break;
      default: if (spec[keys[i]] !== undefined) refuseUnknown(keys[i], name, DESTINATION_FIELDS);
    }
  }
  const canonical = expectAddress(address, name, 'address');
  const version = versionOf(canonical);
  const servicePort = defaultPort(service);
  const raw = new CheckedDestination(
    version === 6 ? FAMILY_NUMBER.ipv6 : FAMILY_NUMBER.ipv4,
    canonical,
    optionalInteger(port, name, 0, 65535, servicePort, 'port'),
  );
  if (family !== undefined && family !== (version === 6 ? 'ipv6' : 'ipv4'))
    throw new RangeError(`Expected ${name}.family to match the address ${canonical} but received ${describe(family)}`);
  if (mode === 'key') return raw;
  const full = mode === 'full';
  const forwarding = forwardingName === undefined ? 'route' : expectOneOf(forwardingName, name, FORWARDING_METHODS, 'forwarding');
  raw.weight = optionalInteger(weight, name, 0, INT32_MAX, 1, 'weight');
  raw.upperThreshold = optionalInteger(upperThreshold, name, 0, INT32_MAX, 0, 'upperThreshold');
  raw.lowerThreshold = optionalInteger(lowerThreshold, name, 0, INT32_MAX, 0, 'lowerThreshold');
  if ((full || (upperThreshold !== undefined && lowerThreshold !== undefined)) && raw.lowerThreshold > raw.upperThreshold)
    throw new RangeError(`Expected ${name}.lowerThreshold to be at most upperThreshold (${raw.upperThreshold}) but received ${raw.lowerThreshold}`);
  raw.forwarding = FORWARDING_NUMBER[forwarding];
  if (full) {
    const rule = destinationRuleBroken(raw, service.raw);
    if (rule !== null) {
      const error = destinationRuleError(rule, name, raw, service);
      if (broken === undefined) throw error;
      broken.push({ rule, error, service, destination: raw });
    }
  }
  if (tunnel !== undefined && tunnel !== null) {
    if ((full || forwardingName !== undefined) && forwarding !== 'tunnel')
      throw new RangeError(`Expected ${name}.forwarding to be 'tunnel' when ${name}.tunnel is set but received '${forwarding}'`);
    // An edit's tunnel merges over the current one: its fields alone, each checked.
    if (full) toTunnel(tunnel, `${name}.tunnel`, raw);
    else checkTunnelFields(tunnel, `${name}.tunnel`);
  }
  return raw;
}

/** Only address and port: what names a destination within its service. */
export function toDestinationKey(value: unknown, service: CheckedKey, name: Name = 'destination'): CheckedDestination {
  return checkDestination(value, service, name, 'key');
}

/** A whole destination, held to the library's rules (see toService for `broken`). */
export function toDestination(value: unknown, service: CheckedKey, name: Name = 'destination', broken?: Broken): CheckedDestination {
  return checkDestination(value, service, name, 'full', broken);
}

/** An edit's destination (editDestination): its key, and each setting it gives checked, before the current ones are read. */
export function checkDestinationChanges(value: unknown, service: CheckedKey, name: Name = 'destination'): CheckedDestination {
  return checkDestination(value, service, name, 'changes');
}

const TUNNEL_FIELDS = new Set(['type', 'port', 'checksum']);

/** Each tunnel field given, on its own (what the merged tunnel must also satisfy is checked by toTunnel). */
function checkTunnelFields(value: unknown, name: string): void {
  const t = fields(value, name, TUNNEL_FIELDS);
  if (t.type !== undefined) expectOneOf(t.type, `${name}.type`, TUNNEL_TYPES);
  if (t.checksum !== undefined) expectOneOf(t.checksum, `${name}.checksum`, CHECKSUMS);
  if (t.port !== undefined) expectInteger(t.port, `${name}.port`, 0, 65535);
}

function toTunnel(value: unknown, name: string, raw: RawDestination): void {
  const t = fields(value, name, TUNNEL_FIELDS);
  const type = t.type === undefined ? 'ipip' : expectOneOf(t.type, `${name}.type`, TUNNEL_TYPES);
  const checksum = t.checksum === undefined ? 'none' : expectOneOf(t.checksum, `${name}.checksum`, CHECKSUMS);
  if (type === 'ipip' && checksum !== 'none')
    throw new RangeError(`Expected ${name}.checksum 'none' for an ipip tunnel but received '${checksum}'`);
  if (type === 'gre' && checksum === 'remote')
    throw new RangeError(`Expected ${name}.checksum 'none' or 'checksum' for a gre tunnel but received 'remote'`);
  raw.tunnelType = TUNNEL_NUMBER[type];
  raw.tunnelFlags = TUNNEL_FLAG[checksum];
  if (type === 'gue') raw.tunnelPort = expectInteger(t.port, `${name}.port`, 1, 65535);
  // Other tunnels have no port: a listing that says 0 means none.
  else if (t.port !== undefined && t.port !== 0) throw new RangeError(`Expected no ${name}.port for a ${type} tunnel but received ${describe(t.port)}`);
}

// --- Timeouts and sync daemons --------------------------------------------------

/** The kernel multiplies by HZ into an int: this bound is safe for HZ up to 1000. */
export const TIMEOUT_MAX = Math.floor(INT32_MAX / 1000);
const TIMEOUT_FIELDS = new Set(['tcp', 'tcpFin', 'udp']);

export function toTimeouts(value: unknown): RawTimeouts {
  const t = fields(value, 'timeouts', TIMEOUT_FIELDS);
  // 0 (or leaving one out) keeps the current value.
  return {
    tcp: optionalInteger(t.tcp, 'timeouts.tcp', 0, TIMEOUT_MAX, 0),
    tcpFin: optionalInteger(t.tcpFin, 'timeouts.tcpFin', 0, TIMEOUT_MAX, 0),
    udp: optionalInteger(t.udp, 'timeouts.udp', 0, TIMEOUT_MAX, 0),
  };
}

const SYNC_STATES: SyncState[] = ['master', 'backup'];

export function toSyncState(value: unknown, name: string): SyncState {
  return expectOneOf(value, name, SYNC_STATES);
}

export interface CheckedDaemon {
  raw: RawDaemon;
  /** 'sync daemon master on eth0' */
  name: string;
  /** Uses options old kernels ignore. */
  extended: boolean;
}

const DAEMON_FIELDS = new Set(['state', 'interface', 'syncId', 'maxLength', 'group', 'port', 'ttl']);

export function toDaemon(value: unknown): CheckedDaemon {
  const d = fields(value, 'daemon', DAEMON_FIELDS);
  const state = toSyncState(d.state, 'daemon.state');
  const ifname = expectInterfaceName(d.interface, 'daemon.interface', INTERFACE_MAX_LENGTH);
  const raw: RawDaemon = { state: SYNC_STATE_NUMBER[state], interface: ifname, syncId: optionalInteger(d.syncId, 'daemon.syncId', 0, 255, 0) };
  if (d.maxLength !== undefined) raw.maxLength = expectInteger(d.maxLength, 'daemon.maxLength', 1, 65535);
  if (d.group !== undefined) {
    const address = expectAddress(d.group, 'daemon.group');
    const multicast = versionOf(address) === 4 ? ipv4Number(address) >>> 28 === 0xe : address.startsWith('ff');
    if (!multicast) throw new RangeError(`Expected a multicast address for daemon.group but received ${describe(d.group)}`);
    raw.group = address;
  }
  if (d.port !== undefined) raw.port = expectInteger(d.port, 'daemon.port', 1, 65535);
  if (d.ttl !== undefined) raw.ttl = expectInteger(d.ttl, 'daemon.ttl', 1, 255);
  return {
    raw,
    name: `sync daemon ${state} on ${ifname}`,
    extended: d.maxLength !== undefined || d.group !== undefined || d.port !== undefined || d.ttl !== undefined,
  };
}
