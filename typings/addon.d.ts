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
  /** IP_VS_CONN_F_*: MASQ 0, LOCALNODE 1, TUNNEL 2, DROUTE 3, BYPASS 4. */
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
  /** Index of the request in the array given to executeJson(). */
  index: number;
  /** Positive errno: the kernel's for 'refused'; the cause otherwise. */
  errno: number;
  /**
   * refused: the kernel answered this request with errno (not applied).
   * unknown: sent, but its answer may have been lost (ENOBUFS on receive, a
   *   timeout, a socket error): it may or may not be applied.
   * unsent: never sent because an earlier socket failure stopped the batch
   *   (known not applied).
   * invalid: refused by the encoder (EINVAL, or EMSGSIZE when it does not fit
   *   in a message), never sent.
   */
  outcome: 'refused' | 'unknown' | 'unsent' | 'invalid';
  /** The kernel's own extended-ACK text, when it sent one; never the library's. */
  kernelMessage?: string;
  /** The library's description of the cause, for unknown / unsent / invalid. */
  message?: string;
}

export interface RawListOptions {
  /** Only this service; the call rejects with ESRCH (errno 3) when it is absent. */
  service?: RawServiceKey;
  destinations: boolean;
  stats: boolean;
}

/**
 * `JSON.parse` of each chunk gives an array of entries; the chunks in order
 * are the whole listing (no chunks: nothing listed).
 *
 * A service entry, keys in this order (numbers are the kernel's):
 *   { family, protocol, address, port, fwmark, scheduler, flags, timeout,
 *     netmask, persistenceEngine, stats, destinations? }
 * flags without HASHED (0x2); netmask: IPv4 a host-order u32, IPv6 the prefix
 * length; address by inet_ntop ("0.0.0.0" / "::" for fwmark services);
 * `destinations` only when asked.
 * A destination entry:
 *   { address, family, port, weight, forwarding, upperThreshold,
 *     lowerThreshold, tunnel, activeConnections, inactiveConnections,
 *     persistentConnections, stats }
 * family: the destination's own; tunnel: null unless the forwarding is tunnel
 * and the kernel sent a tunnel type, then { type, port, flags } (port host
 * order, 0 when absent).
 * `stats` in both: the entry's index into RawListing.stats, or null when stats
 * were not asked or the kernel sent none.
 */
export interface RawListing {
  /**
   * JSON texts, each in a Buffer that owns it (outside the JS heap: decoded
   * one at a time as they are parsed); a chunk ends at an entry boundary once
   * past ~32 KiB.
   */
  chunks: Buffer[];
  /** Every chunk is ASCII (decode as latin1, the cheaper way); otherwise UTF-8. */
  ascii: boolean;
  /**
   * 10 counters per entry (conns, inpkts, outpkts, inbytes, outbytes, cps,
   * inpps, outpps, inbps, outbps) at index*10 .. index*10+9, or null when
   * stats were not asked.
   */
  stats: BigUint64Array | null;
}

export interface RawInfo {
  /** e.g. 0x010201 for 1.2.1 */
  version: number;
  connTableSize: number;
}

/** The rejection value of every native Promise. */
export interface RawError extends Error {
  errno: number;
  /** The kernel's extended-ACK text only. */
  kernelMessage?: string;
  /** The IPVS generic netlink family is missing in this namespace. */
  unavailable?: boolean;
  /** The handle is not open (never opened, or closed). */
  closed?: boolean;
}

/** @internal Test-only faults: see _testFault. */
export interface RawTestFault {
  /** The next dump fails as if its reply number N+1 did not parse (EBADMSG). */
  failDumpAfterMessages?: number;
  /** SO_RCVBUF of the handle's sockets from now on; 0 or absent: the normal size. */
  receiveBufferBytes?: number;
}

/**
 * One socket. Its calls run on the thread pool one at a time, in the order
 * they were made (close() included: it runs after every call made before it).
 */
