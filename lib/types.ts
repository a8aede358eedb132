// The public shapes of IPVS objects. What list() returns is valid input to
// addService / addDestination / apply(), field for field.
import type { Family, ForwardingMethod, Protocol, Scheduler, TunnelChecksum, TunnelType } from './constants';

/** A virtual service named by protocol, virtual address and port. */
export interface AddressServiceKey {
  protocol: Protocol;
  /** IPv4 or IPv6 virtual address (no zone id). */
  address: string;
  /** 0-65535; 0 only with persistence (a "port zero" service matches any port). */
  port: number;
  /** Optional; when given it must match the address. */
  family?: Family;
  fwmark?: undefined;
}

/** A virtual service named by firewall mark; IPv4 and IPv6 may share a mark. */
export interface FwmarkServiceKey {
  /** 1 to 2^32-1. */
  fwmark: number;
  /** Defaults to 'ipv4'. */
  family?: Family;
  protocol?: undefined;
  address?: undefined;
  port?: undefined;
}

/** What names a service. A service read back from the kernel is also a key. */
export type ServiceKey = AddressServiceKey | FwmarkServiceKey;

/** Session affinity: a client's connections stick to one destination (ipvsadm -p, -M). */
export interface Persistence {
  /** Seconds a client's affinity outlives its last connection. Defaults to 360, as ipvsadm's `-p` alone. */
  timeout?: number;
  /**
   * Which clients share an affinity: a prefix length (IPv4 0-32, IPv6 1-128).
   * IPv4 also takes a dotted mask such as '255.255.255.0'. Read back as a
   * prefix length (a dotted string only for a non-contiguous IPv4 mask).
   * Defaults to a single client (/32, /128).
   */
  netmask?: number | string;
}

/** The scheduler flags the kernel passes to schedulers (ipvsadm -b). */
export interface SchedulerFlags {
  /** flag-1: sh-fallback / mh-fallback: skip overloaded or weight-0 destinations. */
  fallback?: boolean;
  /** flag-2: sh-port / mh-port: hash the source port too. */
  port?: boolean;
  /** flag-3: no scheduler uses it yet. */
  flag3?: boolean;
}

/** Settings of a virtual service beyond its key. */
export interface ServiceOptions {
  /** Defaults to 'wlc', as in ipvsadm. Other names load ip_vs_<name>. */
  scheduler?: Scheduler | (string & {});
  /** Session affinity (a persistent service); omitted or null: none. */
  persistence?: Persistence | null;
  /** Persistence engine, e.g. 'sip' (ipvsadm --pe); needs persistence. */
  persistenceEngine?: string | null;
  /** Schedule every UDP datagram on its own (ipvsadm -o). */
  onePacket?: boolean;
  schedulerFlags?: SchedulerFlags;
}

export type ServiceSpec = ServiceKey & ServiceOptions;

/** Encapsulation for tunnel forwarding. */
export interface Tunnel {
  /** Defaults to 'ipip'. */
  type?: TunnelType;
  /** UDP port of a GUE tunnel (required for 'gue', absent for the others). */
  port?: number;
  /** GUE/GRE checksum: 'none' (default), 'checksum', or 'remote' (remote checksum offload, GUE only). */
  checksum?: TunnelChecksum;
}

/** A real server behind a virtual service. */
export interface DestinationSpec {
  address: string;
  /** Defaults to the service's port (0 for fwmark services). */
  port?: number;
  /** Defaults to 1. 0 takes no new connections (a graceful drain). */
  weight?: number;
  /** Defaults to 'route' (direct routing), as in ipvsadm. */
  forwarding?: ForwardingMethod;
  /** Connection limit; 0 (default) = none. */
  upperThreshold?: number;
  /** Connections below which an overloaded destination takes work again; 0 (default) = none. */
  lowerThreshold?: number;
  /** Only with 'tunnel' forwarding; defaults to IPIP. */
  tunnel?: Tunnel | null;
}

