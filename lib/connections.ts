// The connection table. No netlink command lists connections: the kernel
// shows them in /proc/net/ip_vs_conn of each network namespace.
import { ipv4Text, ipv6Text } from './address';
import type { Protocol } from './constants';

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
  /** Persistence engine name and data, e.g. 'sip' and the Call-ID. */
  persistenceEngine?: string;
  persistenceData?: string;
}

/** The address of a /proc/net/ip_vs_conn column: 8 hex digits (IPv4) or full IPv6. */
function address(token: string): string {
  if (token.includes(':')) return ipv6Text(token.split(':').map((g) => parseInt(g, 16)));
  return ipv4Text(parseInt(token, 16));
}

/** Parses the text of /proc/net/ip_vs_conn (or ip_vs_conn_sync). */
export function parseConnections(text: string): Connection[] {
  const connections: Connection[] = [];
  for (const line of text.split('\n').slice(1)) {
    const t = line.trim().split(/\s+/);
    if (t.length < 9) continue;
    const c: Connection = {
      protocol: t[0].toLowerCase(),
      client: { address: address(t[1]), port: parseInt(t[2], 16) },
      virtual: { address: address(t[3]), port: parseInt(t[4], 16) },
      destination: { address: address(t[5]), port: parseInt(t[6], 16) },
      state: t[7],
      expires: Number(t[8]),
    };
    if (t.length > 9) c.persistenceEngine = t[9];
    if (t.length > 10) c.persistenceData = t.slice(10).join(' ');
    connections.push(c);
  }
  return connections;
}
