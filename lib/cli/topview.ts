// What `ipvs top` shows, as plain lines: the rows (a service, then its
// destinations), sorted, fitted to the terminal's width (columns dropped in a
// fixed order, never the sorted one; the name column takes what is left and
// is cut with '~'), and cut to its height. No terminal I/O here.
import type { Service } from '../index';
import { hostPort } from '../address';
import type { Counters, Rates, Sample } from './rates';
import { compactNumber } from './rates';

export interface TopRow {
  key: string;
  /** What the row shows first: 'TCP  198.18.0.10:80 rr' or '  -> 198.19.1.2:80'. */
  name: string;
  /** For sorting by name: address order, not text order. */
  order: string;
  forwarding: string;
  weight: number;
  active: number;
  inactive: number;
  rates?: Rates;
}

export interface TopGroup {
  service: TopRow;
  destinations: TopRow[];
}

export const SORT_KEYS = {
  n: 'name',
  a: 'active',
  i: 'inactive',
  c: 'conns',
  p: 'packets',
  b: 'bytes',
  w: 'weight',
} as const;
export type SortKey = (typeof SORT_KEYS)[keyof typeof SORT_KEYS];
export const SORT_NAMES = Object.values(SORT_KEYS) as SortKey[];

const FORWARDING: Record<string, string> = { masq: 'Masq', route: 'Route', tunnel: 'Tunnel', local: 'Local', bypass: 'Bypass' };

