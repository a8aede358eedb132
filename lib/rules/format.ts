// ipvsadm's listings, byte for byte (ipvsadm 1.31's print_title,
// print_service_entry, print_largenum, list_conn, list_timeout,
// list_daemon), so that the output of tools built on this library reads like
// the command people know, and scripts that parse ipvsadm keep working.
import { addressWords, hostPort, ipv4Text, prefixMask } from '../address';
import type { Connection } from '../connections';
import { PROTOCOL_NUMBER, type ForwardingMethod } from '../constants';
import type { Destination, Info, Service, SyncDaemon, Timeouts } from '../types';
import { describe, expectInteger, expectObject, expectOneOf, type Name } from '../validate';

/** Host and port names for listings without -n (ipvsadm: gethostbyaddr, getservbyport). */
export interface Names {
  /** The host name of an address, or undefined to print the address. */
  host(address: string): string | undefined;
  /** The service name of a port under a protocol ('tcp', 'udp', 'sctp'), or undefined to print the number. */
  port(port: number, protocol: string | undefined): string | undefined;
}

/** ipvsadm's listing options (-L ...). */
export interface ListOptions {
  /**
   * -n: addresses and ports as numbers. Default true; with false, `names`
   * gives host and port names where it knows them (as ipvsadm without -n).
   */
  numeric?: boolean;
  names?: Names;
  /** --stats: counters instead of the scheduler and connections. */
  stats?: boolean;
  /** --rate: rates instead of the scheduler and connections. */
  rate?: boolean;
  /** --thresholds: upper and lower thresholds of destinations. */
  thresholds?: boolean;
  /** --persistent-conn: persistent connections of destinations. */
  persistentConn?: boolean;
  /** --tun-info: tunnel type, port and checksum of destinations. */
  tunInfo?: boolean;
  /** --nosort: the kernel's order instead of ipvsadm's sort. */
  noSort?: boolean;
  /** --exact: counters in full instead of K/M/G/T. */
  exact?: boolean;
}

const FORWARD_NAME: Record<ForwardingMethod, string> = {
  masq: 'Masq',
  local: 'Local',
  tunnel: 'Tunnel',
  route: 'Route',
  bypass: '(null)', // ipvsadm's fwd_name knows no bypass and prints a NULL string
};

const PROTOCOL_TITLE: Record<string, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

/** The forwarding column of `ipvsadm -Ln` (%-7s). */
const FORWARD_COLUMN = Object.fromEntries(Object.entries(FORWARD_NAME).map(([k, v]) => [k, v.padEnd(7)])) as Record<ForwardingMethod, string>;

/** Small numbers' padded columns, made once: a listing prints the same few weights and counts 220,000 times. */
const COLUMNS = new Map<number, string[]>();

/** `n` left-aligned in `width` columns (%-Nu). */
function column(n: number, width: number): string {
  if (n >= 256 || n < 0) return String(n).padEnd(width);
  let cache = COLUMNS.get(width);
  if (cache === undefined) COLUMNS.set(width, (cache = []));
  return (cache[n] ??= String(n).padEnd(width));
}

// ipvsadm sorts with glibc's qsort and comparators written as C `int r = a - b`
// on unsigned values (ipvs_cmp_services, ipvs_cmp_dests): the difference wraps
// to 32-bit signed, so 192.168.0.1 sorts before 10.0.0.1, and two addresses
// exactly 2^31 apart each sort before the other. The order is then not a total
// order and depends on the algorithm, so this is glibc's own (msort.c, the
// qsort of glibc 2.36 and the other releases Debian and Ubuntu ship: a
// top-down merge sort that halves with n / 2 and keeps the left element when
// the comparator gives <= 0). Keys are computed once per entry, not per
// comparison.

/** The entries in glibc qsort's order under `compare` (a new array). */
function glibcSort<T>(items: readonly T[], compare: (a: T, b: T) => number): T[] {
  const a = items.slice();
  mergeSort(a, new Array<T>(a.length), 0, a.length, compare);
  return a;
}

function mergeSort<T>(a: T[], tmp: T[], from: number, n: number, compare: (a: T, b: T) => number): void {
  if (n <= 1) return;
  const n1 = n >>> 1;
  mergeSort(a, tmp, from, n1, compare);
  mergeSort(a, tmp, from + n1, n - n1, compare);
  let i = from;
  let j = from + n1;
  const leftEnd = j;
  const end = from + n;
  let k = 0;
  while (i < leftEnd && j < end) tmp[k++] = compare(a[i], a[j]) <= 0 ? a[i++] : a[j++];
  while (i < leftEnd) tmp[k++] = a[i++];
  // What is left of the right half is already in place.
  for (let m = 0; m < k; m++) a[from + m] = tmp[m];
}

