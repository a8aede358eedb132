// Names users see, in IPVS's and ipvsadm's own words, and the kernel numbers
// behind them. Users pass the string values; the objects give them names.
import { addon } from './addon';

/** Scheduling algorithms, by the kernel module suffix ipvsadm's `-s` takes. */
export const Scheduler = {
  /** Round robin. */
  RoundRobin: 'rr',
  /** Weighted round robin. */
  WeightedRoundRobin: 'wrr',
  /** Least connection. */
  LeastConnection: 'lc',
  /** Weighted least connection (ipvsadm's default). */
  WeightedLeastConnection: 'wlc',
  /** Locality-based least connection. */
  LocalityBasedLeastConnection: 'lblc',
  /** Locality-based least connection with replication. */
  LocalityBasedLeastConnectionWithReplication: 'lblcr',
  /** Destination hashing. */
  DestinationHashing: 'dh',
  /** Source hashing. */
  SourceHashing: 'sh',
  /** Shortest expected delay. */
  ShortestExpectedDelay: 'sed',
  /** Never queue. */
  NeverQueue: 'nq',
  /** Weighted failover. */
  WeightedFailover: 'fo',
  /** Weighted overflow. */
  WeightedOverflow: 'ovf',
  /** Maglev hashing. */
  MaglevHashing: 'mh',
  /** Weighted random twos choice (kernel 6.2+). */
  TwoRandomChoices: 'twos',
} as const;
export type Scheduler = (typeof Scheduler)[keyof typeof Scheduler];

/** Packet forwarding methods, by the names `ipvsadm -S` prints (-m/-g/-i). */
export const ForwardingMethod = {
  /** NAT: the director rewrites the destination address (ipvsadm -m). */
  Masquerade: 'masq',
  /** Direct routing: the frame's MAC is rewritten to the real server's (ipvsadm -g). */
  Route: 'route',
  /** IP tunnelling: the datagram is encapsulated (ipvsadm -i). */
  Tunnel: 'tunnel',
  /** The real server is the director itself. */
  Local: 'local',
  /** Bypass to the original destination. */
  Bypass: 'bypass',
} as const;
export type ForwardingMethod = (typeof ForwardingMethod)[keyof typeof ForwardingMethod];

/** Transport protocols a virtual service can have. */
export const Protocol = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

/** Address families. */
export const Family = { IPv4: 'ipv4', IPv6: 'ipv6' } as const;
export type Family = (typeof Family)[keyof typeof Family];

/** Tunnel encapsulations for tunnel forwarding. */
export const TunnelType = { IPIP: 'ipip', GUE: 'gue', GRE: 'gre' } as const;
export type TunnelType = (typeof TunnelType)[keyof typeof TunnelType];

// --- Kernel numbers (include/uapi/linux/ip_vs.h, in.h, socket.h): the only
// place in lib/ that knows them. The command numbers come from the addon,
// which was compiled against the kernel header.

export const AF_INET = 2;
export const AF_INET6 = 10;
export const FAMILY_NUMBER: Record<Family, number> = { ipv4: AF_INET, ipv6: AF_INET6 };

export const PROTOCOL_NUMBER: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };

export const FORWARDING_NUMBER: Record<ForwardingMethod, number> = {
  masq: 0, // IP_VS_CONN_F_MASQ
  local: 1, // IP_VS_CONN_F_LOCALNODE
  tunnel: 2, // IP_VS_CONN_F_TUNNEL
  route: 3, // IP_VS_CONN_F_DROUTE
  bypass: 4, // IP_VS_CONN_F_BYPASS
};

export const TUNNEL_NUMBER: Record<TunnelType, number> = { ipip: 0, gue: 1, gre: 2 };

/** A tunnel's checksum option (GUE and GRE; an ipip tunnel has none). */
export type TunnelChecksum = 'none' | 'checksum' | 'remote';
/** IP_VS_TUNNEL_ENCAP_FLAG_*: the kernel's numbers for them. */
export const TUNNEL_FLAG: Readonly<Record<TunnelChecksum, number>> = { none: 0, checksum: 1, remote: 2 };

/** IP_VS_SVC_F_* */
export const ServiceFlag = {
  PERSISTENT: 0x1,
  HASHED: 0x2,
  ONEPACKET: 0x4,
  SCHED1: 0x8,
  SCHED2: 0x10,
  SCHED3: 0x20,
} as const;

/** IP_VS_SVC_PERSISTENT_TIMEOUT: what ipvsadm's `-p` alone means, in seconds. */
export const DEFAULT_PERSISTENCE_TIMEOUT = 360;

/** IP_VS_STATE_MASTER / IP_VS_STATE_BACKUP. */
export const SYNC_STATE_NUMBER = { master: 1, backup: 2 } as const;

/** IP_VS_SCHEDNAME_MAXLEN and IP_VS_PENAME_MAXLEN less the NUL; IFNAMSIZ less the NUL. */
export const NAME_MAX_LENGTH = 15;
export const INTERFACE_MAX_LENGTH = 15;

/** IPVS_CMD_* */
export const Command = addon.constants;

/** The errno values the facade itself reasons about. */
export const Errno = { ENOENT: 2, ESRCH: 3, EBADF: 9, EEXIST: 17, EINVAL: 22 } as const;

/** Inverts a name -> number table. */
export function byNumber<K extends string>(table: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(table).map(([name, n]) => [n as number, name as K]));
}
