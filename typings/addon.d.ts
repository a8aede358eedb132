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
  forwardingMethod: number;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnelType?: number;
  tunnelPort?: number;
  tunnelFlags?: number;
}

export interface RawDaemon {
  state: number;
  multicastInterface: string;
  syncId: number;
  syncMaxLen?: number;
  multicastGroup?: string;
  multicastPort?: number;
  multicastTtl?: number;
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
  /** Index of the failed request in the array given to execute(). */
  index: number;
  /** Positive errno. */
  errno: number;
  /** The kernel's extended-ACK text, when it sent one. */
  kernelMessage?: string;
}

export interface RawStats {
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

export interface RawServiceEntry extends Required<RawService> {
  stats: RawStats | null;
  /** True when the kernel sent STATS64 (all counters 64-bit). */
  stats64: boolean;
  /** Present when getServices(true) was called. */
  destinations?: RawDestinationEntry[];
}

export interface RawDestinationEntry extends RawDestination {
  activeConns: number;
  inactiveConns: number;
  persistentConns: number;
  stats: RawStats | null;
  stats64: boolean;
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
  execute(requests: RawRequest[]): Promise<RawFailure[]>;
  getInfo(): Promise<RawInfo>;
  getServices(withDestinations: boolean): Promise<RawServiceEntry[]>;
  getService(key: RawServiceKey): Promise<RawServiceEntry>;
  getDestinations(key: RawServiceKey): Promise<RawDestinationEntry[]>;
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