interface SortKey<T> {
  item: T;
  /** ipvsadm's fields in comparison order; the address as 1 (IPv4) or 4 (IPv6) 32-bit words. */
  head: number[];
  words: number[];
  port: number;
}

/** Like ipvsadm: the first entry's family says how many address words count; the other's missing words are 0. */
function compareKeys<T>(a: SortKey<T>, b: SortKey<T>): number {
  for (let i = 0; i < a.head.length; i++) {
    const r = (a.head[i] - b.head[i]) | 0;
    if (r !== 0) return r;
  }
  for (let i = 0; i < a.words.length; i++) {
    const r = (a.words[i] - (b.words[i] ?? 0)) | 0;
    if (r !== 0) return r;
  }
  return a.port - b.port;
}

const AF_NUMBER = { ipv4: 2, ipv6: 10 } as const;

/** Services in `ipvsadm -L`/`-S` order (ipvs_cmp_services: fwmark, family, protocol, address, port). */
export function ipvsadmServiceOrder<S extends Pick<Service, 'family' | 'fwmark' | 'protocol' | 'address' | 'port'>>(services: readonly S[]): S[] {
  const keys = services.map((s) => ({
    item: s,
    head: [s.fwmark ?? 0, AF_NUMBER[s.family] ?? 0, s.fwmark === undefined ? PROTOCOL_NUMBER[s.protocol ?? 'tcp'] : 0],
    words: s.fwmark === undefined && s.address !== undefined ? addressWords(s.address) : s.family === 'ipv6' ? [0, 0, 0, 0] : [0],
    port: s.port ?? 0,
  }));
  return glibcSort(keys, compareKeys).map((k) => k.item);
}

const NO_HEAD: number[] = [];

/** A service's destinations in `ipvsadm -L`/`-S` order (ipvs_cmp_dests: address, then port). */
export function ipvsadmDestinationOrder<D extends Pick<Destination, 'address' | 'port'>>(destinations: readonly D[]): D[] {
  if (destinations.length <= 1) return destinations.slice();
  const keys = destinations.map((d) => ({ item: d, head: NO_HEAD, words: addressWords(d.address), port: d.port }));
  return glibcSort(keys, compareKeys).map((k) => k.item);
}

/** ipvsadm's addrport_to_anyname: 'host:port', '[v6]:port', with names unless numeric. */
export function addressPort(address: string, port: number, protocol: string | undefined, options: ListOptions = {}): string {
  if (options.numeric !== false || options.names === undefined) return hostPort(address, port);
  const host = options.names.host(address) ?? address;
  const name = options.names.port(port, protocol) ?? String(port);
  return address.includes(':') ? `[${host}]:${name}` : `${host}:${name}`;
}

/** The scheduler flags as ipvsadm names them: sh-/mh- names for sh and mh, flag-N otherwise. */
export function schedulerFlagNames(s: Pick<Service, 'scheduler' | 'schedulerFlags'>): string[] {
  const flags: string[] = [];
  const named = s.scheduler === 'sh' || s.scheduler === 'mh';
  if (s.schedulerFlags.fallback) flags.push(named ? `${s.scheduler}-fallback` : 'flag-1');
  if (s.schedulerFlags.port) flags.push(named ? `${s.scheduler}-port` : 'flag-2');
  if (s.schedulerFlags.flag3 && !named) flags.push('flag-3');
  return flags;
}

/** A persistence netmask as ipvsadm prints it: dotted for IPv4, a prefix length for IPv6; undefined for a single host. */
export function netmaskText(s: Pick<Service, 'family' | 'persistence'>): string | undefined {
  const netmask = s.persistence?.netmask;
  if (netmask === undefined) return undefined;
  if (s.family === 'ipv6') return netmask === 128 ? undefined : String(netmask);
  if (netmask === 32 || netmask === '255.255.255.255') return undefined;
  return typeof netmask === 'number' ? ipv4Text(prefixMask(netmask)) : netmask;
}

/** ipvsadm's print_largenum: 9 columns, K/M/G/T beyond 8 digits unless exact. */
export function largeNumber(value: bigint | number, exact = false): string {
  const i = BigInt(value);
  const text = i.toString();
  if (exact) return text.padStart(text.length <= 8 ? 9 : text.length + 1);
  if (i < 100000000n) return text.padStart(9);
  if (i < 1000000000n) return `${(i / 1000n).toString().padStart(8)}K`;
  if (i < 100000000000n) return `${(i / 1000000n).toString().padStart(8)}M`;
  if (i < 100000000000000n) return `${(i / 1000000000n).toString().padStart(8)}G`;
  return `${(i / 1000000000000n).toString().padStart(8)}T`;
}

