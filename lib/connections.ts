// The connection table. No netlink command lists connections: the kernel
// shows them in /proc/net/ip_vs_conn of each network namespace (and, with
// an Origin column instead of the persistence engine's, in ip_vs_conn_sync).
import { ipv4Text, ipv6Text } from './address';
import type { Protocol } from './constants';
import { Slicer } from './slices';

/** One entry of the IPVS connection table. */
export interface Connection {
  /** 'tcp', 'udp', 'sctp', or 'ip' for a persistence template. */
  protocol: Protocol | 'ip' | string;
  client: { address: string; port: number };
  virtual: { address: string; port: number };
  destination: { address: string; port: number };
  /** The protocol state as the kernel names it, e.g. 'ESTABLISHED', 'SYN_RECV', 'UDP', 'NONE'. */
  state: string;
  /** Seconds until the entry expires. */
  expires: number;
  /** Persistence engine name and data, e.g. 'sip' and the Call-ID (ip_vs_conn only). */
  persistenceEngine?: string;
  persistenceData?: string;
  /** 'LOCAL' or 'SYNC': where the entry came from (ip_vs_conn_sync only). */
  origin?: string;
}

const IPV4 = /^[0-9A-Fa-f]{8}$/;
const IPV6 = /^[0-9A-Fa-f]{4}(?::[0-9A-Fa-f]{4}){7}$/;
const PORT = /^[0-9A-Fa-f]{4}$/;
const EXPIRES = /^\d{1,10}$/;

/**
 * Parses the text of /proc/net/ip_vs_conn (or ip_vs_conn_sync: its header
 * names an Origin column). The first line is the header; blank lines are
 * skipped. A line that is not what the kernel writes throws a SyntaxError
 * naming its line and column, never a half-parsed entry.
 */
export function parseConnections(text: string): Connection[] {
  if (typeof text !== 'string') throw new TypeError(`Expected the text of /proc/net/ip_vs_conn but received ${typeof text}`);
  const lines = text.split('\n');
  const sync = /\bOrigin\b/.test(lines[0]);
  const connections: Connection[] = [];
  for (let n = 1; n < lines.length; n++) {
    const c = connectionOf(lines[n], n + 1, sync);
    if (c !== null) connections.push(c);
  }
  return connections;
}

/** Bytes of the file decoded and parsed between two looks at the clock. */
const BLOCK_BYTES = 64 * 1024;

/**
 * parseConnections() of the file's bytes (UTF-8), decoded and parsed a block
 * of lines at a time and giving the event loop a turn every few
 * milliseconds: a table of a million connections is about 100 MB of text.
 */
export async function connectionsOf(bytes: Buffer, blockBytes = BLOCK_BYTES): Promise<Connection[]> {
  const connections: Connection[] = [];
  const slicer = new Slicer(1);
  let end = bytes.indexOf(NEWLINE);
  if (end < 0) end = bytes.length;
  const sync = /\bOrigin\b/.test(bytes.toString('utf8', 0, end));
  let lineNumber = 1;
  for (let from = end + 1; from < bytes.length; from = end + 1) {
    end = from + blockBytes >= bytes.length ? bytes.length : bytes.indexOf(NEWLINE, from + blockBytes);
    if (end < 0) end = bytes.length;
    // A block ends at a newline, which is never inside a UTF-8 sequence.
    for (const line of bytes.toString('utf8', from, end).split('\n')) {
      const c = connectionOf(line, ++lineNumber, sync);
      if (c !== null) connections.push(c);
    }
    if (slicer.due()) await slicer.pause();
  }
  return connections;
}

const NEWLINE = 0x0a;

/** One line (number `n`, 1-based) of the file; null for a blank one. */
function connectionOf(line: string, n: number, sync: boolean): Connection | null {
  if (line.trim() === '') return null;
  const t = line.trim().split(/\s+/);
  const fail = (column: number, what: string): never => {
    const found = t[column] === undefined ? 'the end of the line' : JSON.stringify(t[column].length > 40 ? t[column].slice(0, 40) + '...' : t[column]);
    throw new SyntaxError(`/proc/net/ip_vs_conn line ${n}: expected ${what} in column ${column + 1} but found ${found}`);
  };
  const address = (i: number): string => {
    const token = t[i] ?? '';
    if (IPV4.test(token)) return ipv4Text(parseInt(token, 16));
    if (IPV6.test(token)) return ipv6Text(token.split(':').map((g) => parseInt(g, 16)));
    return fail(i, 'an address (8 hex digits, or 8 groups of 4)');
  };
  const port = (i: number): number => (PORT.test(t[i] ?? '') ? parseInt(t[i], 16) : fail(i, 'a port (4 hex digits)'));
  if (!/^[A-Za-z][\w!]*$/.test(t[0])) fail(0, 'a protocol name');
  const c: Connection = {
    protocol: t[0].toLowerCase(),
    client: { address: address(1), port: port(2) },
    virtual: { address: address(3), port: port(4) },
    destination: { address: address(5), port: port(6) },
    state: t[7] ?? fail(7, 'a state'),
    expires: 0,
  };
  if (sync) {
    c.origin = t[8] ?? fail(8, 'an origin');
    if (!EXPIRES.test(t[9] ?? '')) fail(9, 'seconds to expiry');
    c.expires = Number(t[9]);
    if (t.length > 10) fail(10, 'the end of the line');
  } else {
    if (!EXPIRES.test(t[8] ?? '')) fail(8, 'seconds to expiry');
    c.expires = Number(t[8]);
    if (t.length > 9) c.persistenceEngine = t[9];
    if (t.length > 10) c.persistenceData = t.slice(10).join(' ');
  }
  return c;
}