/** A sortable text for an address: IPv4 before IPv6, numerically. */
function addressOrder(address: string, port: number): string {
  if (!address.includes(':')) return '4' + address.split('.').map((o) => o.padStart(3, '0')).join('.') + ':' + String(port).padStart(5, '0');
  const [head, tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return '6' + groups.map((g) => g.padStart(4, '0')).join(':') + ':' + String(port).padStart(5, '0');
}

function serviceKey(s: Service): string {
  return s.fwmark !== undefined ? `fwm/${s.family}/${s.fwmark}` : `${s.protocol}/${hostPort(s.address, s.port)}`;
}

/** The counters of every row of a listing, keyed as the rows are. */
export function sampleOf(services: readonly Service[], at: number): Sample {
  const counters = new Map<string, Counters>();
  addCounters(counters, services);
  return { at, counters };
}

/** Adds the counters of some services' rows to `counters` (a table read a batch at a time). */
export function addCounters(counters: Map<string, Counters>, services: readonly Service[]): void {
  for (const s of services) {
    const key = serviceKey(s);
    if (s.stats) counters.set(key, s.stats);
    for (const d of s.destinations) if (d.stats) counters.set(`${key} ${hostPort(d.address, d.port)}`, d.stats);
  }
}

/** Sets every row's rates (by row key), for rows made before the whole sample was read. */
export function setRates(groups: readonly TopGroup[], rates: ReadonlyMap<string, Rates | undefined>): void {
  for (const g of groups) {
    g.service.rates = rates.get(g.service.key);
    for (const d of g.destinations) d.rates = rates.get(d.key);
  }
}

/** The rows of a listing, with each row's rates (by row key, as sampleOf() keys them). */
export function groupsOf(services: readonly Service[], rates: ReadonlyMap<string, Rates | undefined>): TopGroup[] {
  return services.map((s) => {
    const key = serviceKey(s);
    const destinations = s.destinations.map((d): TopRow => {
      const dkey = `${key} ${hostPort(d.address, d.port)}`;
      return {
        key: dkey,
        name: `  -> ${hostPort(d.address, d.port)}`,
        order: addressOrder(d.address, d.port),
        forwarding: FORWARDING[d.forwarding] ?? d.forwarding,
        weight: d.weight,
        active: d.activeConnections,
        inactive: d.inactiveConnections,
        rates: rates.get(dkey),
      };
    });
    const name =
      s.fwmark !== undefined
        ? `FWM  ${s.fwmark}${s.family === 'ipv6' ? ' IPv6' : ''} ${s.scheduler}`
        : `${s.protocol.toUpperCase().padEnd(4)} ${hostPort(s.address, s.port)} ${s.scheduler}`;
    const service: TopRow = {
      key,
      name,
      order: s.fwmark !== undefined ? `9${String(s.fwmark).padStart(10, '0')}${s.family}` : `${addressOrder(s.address, s.port)}${s.protocol}`,
      forwarding: '',
      weight: destinations.reduce((n, d) => n + d.weight, 0),
      active: destinations.reduce((n, d) => n + d.active, 0),
      inactive: destinations.reduce((n, d) => n + d.inactive, 0),
      rates: rates.get(key),
    };
    return { service, destinations };
  });
}

function sortValue(row: TopRow, key: SortKey): number {
  const r = row.rates;
  switch (key) {
    case 'active':
      return row.active;
    case 'inactive':
      return row.inactive;
    case 'weight':
      return row.weight;
    case 'conns':
      return r ? r.cps : -1;
    case 'packets':
      return r ? r.inpps + r.outpps : -1;
    case 'bytes':
      return r ? r.inbps + r.outbps : -1;
    default:
      return 0;
  }
}

/**
 * Services ordered by `key` (numbers largest first, names in address order;
 * `reverse` turns it round), each service's destinations likewise; ties in
 * address order.
 */
export function sortGroups(groups: readonly TopGroup[], key: SortKey, reverse = false): TopGroup[] {
  const compare = (a: TopRow, b: TopRow): number => {
    const byName = a.order < b.order ? -1 : a.order > b.order ? 1 : 0;
    const primary = key === 'name' ? byName : sortValue(b, key) - sortValue(a, key);
    return (reverse ? -primary : primary) || byName;
  };
  return [...groups].sort((a, b) => compare(a.service, b.service)).map((g) => ({ service: g.service, destinations: [...g.destinations].sort(compare) }));
}

export interface Column {
  id: 'name' | 'forwarding' | 'weight' | 'active' | 'inactive' | 'cps' | 'inpps' | 'outpps' | 'inbps' | 'outbps';
  title: string;
  width: number;
  /** The sort key this column shows. */
  sort?: SortKey;
}

/** Every column, left to right (the name's width is a minimum). */
const COLUMNS: readonly Column[] = [
  { id: 'name', title: 'SERVICE / DESTINATION', width: 12, sort: 'name' },
  { id: 'forwarding', title: 'FORWARD', width: 7 },
  { id: 'weight', title: 'WEIGHT', width: 6, sort: 'weight' },
  { id: 'active', title: 'ACTIVE', width: 6, sort: 'active' },
  { id: 'inactive', title: 'INACT', width: 6, sort: 'inactive' },
  { id: 'cps', title: 'CONN/S', width: 6, sort: 'conns' },
  { id: 'inpps', title: 'PKTIN/S', width: 7, sort: 'packets' },
  { id: 'outpps', title: 'PKTOUT/S', width: 8, sort: 'packets' },
  { id: 'inbps', title: 'BIN/S', width: 6, sort: 'bytes' },
  { id: 'outbps', title: 'BOUT/S', width: 6, sort: 'bytes' },
];

/** Which columns go first when the terminal is narrow. */
const DROP_ORDER: ReadonlyArray<Column['id']> = ['forwarding', 'weight', 'cps', 'outbps', 'inbps', 'outpps', 'inactive'];

/** Columns are dropped until the name column has this much room (or all its names fit). */
const NAME_WANTS = 24;

/**
 * The columns that fit `width` characters (one space between columns):
 * columns are dropped in DROP_ORDER, never the one `sort` shows, until the
 * name column has room for its longest name and its title, or NAME_WANTS
 * characters, or nothing more can go; then the name column takes what it
 * wants of the rest (at least its minimum).
 */
export function fitColumns(width: number, sort: SortKey, longestName = NAME_WANTS): Column[] {
  // the title, at least, when there is room for it
  const want = Math.max(longestName, COLUMNS[0].title.length);
  let columns = [...COLUMNS];
  const others = () => columns.slice(1).reduce((n, c) => n + c.width + 1, 0);
  for (const id of DROP_ORDER) {
    if (width - others() >= Math.min(want, NAME_WANTS)) break;
    if (columns.find((c) => c.id === id)?.sort === sort) continue;
    columns = columns.filter((c) => c.id !== id);
  }
  const nameWidth = Math.max(COLUMNS[0].width, Math.min(want, width - others()));
  return [{ ...columns[0], width: nameWidth }, ...columns.slice(1)];
}

/** `text` in `width` characters: cut with '~' when longer. */
export function cut(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 0 ? '' : text.slice(0, width - 1) + '~';
}

function cell(row: TopRow, id: Column['id']): string {
  const r = row.rates;
  const rate = (v: number | undefined) => (v === undefined ? '-' : compactNumber(v));
  switch (id) {
    case 'name':
      return row.name;
    case 'forwarding':
      return row.forwarding;
    case 'weight':
      return String(row.weight);
    case 'active':
      return compactNumber(row.active);
    case 'inactive':
      return compactNumber(row.inactive);
    case 'cps':
      return rate(r?.cps);
    case 'inpps':
      return rate(r?.inpps);
    case 'outpps':
      return rate(r?.outpps);
    case 'inbps':
      return rate(r?.inbps);
    case 'outbps':
      return rate(r?.outbps);
  }
}

function line(columns: readonly Column[], cells: (c: Column) => string): string {
  return columns.map((c, i) => (i === 0 || c.id === 'forwarding' ? cut(cells(c), c.width).padEnd(c.width) : cut(cells(c), c.width).padStart(c.width))).join(' ').trimEnd();
}

export interface FrameOptions {
  width: number;
  height: number;
  sort: SortKey;
  reverse: boolean;
  /** Seconds between refreshes. */
  interval: number;
  /** The clock time shown. */
  time: Date;
  netns?: string;
  /** A read that failed: shown instead of the rows' freshness. */
  error?: string;
}

export interface Frame {
  lines: string[];
  /** Line index and [start, end) of the sorted column's title, to highlight. */
  highlight?: { line: number; start: number; end: number };
}

function clock(t: Date): string {
  return [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** One screen of `groups` (already sorted): at most `height` lines, none longer than `width`. */
export function renderFrame(groups: readonly TopGroup[], o: FrameOptions): Frame {
  const rows = groups.flatMap((g) => [g.service, ...g.destinations]);
  const destinations = groups.reduce((n, g) => n + g.destinations.length, 0);
  const longest = rows.reduce((n, r) => Math.max(n, r.name.length), 0);
  const columns = fitColumns(o.width, o.sort, longest);
  const head = [
    `ipvs top - ${clock(o.time)}  ${groups.length} service${groups.length === 1 ? '' : 's'}, ${destinations} destination${destinations === 1 ? '' : 's'}  every ${o.interval}s${o.netns ? `  netns ${o.netns}` : ''}`,
    o.error ? `error: ${o.error}` : `sort: ${o.sort}${o.reverse ? ' (reversed)' : ''}  keys: n a i c p b w sort, r reverse, q quit`,
  ];
  const title = line(columns, (c) => c.title);
  const lines = [...head, title].map((l) => cut(l, o.width));
  let highlight: Frame['highlight'];
  let at = 0;
  for (const c of columns) {
    if (c.sort === o.sort && !highlight) {
      const start = c.id === 'name' || c.id === 'forwarding' ? at : at + c.width - c.title.length;
      if (start >= 0 && at + c.width <= o.width) highlight = { line: head.length, start, end: start + Math.min(c.title.length, c.width) };
    }
    at += c.width + 1;
  }
  const room = Math.max(0, o.height - lines.length);
  const shown = rows.length > room ? rows.slice(0, Math.max(0, room - 1)) : rows;
  for (const row of shown) lines.push(cut(line(columns, (c) => cell(row, c.id)), o.width));
  if (shown.length < rows.length && room > 0) lines.push(cut(`  ... ${rows.length - shown.length} more rows (a larger terminal shows them)`, o.width));
  return { lines: lines.slice(0, Math.max(1, o.height)), highlight };
}