/** The two title lines (print_title); none for rules. */
function title(o: ListOptions): string[] {
  const two = (head: string) => [head, '  -> RemoteAddress:Port'];
  const p = 'Prot LocalAddress:Port'.padEnd(33);
  const r8 = (...c: string[]) => c.map((x) => ` ${x.padStart(8)}`).join('');
  const l = (w: number[], ...c: string[]) => c.map((x, k) => ` ${x.padEnd(w[k])}`).join('');
  if (o.stats) return two(p + r8('Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'));
  if (o.rate) return two(p + r8('CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'));
  if (o.thresholds) return two(p + l([10, 10, 10, 10], 'Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'));
  if (o.persistentConn) return two(p + l([9, 11, 10, 10], 'Weight', 'PersistConn', 'ActiveConn', 'InActConn'));
  if (o.tunInfo) return ['Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn'];
  return ['Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn'];
}

/** ipvsadm's fwd_tun_info: 'ipip', 'gue:PORT:FLAGS', 'gre:FLAGS'; undefined for non-tunnels. */
function tunnelInfo(d: Destination): string | undefined {
  if (d.forwarding !== 'tunnel' || d.tunnel === null) return undefined;
  const flags = d.tunnel.checksum === 'remote' ? 'r+c' : d.tunnel.checksum === 'checksum' ? '+c' : '-c';
  if (d.tunnel.type === 'gue') return `gue:${d.tunnel.port}:${flags}`;
  if (d.tunnel.type === 'gre') return `gre:${flags}`;
  return 'ipip';
}

function zeroStats(): NonNullable<Service['stats']> {
  return { conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n, cps: 0n, inpps: 0n, outpps: 0n, inbps: 0n, outbps: 0n };
}

/**
 * Lines of a listing, each ended by a newline, joined a few thousand at a
 * time: each line is built from pieces that a joined chunk no longer needs,
 * so they die young instead of all 220,000 lines' pieces surviving (and being
 * copied by the collector) until one join at the end.
 */
export class LineText {
  /** Lines not joined yet: push here, then call flushSome(). */
  lines: string[] = [];
  private readonly chunks: string[] = [];

  flushSome(): void {
    if (this.lines.length >= 4096) this.flush();
  }

  private flush(): void {
    if (this.lines.length === 0) return;
    this.chunks.push(this.lines.join('\n') + '\n');
    this.lines = [];
  }

  toString(): string {
    this.flush();
    return this.chunks.join('');
  }
}

