// The public shapes of IPVS objects.
import type { RawStats } from '../typings/addon';
import type { Family, ForwardingMethod, Protocol, Scheduler, TunnelType } from './constants';

/** A virtual service named by protocol, virtual address and port. */
export interface AddressServiceKey {
  protocol: Protocol;
  /** IPv4 or IPv6 virtual address. */
  address: string;
  /** 0-65535; 0 only with persistence (a "port zero" service matches any port). */
  port: number;
}

/** A virtual service named by firewall mark; IPv4 and IPv6 may share a mark. */
export interface FwmarkServiceKey {
  /** 1 to 2^32-1. */
  fwmark: number;
  /** Defaults to 'ipv4'. */
  family?: Family;
}

/** What names a service. A Service read back from the kernel is also a key. */
export type ServiceKey = AddressServiceKey | FwmarkServiceKey;

/** Session affinity: a client's connections stick to one destination. */
export interface Persistence {
  /** Seconds a client's affinity outlives its last connection (ipvsadm -p; its default is 300). */
  timeout: number;
  /**
   * Which clients share an affinity (ipvsadm -M): for IPv4 a dotted mask such as
   * '255.255.255.0' or a prefix length 0-32; for IPv6 a prefix length 1-128.
   * Defaults to a single client (/32, /128).
   */
  netmask?: string | number;
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
  type: TunnelType;
  /** UDP port of a GUE tunnel (required for 'gue'). */
  port?: number;
  /** GUE/GRE checksum: 'none' (default), 'checksum', or 'remote' (remote checksum offload, GUE only). */
  checksum?: 'none' | 'checksum' | 'remote';
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
  /** Connection limit; 0 = none. */
  upperThreshold?: number;
  /** Connections below which an overloaded destination takes work again; 0 = none. */
  lowerThreshold?: number;
  /** Only with 'tunnel' forwarding; defaults to IPIP. */
  tunnel?: Tunnel;
}

/**
 * Counters since creation or the last zero() (conns, inpkts, outpkts,
 * inbytes, outbytes) and the estimator's rates (cps, inpps, outpps, inbps,
 * outbps), all as bigint so 64-bit values stay exact. The kernel folds its
 * per-CPU counters in every 2 seconds.
 */
export type Stats = RawStats;

/** A destination as the kernel reports it. */
export interface Destination {
  address: string;
  family: Family;
  port: number;
  weight: number;
  forwarding: ForwardingMethod;
  upperThreshold: number;
  lowerThreshold: number;
  /** null unless forwarding is 'tunnel' on a kernel that reports tunnel types (5.2+). */
  tunnel: Required<Tunnel> | null;
  activeConnections: number;
  inactiveConnections: number;
  persistentConnections: number;
  stats: Stats | null;
}

/** A virtual service as the kernel reports it. */
export interface Service {
  family: Family;
  /** For fwmark services the kernel reports 'tcp'. */
  protocol: Protocol;
  /** '0.0.0.0' / '::' for fwmark services. */
  address: string;
  port: number;
  /** 0 unless this is a fwmark service. */
  fwmark: number;
  scheduler: string;
  persistence: Required<Persistence> | null;
  persistenceEngine: string | null;
  onePacket: boolean;
  schedulerFlags: Required<SchedulerFlags>;
  /** The raw IP_VS_SVC_F_* flags, without the kernel-internal HASHED bit. */
  flags: number;
  stats: Stats | null;
  destinations: Destination[];
}

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
  /** The multicast interface, e.g. 'eth0'. */
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
