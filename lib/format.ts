// The table as `ipvsadm -Ln` prints it (numeric, no stats), so that output of
// tools built on this library reads like the command people know.
import { addressWords, hostPort, ipv4Text } from './address';
import { PROTOCOL_NUMBER, type ForwardingMethod } from './constants';
import type { Destination, Info, Service } from './types';

const FORWARD_NAME: Record<ForwardingMethod, string> = {
  masq: 'Masq',
  local: 'Local',
  tunnel: 'Tunnel',
  route: 'Route',
  bypass: 'Bypass',
};

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
    ((a.fwmark ?? 0) - (b.fwmark ?? 0)) | 0 ||
    (a.family === b.family ? 0 : a.family === 'ipv4' ? -1 : 1) ||
    PROTOCOL_NUMBER[a.protocol ?? 'tcp'] - PROTOCOL_NUMBER[b.protocol ?? 'tcp'] ||
    compareWords(addressWords(a.address ?? (a.family === 'ipv6' ? '::' : '0.0.0.0')), addressWords(b.address ?? (b.family === 'ipv6' ? '::' : '0.0.0.0'))) ||
    (a.port ?? 0) - (b.port ?? 0)
  );
}

/** ipvsadm's ipvs_cmp_dests: address, then port. */
function compareDestinations(a: Destination, b: Destination): number {
  return compareWords(addressWords(a.address), addressWords(b.address)) || a.port - b.port;
}

function serviceLine(s: Service): string {
  const name =
    s.fwmark !== undefined
      ? `FWM  ${s.fwmark}${s.family === 'ipv6' ? ' IPv6' : ''}`
      : `${s.protocol.toUpperCase().padEnd(4)} ${hostPort(s.address, s.port)}`;
  let line = `${name} ${s.scheduler}`;
  const flags: string[] = [];
  if (s.schedulerFlags.fallback) flags.push(s.scheduler === 'sh' || s.scheduler === 'mh' ? `${s.scheduler}-fallback` : 'flag-1');
  if (s.schedulerFlags.port) flags.push(s.scheduler === 'sh' || s.scheduler === 'mh' ? `${s.scheduler}-port` : 'flag-2');
  if (s.schedulerFlags.flag3) flags.push('flag-3');
  if (flags.length) line += ` (${flags.join(',')})`;
  if (s.persistence) {
    line += ` persistent ${s.persistence.timeout}`;
    const netmask = s.persistence.netmask;
    if (s.family === 'ipv6') {
      if (netmask !== 128) line += ` mask ${netmask}`;
    } else if (netmask !== 32) {
      // ipvsadm prints IPv4 masks dotted.
      line += ` mask ${typeof netmask === 'number' ? ipv4Text(netmask === 0 ? 0 : (0xffffffff << (32 - netmask)) >>> 0) : netmask}`;
    }
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
      const name = hostPort(d.address, d.port);
      lines.push(
        `  -> ${name.padEnd(28)} ${FORWARD_NAME[d.forwarding].padEnd(7)} ${String(d.weight).padEnd(6)} ` +
          `${String(d.activeConnections).padEnd(10)} ${String(d.inactiveConnections).padEnd(10)}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