/** One service and its destinations (print_service_entry, listing formats), added to `lines`. */
function serviceEntry(s: Service, o: ListOptions, lines: string[]): void {
  let name: string;
  // ipvsadm prints the mark with %d: marks above 2^31 - 1 come out negative.
  if (s.fwmark !== undefined) name = `FWM  ${s.fwmark | 0}${s.family === 'ipv6' ? ' IPv6' : ''}`;
  else {
    name = `${PROTOCOL_TITLE[s.protocol].padEnd(4)} ${addressPort(s.address, s.port, s.protocol, o)}`;
    // ipvsadm cuts its 33-byte buffer for IPv4 names.
    if (s.family !== 'ipv6') name = name.slice(0, 33);
  }
  const stats = s.stats ?? zeroStats();
  const big = (v: bigint) => largeNumber(v, o.exact);
  if (o.stats) lines.push(name.padEnd(33) + [stats.conns, stats.inpkts, stats.outpkts, stats.inbytes, stats.outbytes].map(big).join(''));
  else if (o.rate) lines.push(name.padEnd(33) + [stats.cps, stats.inpps, stats.outpps, stats.inbps, stats.outbps].map(big).join(''));
  else {
    let line = `${name} ${s.scheduler}`;
    const flags = schedulerFlagNames(s);
    if (flags.length) line += ` (${flags.join(',')})`;
    if (s.persistence) {
      line += ` persistent ${s.persistence.timeout}`;
      const mask = netmaskText(s);
      if (mask !== undefined) line += ` mask ${mask}`;
      if (s.persistenceEngine) line += ` pe ${s.persistenceEngine}`;
    }
    if (s.onePacket) line += ' ops';
    lines.push(line);
  }
  const destinations = o.noSort ? s.destinations : ipvsadmDestinationOrder(s.destinations);
  for (const d of destinations) {
    let dname = addressPort(d.address, d.port, s.protocol, o);
    if (d.family !== 'ipv6') dname = dname.slice(0, 28);
    const head = `  -> ${dname.padEnd(28)}`;
    const ds = d.stats ?? zeroStats();
    if (o.stats) lines.push(head + [ds.conns, ds.inpkts, ds.outpkts, ds.inbytes, ds.outbytes].map(big).join(''));
    else if (o.rate) lines.push(head + [ds.cps, ds.inpps, ds.outpps].map((v) => ` ${v.toString().padStart(8)}`).join('') + big(ds.inbps) + big(ds.outbps));
    else if (o.thresholds)
      lines.push(`${head} ${[d.upperThreshold, d.lowerThreshold, d.activeConnections, d.inactiveConnections].map((v) => String(v).padEnd(10)).join(' ')}`);
    else if (o.persistentConn)
      lines.push(
        `${head} ${String(d.weight).padEnd(9)} ${String(d.persistentConnections).padEnd(11)} ${String(d.activeConnections).padEnd(10)} ${String(d.inactiveConnections).padEnd(10)}`,
      );
    else if (o.tunInfo)
      lines.push(
        `${head} ${FORWARD_NAME[d.forwarding].padEnd(7)} ${(tunnelInfo(d) ?? 'n/a').padEnd(13)} ${String(d.weight).padEnd(6)} ` +
          `${String(d.activeConnections).padEnd(10)} ${String(d.inactiveConnections).padEnd(10)}`,
      );
    else
      lines.push(
        `${head} ${FORWARD_COLUMN[d.forwarding]} ${column(d.weight, 6)} ${column(d.activeConnections, 10)} ${column(d.inactiveConnections, 10)}`,
      );
  }
}

const COUNTERS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes', 'cps', 'inpps', 'outpps', 'inbps', 'outbps'] as const;
const FORWARDINGS = Object.keys(FORWARD_NAME) as ForwardingMethod[];
const PROTOCOLS = Object.keys(PROTOCOL_TITLE);

/** `name`.stats: null, or the ten counters as bigints (the name is joined only on failure). */
function expectCounters(value: unknown, name: Name): void {
  if (value === null || value === undefined) return;
  const stats = expectObject(value, name, 'stats');
  for (const c of COUNTERS)
    if (typeof stats[c] !== 'bigint') throw new TypeError(`Expected a bigint for ${name}.stats.${c} but received ${describe(stats[c])} (list() gives bigints; JSON loses them)`);
}

function expectText(value: unknown, name: Name, field: string): void {
  if (typeof value !== 'string') throw new TypeError(`Expected a string for ${name}.${field} but received ${describe(value)}`);
}

/**
 * What the listing formats read, in the shape list() returns: a wrong table
 * is a TypeError naming the field, not a crash or a garbled line. The
 * counters are read (and checked) only for --stats and --rate.
 */
function checkListed(value: unknown, what: string, counters: boolean): Service[] {
  if (!Array.isArray(value)) throw new TypeError(`Expected an array of services (as list() returns) for ${what} but received ${describe(value)}`);
  const path = { i: 0, j: -1, toString: () => (path.j < 0 ? `${what}[${path.i}]` : `${what}[${path.i}].destinations[${path.j}]`) };
  for (let i = 0; i < value.length; i++) {
    path.i = i;
    path.j = -1;
    const s = expectObject(value[i], path);
    expectOneOf(s.family, path, ['ipv4', 'ipv6'], 'family');
    if (s.fwmark !== undefined) expectInteger(s.fwmark, path, 1, 2 ** 32 - 1, 'fwmark');
    else {
      expectOneOf(s.protocol, path, PROTOCOLS, 'protocol');
      expectText(s.address, path, 'address');
      expectInteger(s.port, path, 0, 65535, 'port');
    }
    expectText(s.scheduler, path, 'scheduler');
    if (counters) expectCounters(s.stats, path);
    if (!Array.isArray(s.destinations)) throw new TypeError(`Expected an array for ${path}.destinations but received ${describe(s.destinations)}`);
    for (let j = 0; j < s.destinations.length; j++) {
      path.j = j;
      const d = expectObject(s.destinations[j], path);
      expectText(d.address, path, 'address');
      expectInteger(d.port, path, 0, 65535, 'port');
      expectOneOf(d.forwarding, path, FORWARDINGS, 'forwarding');
      for (const f of ['weight', 'upperThreshold', 'lowerThreshold', 'activeConnections', 'inactiveConnections', 'persistentConnections'])
        expectInteger(d[f], path, 0, 2 ** 32 - 1, f);
      if (counters) expectCounters(d.stats, path);
    }
  }
  return value as Service[];
}

