// The table as `ipvsadm -Ln` prints it (numeric, no stats), so that output of
// tools built on this library reads like the command people know.
import * as net from 'net';
import { PROTOCOL_NUMBER, type ForwardingMethod } from './constants';
import type { Destination, Info, Service } from './types';

const FORWARD_NAME: Record<ForwardingMethod, string> = {
  masq: 'Masq',
  local: 'Local',
  tunnel: 'Tunnel',
  route: 'Route',
  bypass: 'Bypass',
};

function hostPort(address: string, port: number, family: string): string {
  return family === 'ipv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The eight 16-bit groups of an IPv6 address in text form. */
function ipv6Groups(address: string): number[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16));
}

/** An address as the big-endian 32-bit words ipvsadm compares. */
export function addressWords(address: string): number[] {
  if (net.isIPv4(address)) return [address.split('.').reduce((w, octet) => ((w << 8) | Number(octet)) >>> 0, 0)];
  const g = ipv6Groups(address);
  return [0, 2, 4, 6].map((i) => g[i] * 0x10000 + g[i + 1]);
}

// ipvsadm sorts with C `int r = a - b` on unsigned values: the difference
// wraps to 32-bit signed, and so does the order. `| 0` does the same here.
function compareWords(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const r = (a[i] - b[i]) | 0;
    if (r !== 0) return r;
  }
  return 0;
}

/** ipvsadm's ipvs_cmp_services: fwmark, family, protocol, address, port. */
function compareServices(a: Service, b: Service): number {
  return (
    (a.fwmark - b.fwmark) | 0 ||
    (a.family === b.family ? 0 : a.family === 'ipv4' ? -1 : 1) ||
    PROTOCOL_NUMBER[a.protocol] - PROTOCOL_NUMBER[b.protocol] ||
    compareWords(addressWords(a.address), addressWords(b.address)) ||
    a.port - b.port
  );
}

/** ipvsadm's ipvs_cmp_dests: address, then port. */
function compareDestinations(a: Destination, b: Destination): number {
  return compareWords(addressWords(a.address), addressWords(b.address)) || a.port - b.port;
}

function serviceLine(s: Service): string {
  const name = s.fwmark
    ? `FWM  ${s.fwmark}${s.family === 'ipv6' ? ' IPv6' : ''}`
    : `${s.protocol.toUpperCase().padEnd(4)} ${hostPort(s.address, s.port, s.family)}`;
  let line = `${name} ${s.scheduler}`;
  const flags: string[] = [];
  if (s.schedulerFlags.fallback) flags.push(s.scheduler === 'sh' || s.scheduler === 'mh' ? `${s.scheduler}-fallback` : 'flag-1');
  if (s.schedulerFlags.port) flags.push(s.scheduler === 'sh' || s.scheduler === 'mh' ? `${s.scheduler}-port` : 'flag-2');
  if (s.schedulerFlags.flag3) flags.push('flag-3');
  if (flags.length) line += ` (${flags.join(',')})`;
  if (s.persistence) {
    line += ` persistent ${s.persistence.timeout}`;
    const full = s.family === 'ipv4' ? '255.255.255.255' : 128;
    if (s.persistence.netmask !== full) line += ` mask ${s.persistence.netmask}`;
    if (s.persistenceEngine) line += ` pe ${s.persistenceEngine}`;
  }
  if (s.onePacket) line += ' ops';
  return line;
}

/** `ipvsadm -Ln` for the given table and info. */
export function formatIpvsadmList(services: Service[], info: Info): string {
  const lines = [
    `IP Virtual Server version ${info.version} (size=${info.connectionTableSize})`,
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
  ];
  for (const s of [...services].sort(compareServices)) {
    lines.push(serviceLine(s));
    for (const d of [...s.destinations].sort(compareDestinations)) {
      const name = hostPort(d.address, d.port, d.family);
      lines.push(
        `  -> ${name.padEnd(28)} ${FORWARD_NAME[d.forwarding].padEnd(7)} ${String(d.weight).padEnd(6)} ` +
          `${String(d.activeConnections).padEnd(10)} ${String(d.inactiveConnections).padEnd(10)}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