/**
 * Counters since creation or the last zero() (conns, inpkts, outpkts,
 * inbytes, outbytes) and the estimator's rates (cps, inpps, outpps, inbps,
 * outbps), all bigint so 64-bit values stay exact. The kernel folds its
 * per-CPU counters in every 2 seconds. JSON.stringify with `jsonReplacer`
 * writes them as decimal strings.
 */
export interface Stats {
  conns: bigint;
  inpkts: bigint;
  outpkts: bigint;
  inbytes: bigint;
  outbytes: bigint;
  cps: bigint;
  inpps: bigint;
  outpps: bigint;
  inbps: bigint;
  outbps: bigint;
}

/** A destination as the kernel reports it. */
export interface Destination {
  /** Canonical text (as inet_ntop writes it). */
  address: string;
  family: Family;
  port: number;
  weight: number;
  forwarding: ForwardingMethod;
  upperThreshold: number;
  lowerThreshold: number;
  /** null unless forwarding is 'tunnel' on a kernel that reports tunnel types (5.2+). */
  tunnel: { type: TunnelType; port?: number; checksum: TunnelChecksum } | null;
  activeConnections: number;
  inactiveConnections: number;
  persistentConnections: number;
  /** null when the listing was made without stats. */
  stats: Stats | null;
}

/** The settings of a service as the kernel reports them. */
export interface ServiceState {
  family: Family;
  scheduler: string;
  persistence: { timeout: number; netmask: number | string } | null;
  persistenceEngine: string | null;
  onePacket: boolean;
  schedulerFlags: Required<SchedulerFlags>;
  /** null when the listing was made without stats. */
  stats: Stats | null;
}

/**
 * A service as the kernel reports it, without its destinations
 * (listServices()). An address service has protocol, address and port; a
 * fwmark service has fwmark instead.
 */
export type ServiceEntry =
  | (ServiceState & { protocol: Protocol; address: string; port: number; fwmark?: undefined })
  | (ServiceState & { fwmark: number; protocol?: undefined; address?: undefined; port?: undefined });

/** A service with its destinations (list(), getService()). */
export type Service = ServiceEntry & { destinations: Destination[] };

/** A service in a desired state: the shape list() returns; `destinations` omitted means none. */
export type DesiredService = ServiceSpec & { destinations?: DestinationSpec[]; stats?: unknown };

/** General IPVS facts (GET_INFO). */
export interface Info {
  /** e.g. '1.2.1' */
  version: string;
  /** The raw version number, e.g. 0x010201. */
  versionCode: number;
  /** Size of the connection hash table (what ipvsadm prints as size=4096). */
  connectionTableSize: number;
}

/** Connection timeouts in seconds (ipvsadm --set tcp tcpfin udp). */
export interface Timeouts {
  /** Established TCP connections. */
  tcp: number;
  /** TCP connections after a FIN. */
  tcpFin: number;
  udp: number;
}

/** Which side of connection synchronisation a sync daemon is. */
export type SyncState = 'master' | 'backup';

/** A connection-synchronisation daemon to start (ipvsadm --start-daemon). */
export interface SyncDaemonSpec {
  state: SyncState;
  /** The multicast interface, e.g. 'eth0' or a VLAN 'eth0.100'. */
  interface: string;
  /** 0-255; only daemons with the same id exchange connections. Defaults to 0. */
  syncId?: number;
  /** Largest sync message payload in bytes (kernel 4.7+). */
  maxLength?: number;
  /** Multicast group, IPv4 or IPv6 (kernel 4.7+); the kernel's default is 224.0.0.81. */
  group?: string;
  /** UDP port (kernel 4.7+); the kernel's default is 8848. */
  port?: number;
  /** Multicast TTL 1-255 (kernel 4.7+). */
  ttl?: number;
}

/** A running sync daemon as the kernel reports it. */
export interface SyncDaemon {
  state: SyncState;
  interface: string;
  syncId: number;
  /** null where the kernel does not report it (before 4.7). */
  maxLength: number | null;
  group: string | null;
  port: number | null;
  ttl: number | null;
}