/**
 * `ipvsadm -L` for the given table (in the shape list() returns) and info,
 * with any listing option (numeric by default: `ipvsadm -Ln`).
 */
export function formatIpvsadmList(table: Service[], info: Info, options: ListOptions = {}): string {
  expectObject(options, 'options');
  const services = checkListed(table, 'services', options.stats === true || options.rate === true);
  const i = expectObject(info, 'info');
  expectText(i.version, 'info', 'version');
  expectInteger(i.connectionTableSize, 'info', 0, 2 ** 32 - 1, 'connectionTableSize');
  const text = new LineText();
  text.lines.push(...headerLines(info, options));
  for (const s of options.noSort ? services : ipvsadmServiceOrder(services)) {
    serviceEntry(s, options, text.lines);
    text.flushSome();
  }
  return text.toString();
}

function headerLines(info: Info, options: ListOptions): string[] {
  return [`IP Virtual Server version ${info.version} (size=${info.connectionTableSize})`, ...title(options)];
}

/**
 * The lines `ipvsadm -L` prints before its services (the version line and the
 * titles), for a listing written a part at a time (formatIpvsadmEntry()).
 * Not checked: `info` is what info() returned.
 */
export function formatIpvsadmHeader(info: Info, options: ListOptions = {}): string {
  return headerLines(info, options).join('\n') + '\n';
}

/**
 * One service's lines of `ipvsadm -L` (its destinations in ipvsadm's order
 * unless noSort), for a listing written a part at a time: the header, then
 * each service's entry in ipvsadm's service order, is formatIpvsadmList().
 * Not checked: `service` is what list() or services() returned.
 */
export function formatIpvsadmEntry(service: Service, options: ListOptions = {}): string {
  const lines: string[] = [];
  serviceEntry(service, options, lines);
  return lines.join('\n') + '\n';
}

/** `ipvsadm -L -t|-u|-f SERVICE`: one service, without the version line. */
export function formatIpvsadmService(service: Service, options: ListOptions = {}): string {
  const lines = title(options);
  serviceEntry(service, options, lines);
  return lines.join('\n') + '\n';
}

/** `ipvsadm -Lc` (with --persistent-conn: the persistence engine columns). */
export function formatIpvsadmConnections(connections: Connection[], options: Pick<ListOptions, 'numeric' | 'names' | 'persistentConn'> = {}): string {
  const lines = ['IPVS connection entries'];
  lines.push(
    options.persistentConn
      ? `pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} ${'destination'.padEnd(18)} ${'pe name'.padEnd(16)} pe_data`
      : `pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} destination`,
  );
  for (const c of connections) {
    // ipvsadm resolves port names only for the protocols it knows.
    const protocol = PROTOCOL_TITLE[c.protocol] ? c.protocol : undefined;
    const name = (e: { address: string; port: number }) => addressPort(e.address, e.port, protocol, options);
    const expire = `${String(Math.floor(c.expires / 60)).padStart(2, '0')}:${String(c.expires % 60).padStart(2, '0')}`;
    const head = `${c.protocol.toUpperCase().padEnd(3)} ${expire.padEnd(6)} ${c.state.padEnd(11)} ${name(c.client).padEnd(18)} ${name(c.virtual).padEnd(18)}`;
    if (options.persistentConn && c.persistenceData !== undefined)
      lines.push(`${head} ${name(c.destination).padEnd(16)} ${(c.persistenceEngine ?? '').padEnd(18)} ${c.persistenceData}`);
    else lines.push(`${head} ${name(c.destination)}`);
  }
  return lines.join('\n') + '\n';
}

/** `ipvsadm -L --timeout`. */
export function formatIpvsadmTimeouts(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpFin} ${t.udp}\n`;
}

/** `ipvsadm -L --daemon`. */
export function formatIpvsadmDaemons(daemons: SyncDaemon[]): string {
  let out = '';
  for (const d of daemons) {
    out += `${d.state} sync daemon (mcast=${d.interface}, syncid=${d.syncId}`;
    if (d.maxLength) out += `, maxlen=${d.maxLength}`;
    if (d.group !== null) out += `, group=${d.group}`;
    if (d.port) out += `, port=${d.port}`;
    if (d.ttl) out += `, ttl=${d.ttl}`;
    out += ')\n';
  }
  return out;
}