export interface RawHandle {
  /**
   * Opens the socket, inside the network namespace at netnsPath when given
   * (EINVAL when the path is not a network namespace). `workerNice` (0-19,
   * default 10): added to the nice value of each call's pool thread while
   * the call runs, where the process may restore it (see OpenOptions).
   * Throws TypeError/RangeError for another value.
   */
  open(netnsPath?: string, workerNice?: number): Promise<void>;
  /**
   * Sends changes. `json` is `JSON.stringify(requests)`: on the main thread
   * the text is only copied; parsing, checks and encoding run on a worker
   * thread. Requests go many to a sendmsg(), acked only where they fail.
   * Resolves with the failures only, in index order; every request not
   * listed was applied. A request that does not convert is an 'invalid'
   * failure of its own (its index is its place in the array): a field of the
   * wrong type, a number that is not an integer in its field's range
   * (fractions and exponents included; null where a number belongs, which is
   * how JSON.stringify writes NaN and Infinity, is invalid, while null
   * elsewhere counts as absent), a bad address, a string with a NUL, an
   * attribute too long (EMSGSIZE), keyOnly not a boolean. Unknown keys are
   * ignored. Rejects, sending nothing: with EINVAL when the text is not one
   * well-formed JSON array (or nests deeper than 32); with the handle's error
   * when it is not open or its socket cannot be reopened. Throws TypeError
   * when `json` is not a string.
   */
  executeJson(json: string): Promise<RawFailure[]>;
  /** Services (all, or the one named by `service`), optionally with destinations and stats. */
  list(options: RawListOptions): Promise<RawListing>;
  /**
   * The listing in batches of at most `batchSize` services (each with its
   * destinations when asked), for tables too large to hold at once. Throws
   * TypeError unless batchSize is an integer from 1 to 65536. See RawCursor.
   */
  listCursor(options: RawCursorOptions): RawCursor;
  /**
   * Compares the kernel's table (services and destinations, no counters) with
   * `expected` on a worker thread: JS gets only what differs. The table is
   * taken as it is when verify() is called; set()/delete() made on it while
   * this runs do not change what this compares with (copy on write: see
   * RawFingerprints). Throws TypeError unless `expected` is an
   * addon.Fingerprints.
   */
  verify(expected: RawFingerprints, options?: RawVerifyOptions): Promise<RawVerifyResult>;
  /**
   * Deletes every service named in `owned` (its ids, lib/convert.ts
   * serviceId()), one DEL_SERVICE each, encoded on the worker thread: no
   * request is made in JavaScript. The table is taken as it is when this is
   * called (copy on write, as verify()). Resolves with the requests not
   * applied, each with its service's id. Throws TypeError unless `owned` is
   * an addon.Fingerprints.
   */
  deleteServices(owned: RawFingerprints): Promise<RawDeleteServicesResult>;
  /** One service's destinations only (an absent service gives an empty list, as the kernel does). */
  listDestinations(key: RawServiceKey, options: { stats: boolean }): Promise<RawListing>;
  getInfo(): Promise<RawInfo>;
  getTimeouts(): Promise<RawTimeouts>;
  getDaemons(): Promise<RawDaemon[]>;
  /**
   * /proc/net/<name> (lower-case letters and '_' only) of the handle's
   * namespace, in a Buffer that owns the bytes (no copy into the JS heap).
   */
  readNetFile(name: string): Promise<Buffer>;
  /** Safe in every state; calls already queued finish first. */
  close(): Promise<void>;
  /** @internal For the kernel tests only: applies until changed. */
  _testFault(fault: RawTestFault): Promise<void>;
}

export interface RawCursorOptions {
  destinations: boolean;
  stats: boolean;
  /** Services per batch: an integer from 1 to 65536. */
  batchSize: number;
}

/**
 * A listing read a batch at a time (RawHandle.listCursor). The service dump
 * is taken once, into small C++ records, by the first next(); each next()
 * then dumps the destinations of its services only. A service deleted after
 * that first dump is skipped (not an error); one changed since is listed as
 * it is then for its destinations and as it was for its own settings. Every
 * next() and close() takes its turn in the handle's call order.
 */
