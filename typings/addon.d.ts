// The raw surface of the native addon (build/Release/ipvs.node), in one place.
// Values are the kernel's: families are AF_* numbers, protocols IPPROTO_*,
// forwarding methods IP_VS_CONN_F_*, ports in host order. The TypeScript
// facade in lib/ validates input and converts to and from these shapes.

export interface RawServiceKey {
  family: number;
  /** Non-zero: a firewall-mark service, keyed by (family, fwmark). */
  fwmark?: number;
  protocol?: number;
  /** Empty for fwmark services. */
  address?: string;
  port?: number;
}

export interface RawService extends RawServiceKey {
  scheduler: string;
  flags: number;
  /** Persistence timeout in seconds. */
  timeout: number;
  /** IPv4: the mask as a host-order 32-bit number; IPv6: the prefix length. */
  netmask: number;
  persistenceEngine: string;
}

export interface RawDestination {
  family: number;
  address: string;
  port: number;
  /** IP_VS_CONN_F_* */
  forwarding: number;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnelType?: number;
  tunnelPort?: number;
  tunnelFlags?: number;
}

export interface RawDaemon {
  state: number;
  interface: string;
  syncId: number;
  maxLength?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

export interface RawTimeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

export interface RawRequest {
  command: number;
  service?: RawService | RawServiceKey;
  /** Send only the service's key (DEL_SERVICE, ZERO). */
  keyOnly?: boolean;
  destination?: RawDestination;
  daemon?: RawDaemon;
  timeouts?: RawTimeouts;
}

export interface RawFailure {
  /** Index of the request in the array given to prepare(). */
  index: number;
  /** Positive errno: the kernel's for 'refused', the cause otherwise. */
  errno: number;
  /**
   * refused: the kernel answered this request with errno.
   * unknown: sent, but its answer may have been lost (it may or may not be applied).
   * unsent: not sent, because an earlier socket failure stopped the batch (not applied).
   * invalid: the encoder refused it; not sent.
   */
  outcome: 'refused' | 'unknown' | 'unsent' | 'invalid';
  /** The kernel's own extended-ACK text ('refused' only). */
  kernelMessage?: string;
  /** The library's description of the cause (not 'refused'). */
  message?: string;
}

/** A prepared batch: requests converted to C++ on the main thread, executed once. */
export interface RawBatch {
  readonly __rawBatch: unique symbol;
}

/**
 * JSON texts of raw entries, each an array that ends at a service boundary,
 * so one can be parsed per event-loop turn; `stats` holds 10 counters per
 * entry whose `stats` field is an index into it.
 */
export interface RawListing {
  chunks: string[];
  stats: BigUint64Array | null;
}

/** A service as listed: numbers are the kernel's; `flags` without HASHED. */
export interface RawServiceEntry {
  family: number;
  protocol: number;
  address: string;
  port: number;
  fwmark: number;
  scheduler: string;
  flags: number;
  timeout: number;
  netmask: number;
  persistenceEngine: string;
  stats: number | null;
  destinations?: RawDestinationEntry[];
}

export interface RawDestinationEntry {
  address: string;
  family: number;
  port: number;
  weight: number;
  forwarding: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnel: { type: number; port: number; flags: number } | null;
  activeConnections: number;
  inactiveConnections: number;
  persistentConnections: number;
  stats: number | null;
}

export interface RawInfo {
  /** e.g. 0x010201 for 1.2.1 */
  version: number;
  connTableSize: number;
}

/** The rejection value of every native Promise. */
export interface RawError extends Error {
  errno: number;
  kernelMessage?: string;
  /** The IPVS generic netlink family is missing in this namespace. */
  unavailable?: boolean;
  /** The handle was closed. */
  closed?: boolean;
}

export interface RawHandle {
  open(netnsPath?: string): Promise<void>;
  /** Converts requests (main thread); a request the encoder refuses becomes an 'invalid' failure. */
  prepare(requests: RawRequest[]): RawBatch;
  /** Sends a prepared batch; resolves with the failures only. */
  execute(batch: RawBatch): Promise<RawFailure[]>;
  getInfo(): Promise<RawInfo>;
  /** Services (all, or the one named; ESRCH if absent), optionally with destinations and stats. */
  list(options: { service?: RawServiceKey; destinations: boolean; stats: boolean }): Promise<RawListing>;
  /** One service's destinations (an absent service lists none, as the kernel does). */
  listDestinations(key: RawServiceKey, options: { stats: boolean }): Promise<RawListing>;
  getTimeouts(): Promise<RawTimeouts>;
  getDaemons(): Promise<RawDaemon[]>;
  /** /proc/net/<name> (lower-case letters and '_' only) of the handle's namespace. */
  readNetFile(name: string): Promise<string>;
  close(): Promise<void>;
}

export interface RawAddon {
  Handle: new () => RawHandle;
  constants: {
    AF_INET: number;
    AF_INET6: number;
    IPVS_CMD_NEW_SERVICE: number;
    IPVS_CMD_SET_SERVICE: number;
    IPVS_CMD_DEL_SERVICE: number;
    IPVS_CMD_NEW_DEST: number;
    IPVS_CMD_SET_DEST: number;
    IPVS_CMD_DEL_DEST: number;
    IPVS_CMD_NEW_DAEMON: number;
    IPVS_CMD_DEL_DAEMON: number;
    IPVS_CMD_SET_CONFIG: number;
    IPVS_CMD_ZERO: number;
    IPVS_CMD_FLUSH: number;
  };
}
