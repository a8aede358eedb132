// The table as `ipvsadm -Ln` prints it (numeric, no stats), so that output of
// tools built on this library reads like the command people know.
import type { ForwardingMethod } from './constants';
import type { Info, Service } from './types';

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

function serviceLine(s: Service): string {
  const name = s.fwmark
    ? `FWM  ${s.fwmark}${s.family === 'ipv6' ? ' IPv6' : ''}`
    : `${s.protocol.toUpperCase()}  ${hostPort(s.address, s.port, s.family)}`;
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
  for (const s of services) {
    lines.push(serviceLine(s));
    for (const d of s.destinations) {
      const name = hostPort(d.address, d.port, d.family);
      lines.push(
        `  -> ${name.padEnd(28)} ${FORWARD_NAME[d.forwarding].padEnd(7)} ${String(d.weight).padEnd(6)} ` +
          `${String(d.activeConnections).padEnd(10)} ${String(d.inactiveConnections).padEnd(10)}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