export interface RawCursor {
  /**
   * The next batch: 1 to batchSize services, in list()'s format (a RawListing
   * of service entries, with `destinations` when asked and counters when
   * `stats`), or null at the end and after close(). Rejects like list() (a
   * closed handle: `closed`).
   */
  next(): Promise<RawListing | null>;
  /** Frees the cursor's records now (after any next() already called); next() then gives null. */
  close(): Promise<void>;
}

/**
 * The expected fingerprint of each service, by its id: exactly lib/convert.ts
 * serviceId() (`fwmark ${fwmark} ${family}`, or `${protocol} ${address}
 * ${port}` with the address canonical, as listed). Fingerprints are
 * lib/fingerprint.ts fingerprint() texts (16 hex digits). Each change is
 * O(1); verify() takes the table in O(1) and a change made while a verify
 * holds it copies the table once (copy on write).
 */
export interface RawFingerprints {
  /** Throws TypeError for an empty id or a fingerprint that is not 16 hex digits. */
  set(id: string, fingerprint: string): this;
  get(id: string): string | undefined;
  /** Whether the id was there. */
  delete(id: string): boolean;
  /**
   * Many changes in one call (a call from JS into the addon is costly under
   * emulation; a send records thousands): lines `id\tfingerprint` (set) or
   * `id\t-` (delete), joined by '\n'. Checked whole before any is applied:
   * throws TypeError naming the first bad line. Returns the number of lines.
   */
  update(changes: string): number;
  clear(): void;
  readonly size: number;
}

export interface RawVerifyOptions {
  /** @internal For tests: also return the kernel's fingerprint of every service. */
  fingerprints?: boolean;
}

/** deleteServices()'s answer: `failures[i]` is the delete of the service `ids[i]` (its index counts the deletes in no set order). */
export interface RawDeleteServicesResult {
  failures: RawFailure[];
  ids: string[];
}

/** verify()'s answer: all empty when the kernel holds exactly what was expected. */
export interface RawVerifyResult {
  /**
   * Services in both the kernel and `expected` whose fingerprints differ, as
   * list({ destinations: true, stats: false }) gives them (stats null).
   */
  differing: RawListing;
  /** Services in the kernel and not in `expected`, with their destinations (stats null). */
  unexpected: RawListing;
  /** Ids in `expected` that the kernel does not hold, sorted. */
  missing: string[];
  /** @internal Only with `{ fingerprints: true }`: the kernel's fingerprint of every service, by id. */
  fingerprints?: Record<string, string>;
}

/** A service as listed (see RawListing): numbers are the kernel's; `flags` without HASHED. */
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

/** A destination as listed (see RawListing). */
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

/**
 * The health checks' probe engine (native/probe_engine.cc): TCP connect and
 * plain HTTP runs on a thread of its own, results delivered in batches.
 */
export interface RawProbeEngine {
  /**
   * Starts a run: connect to address:port (IPv4 or IPv6); for 'http', write
   * `request` and read the response head. The whole exchange is under one
   * deadline of timeoutMs. Throws TypeError/RangeError naming a bad argument,
   * Error after stop().
   */
  start(id: number, kind: 'tcp' | 'http', address: string, port: number, timeoutMs: number, request?: string): void;
  /** Closes the run's socket; no result comes for it. */
  cancel(id: number): void;
  /** Closes every socket and joins the engine's thread: no callback comes after it. */
  stop(): void;
}

/**
 * A batch of results: four numbers per run (id, outcome, phase, value: see
 * lib/health/probes/native.ts), and for a run at index i whose outcome
 * carries text, details[i] (latin1, as received); undefined when none does.
 */
export type RawProbeResults = (results: Uint32Array, details: Array<string | undefined> | undefined) => void;

export interface RawAddon {
  Handle: new () => RawHandle;
  Fingerprints: new () => RawFingerprints;
  ProbeEngine: new (onResults: RawProbeResults) => RawProbeEngine;
  /**
   * Frees a RawListing's chunk text or counters now (the view is empty
   * afterwards), rather than when the GC next collects it; only a view of its
   * whole ArrayBuffer, as listings make them. Throws TypeError unless `view`
   * is a typed array (a Buffer is one).
   */
  release(view: Buffer | BigUint64Array): void;
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
