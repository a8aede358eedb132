// Public shapes <-> the addon's raw shapes, with validation on the way in and
// the names used in messages.
import * as net from 'net';
import type { RawDaemon, RawDestination, RawDestinationEntry, RawService, RawServiceEntry, RawServiceKey, RawTimeouts } from './addon';
import {
  AF_INET,
  AF_INET6,
  Family,
  FORWARDING_NUMBER,
  ForwardingMethod,
  PROTOCOL_NUMBER,
  Protocol,
  ServiceFlag,
  TUNNEL_NUMBER,
  TunnelType,
  byNumber,
} from './constants';
import type { Destination, Service, SyncDaemon, SyncState } from './types';
import {
  expectAddress,
  expectBoolean,
  expectInteger,
  expectKnownKeys,
  expectName,
  expectObject,
  expectOneOf,
  optionalInteger,
} from './validate';

const PROTOCOLS = Object.keys(PROTOCOL_NUMBER) as Protocol[];
const FORWARDING_METHODS = Object.keys(FORWARDING_NUMBER) as ForwardingMethod[];
const TUNNEL_TYPES = Object.keys(TUNNEL_NUMBER) as TunnelType[];
const FAMILIES: Family[] = ['ipv4', 'ipv6'];
const CHECKSUMS = ['none', 'checksum', 'remote'] as const;

const PROTOCOL_NAME = byNumber(PROTOCOL_NUMBER);
const FORWARDING_NAME = byNumber(FORWARDING_NUMBER);
const TUNNEL_NAME = byNumber(TUNNEL_NUMBER);

const U32_MAX = 0xffffffff;
const INT32_MAX = 0x7fffffff;
/** The kernel stores timeout * HZ in 32 bits; this is safe for HZ up to 1000. */
export const PERSISTENCE_TIMEOUT_MAX = Math.floor(U32_MAX / 1000);

// IP_VS_TUNNEL_ENCAP_FLAG_*: NOCSUM 0, CSUM 1, REMCSUM 2.
const CHECKSUM_FLAGS = { none: 0, checksum: 1, remote: 2 } as const;

export function familyNumber(family: Family): number {
  return family === 'ipv6' ? AF_INET6 : AF_INET;
}

export function familyName(af: number): Family {
  return af === AF_INET6 ? 'ipv6' : 'ipv4';
}

function hostPort(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

// --- Service keys -----------------------------------------------------------

const KEY_FIELDS = ['protocol', 'address', 'port', 'fwmark', 'family'];
const SERVICE_FIELDS = [...KEY_FIELDS, 'scheduler', 'persistence', 'persistenceEngine', 'onePacket', 'schedulerFlags'];
// What list() returns may be passed back as a key or spec.
const READ_BACK_FIELDS = ['flags', 'stats', 'destinations'];

/** A validated key in the addon's shape, plus its description for messages. */
export interface CheckedKey {
  raw: RawServiceKey;
  family: Family;
  /** 'service tcp 1.1.1.1:80' or 'service fwmark 5 (ipv4)'. */
  name: string;
}

export function toServiceKey(value: unknown, name = 'service'): CheckedKey {
  const key = expectObject(value, name);
  const fwmark = key.fwmark;
  if (fwmark !== undefined && fwmark !== 0) {
    expectInteger(fwmark, `${name}.fwmark`, 1, U32_MAX);
    const family = key.family === undefined ? 'ipv4' : expectOneOf(key.family, `${name}.family`, FAMILIES);
    return {
      raw: { family: familyNumber(family), fwmark: fwmark as number },
      family,
      name: `service fwmark ${fwmark} (${family})`,
    };
  }
  const protocol = expectOneOf(key.protocol, `${name}.protocol`, PROTOCOLS);
  const version = expectAddress(key.address, `${name}.address`);
  const family: Family = version === 6 ? 'ipv6' : 'ipv4';
  if (key.family !== undefined && key.family !== family)
    throw new RangeError(`Expected ${name}.family to match the ${family} address ${key.address} but received '${key.family}'`);
  const port = expectInteger(key.port, `${name}.port`, 0, 65535);
  const address = key.address as string;
  return {
    raw: { family: familyNumber(family), protocol: PROTOCOL_NUMBER[protocol], address, port },
    family,
    name: `service ${protocol} ${hostPort(address, port)}`,
  };
}

// --- Services -----------------------------------------------------------------

function toNetmask(value: unknown, family: Family, name: string): number {
  if (family === 'ipv6') {
    if (value === undefined) return 128;
    // The kernel rejects prefix 0 for IPv6.
    return expectInteger(value, name, 1, 128);
  }
  if (value === undefined) return U32_MAX;
  if (typeof value === 'number') {
    const prefix = expectInteger(value, name, 0, 32);
    return prefix === 0 ? 0 : (U32_MAX << (32 - prefix)) >>> 0;
  }
  if (typeof value !== 'string' || !net.isIPv4(value))
    throw new TypeError(`Expected a dotted IPv4 mask or a prefix length 0-32 for ${name} but received ${JSON.stringify(value)}`);
  return value.split('.').reduce((mask, octet) => ((mask << 8) | Number(octet)) >>> 0, 0);
}

/** The IPv4 mask as text, e.g. 0xffffff00 -> '255.255.255.0'. */
export function netmaskText(mask: number): string {
  return [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.');
}

export interface CheckedService extends CheckedKey {
  raw: RawService;
  scheduler: string;
  persistenceEngine?: string;
}

export function toService(value: unknown, name = 'service'): CheckedService {
  const key = toServiceKey(value, name);
  const spec = value as Record<string, unknown>;
  expectKnownKeys(spec, name, [...SERVICE_FIELDS, ...READ_BACK_FIELDS]);
  const scheduler = spec.scheduler === undefined ? 'wlc' : expectName(spec.scheduler, `${name}.scheduler`);

  let flags = 0;
  let timeout = 0;
  let netmask = toNetmask(undefined, key.family, `${name}.persistence.netmask`);
  if (spec.persistence !== undefined && spec.persistence !== null) {
    const p = expectObject(spec.persistence, `${name}.persistence`);
    expectKnownKeys(p, `${name}.persistence`, ['timeout', 'netmask']);
    timeout = expectInteger(p.timeout, `${name}.persistence.timeout`, 1, PERSISTENCE_TIMEOUT_MAX);
    netmask = toNetmask(p.netmask, key.family, `${name}.persistence.netmask`);
    flags |= ServiceFlag.PERSISTENT;
  }
  let persistenceEngine: string | undefined;
  if (spec.persistenceEngine !== undefined && spec.persistenceEngine !== null) {
    persistenceEngine = expectName(spec.persistenceEngine, `${name}.persistenceEngine`);
    if (!(flags & ServiceFlag.PERSISTENT))
      throw new RangeError(`Expected ${name}.persistence to be set: a persistence engine needs a persistent service`);
  }
  if (expectBoolean(spec.onePacket, `${name}.onePacket`)) {
    if (key.raw.protocol !== undefined && key.raw.protocol !== PROTOCOL_NUMBER.udp)
      throw new RangeError(`Expected a udp or fwmark service for ${name}.onePacket (one-packet scheduling is per datagram) but received protocol '${spec.protocol}'`);
    flags |= ServiceFlag.ONEPACKET;
  }
  // A port-zero service matches every port; ipvsadm allows it only with persistence.
  if (key.raw.port === 0 && !(flags & ServiceFlag.PERSISTENT))
    throw new RangeError(`Expected ${name}.persistence to be set for port 0 (a port-zero service must be persistent) but received ${spec.persistence}`);
  if (spec.schedulerFlags !== undefined) {
    const f = expectObject(spec.schedulerFlags, `${name}.schedulerFlags`);
    expectKnownKeys(f, `${name}.schedulerFlags`, ['fallback', 'port', 'flag3']);
    if (expectBoolean(f.fallback, `${name}.schedulerFlags.fallback`)) flags |= ServiceFlag.SCHED1;
    if (expectBoolean(f.port, `${name}.schedulerFlags.port`)) flags |= ServiceFlag.SCHED2;
    if (expectBoolean(f.flag3, `${name}.schedulerFlags.flag3`)) flags |= ServiceFlag.SCHED3;
  }
  return {
    ...key,
    raw: { ...key.raw, scheduler, flags, timeout, netmask, persistenceEngine: persistenceEngine ?? '' },
    scheduler,
    persistenceEngine,
  };
}

// --- Destinations ---------------------------------------------------------------

const DESTINATION_FIELDS = ['address', 'port', 'weight', 'forwarding', 'upperThreshold', 'lowerThreshold', 'tunnel'];
const DESTINATION_READ_BACK_FIELDS = ['family', 'activeConnections', 'inactiveConnections', 'persistentConnections', 'stats'];

export interface CheckedDestination {
  raw: RawDestination;
  /** 'destination 2.2.2.2:80' */
  name: string;
}

/** Only address and port: what names a destination within its service. */
export function toDestinationKey(value: unknown, service: CheckedKey, name = 'destination'): CheckedDestination {
  const d = expectObject(value, name);
  const version = expectAddress(d.address, `${name}.address`);
  const defaultPort = service.raw.fwmark ? 0 : service.raw.port ?? 0;
  const port = optionalInteger(d.port, `${name}.port`, 0, 65535, defaultPort);
  const address = d.address as string;
  return {
    raw: {
      family: version === 6 ? AF_INET6 : AF_INET,
      address,
      port,
      forwardingMethod: 0,
      weight: 0,
      upperThreshold: 0,
      lowerThreshold: 0,
    },
    name: `destination ${hostPort(address, port)}`,
  };
}

export function toDestination(value: unknown, service: CheckedKey, name = 'destination'): CheckedDestination {
  const checked = toDestinationKey(value, service, name);
  const d = value as Record<string, unknown>;
  expectKnownKeys(d, name, [...DESTINATION_FIELDS, ...DESTINATION_READ_BACK_FIELDS]);
  const forwarding = d.forwarding === undefined ? 'route' : expectOneOf(d.forwarding, `${name}.forwarding`, FORWARDING_METHODS);
  const weight = optionalInteger(d.weight, `${name}.weight`, 0, INT32_MAX, 1);
  const upperThreshold = optionalInteger(d.upperThreshold, `${name}.upperThreshold`, 0, INT32_MAX, 0);
  const lowerThreshold = optionalInteger(d.lowerThreshold, `${name}.lowerThreshold`, 0, INT32_MAX, 0);
  if (lowerThreshold > upperThreshold)
    throw new RangeError(
      `Expected ${name}.lowerThreshold to be at most upperThreshold (${upperThreshold}) but received ${lowerThreshold}`,
    );
  const raw = checked.raw;
  // Only NAT rewrites the port: with other methods the packet keeps the
  // virtual port, so another port would be a lie (ipvsadm silently replaces it).
  const servicePort = service.raw.fwmark ? 0 : service.raw.port ?? 0;
  if (forwarding !== 'masq' && servicePort !== 0 && raw.port !== servicePort)
    throw new RangeError(
      `Expected ${name}.port to be the service's port ${servicePort} (only 'masq' forwarding rewrites ports) but received ${raw.port}`,
    );
  if (raw.family !== service.raw.family && forwarding !== 'tunnel')
    throw new RangeError(
      `Expected forwarding 'tunnel' for ${name}, whose address family differs from its ${service.family} service, but received '${forwarding}'`,
    );
  raw.forwardingMethod = FORWARDING_NUMBER[forwarding];
  raw.weight = weight;
  raw.upperThreshold = upperThreshold;
  raw.lowerThreshold = lowerThreshold;
  if (d.tunnel !== undefined && d.tunnel !== null) {
    if (forwarding !== 'tunnel')
      throw new RangeError(`Expected ${name}.forwarding to be 'tunnel' when ${name}.tunnel is set but received '${forwarding}'`);
    Object.assign(raw, toTunnel(d.tunnel, `${name}.tunnel`));
  }
  return checked;
}

function toTunnel(value: unknown, name: string): Pick<RawDestination, 'tunnelType' | 'tunnelPort' | 'tunnelFlags'> {
  const t = expectObject(value, name);
  expectKnownKeys(t, name, ['type', 'port', 'checksum']);
  const type = expectOneOf(t.type, `${name}.type`, TUNNEL_TYPES);
  const checksum = t.checksum === undefined ? 'none' : expectOneOf(t.checksum, `${name}.checksum`, CHECKSUMS);
  if (type === 'ipip' && checksum !== 'none')
    throw new RangeError(`Expected ${name}.checksum 'none' for an ipip tunnel but received '${checksum}'`);
  if (type === 'gre' && checksum === 'remote')
    throw new RangeError(`Expected ${name}.checksum 'none' or 'checksum' for a gre tunnel but received 'remote'`);
  let port: number | undefined;
  if (type === 'gue') port = expectInteger(t.port, `${name}.port`, 1, 65535);
  else if (t.port !== undefined) throw new RangeError(`Expected no ${name}.port for a ${type} tunnel but received ${t.port}`);
  return { tunnelType: TUNNEL_NUMBER[type], tunnelPort: port, tunnelFlags: CHECKSUM_FLAGS[checksum] };
}

// --- Read back ----------------------------------------------------------------

export function fromDestination(raw: RawDestinationEntry): Destination {
  const forwarding = FORWARDING_NAME.get(raw.forwardingMethod) ?? 'masq';
  let tunnel: Destination['tunnel'] = null;
  if (forwarding === 'tunnel' && raw.tunnelType !== undefined) {
    const type = TUNNEL_NAME.get(raw.tunnelType) ?? 'ipip';
    const flags = raw.tunnelFlags ?? 0;
    tunnel = {
      type,
      port: raw.tunnelPort ?? 0,
      checksum: flags & CHECKSUM_FLAGS.remote ? 'remote' : flags & CHECKSUM_FLAGS.checksum ? 'checksum' : 'none',
    };
  }
  return {
    address: raw.address,
    family: familyName(raw.family),
    port: raw.port,
    weight: raw.weight,
    forwarding,
    upperThreshold: raw.upperThreshold,
    lowerThreshold: raw.lowerThreshold,
    tunnel,
    activeConnections: raw.activeConns,
    inactiveConnections: raw.inactiveConns,
    persistentConnections: raw.persistentConns,
    stats: raw.stats,
  };
}

export function fromService(raw: RawServiceEntry): Service {
  const family = familyName(raw.family);
  const flags = raw.flags & ~ServiceFlag.HASHED;
  const persistent = (flags & ServiceFlag.PERSISTENT) !== 0;
  return {
    family,
    protocol: PROTOCOL_NAME.get(raw.protocol) ?? 'tcp',
    address: raw.address,
    port: raw.port,
    fwmark: raw.fwmark,
    scheduler: raw.scheduler,
    persistence: persistent
      ? { timeout: raw.timeout, netmask: family === 'ipv4' ? netmaskText(raw.netmask) : raw.netmask }
      : null,
    persistenceEngine: raw.persistenceEngine || null,
    onePacket: (flags & ServiceFlag.ONEPACKET) !== 0,
    schedulerFlags: {
      fallback: (flags & ServiceFlag.SCHED1) !== 0,
      port: (flags & ServiceFlag.SCHED2) !== 0,
      flag3: (flags & ServiceFlag.SCHED3) !== 0,
    },
    flags,
    stats: raw.stats,
    destinations: (raw.destinations ?? []).map(fromDestination),
  };
}

// --- Timeouts and sync daemons --------------------------------------------------

/** The kernel multiplies by HZ into an int: this bound is safe for HZ up to 1000. */
export const TIMEOUT_MAX = Math.floor(INT32_MAX / 1000);

export function toTimeouts(value: unknown): RawTimeouts {
  const t = expectObject(value, 'timeouts');
  expectKnownKeys(t, 'timeouts', ['tcp', 'tcpFin', 'udp']);
  // 0 (or leaving one out) keeps the current value.
  return {
    tcp: optionalInteger(t.tcp, 'timeouts.tcp', 0, TIMEOUT_MAX, 0),
    tcpFin: optionalInteger(t.tcpFin, 'timeouts.tcpFin', 0, TIMEOUT_MAX, 0),
    udp: optionalInteger(t.udp, 'timeouts.udp', 0, TIMEOUT_MAX, 0),
  };
}

const SYNC_STATES: SyncState[] = ['master', 'backup'];
export const SYNC_STATE_NUMBER: Record<SyncState, number> = { master: 1, backup: 2 };

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

export function toDaemon(value: unknown): CheckedDaemon {
  const d = expectObject(value, 'daemon');
  expectKnownKeys(d, 'daemon', ['state', 'interface', 'syncId', 'maxLength', 'group', 'port', 'ttl']);
  const state = toSyncState(d.state, 'daemon.state');
  // IP_VS_IFNAME_MAXLEN is 16 with the NUL.
  const ifname = expectName(d.interface, 'daemon.interface', 15);
  const raw: RawDaemon = {
    state: SYNC_STATE_NUMBER[state],
    multicastInterface: ifname,
    syncId: optionalInteger(d.syncId, 'daemon.syncId', 0, 255, 0),
  };
  if (d.maxLength !== undefined) raw.syncMaxLen = expectInteger(d.maxLength, 'daemon.maxLength', 1, 65535);
  if (d.group !== undefined) {
    const version = expectAddress(d.group, 'daemon.group');
    const group = d.group as string;
    const multicast = version === 4 ? Number(group.split('.')[0]) >> 4 === 0xe : /^ff/i.test(group);
    if (!multicast) throw new RangeError(`Expected a multicast address for daemon.group but received '${group}'`);
    raw.multicastGroup = group;
  }
  if (d.port !== undefined) raw.multicastPort = expectInteger(d.port, 'daemon.port', 1, 65535);
  if (d.ttl !== undefined) raw.multicastTtl = expectInteger(d.ttl, 'daemon.ttl', 1, 255);
  return {
    raw,
    name: `sync daemon ${state} on ${ifname}`,
    extended: d.maxLength !== undefined || d.group !== undefined || d.port !== undefined || d.ttl !== undefined,
  };
}

export function fromDaemon(raw: RawDaemon): SyncDaemon {
  return {
    state: raw.state === SYNC_STATE_NUMBER.backup ? 'backup' : 'master',
    interface: raw.multicastInterface,
    syncId: raw.syncId,
    maxLength: raw.syncMaxLen ?? null,
    group: raw.multicastGroup ?? null,
    port: raw.multicastPort ?? null,
    ttl: raw.multicastTtl ?? null,
  };
}
