// Port names, as ipvsadm reads and writes them (getservbyname/getservbyport
// over /etc/services): `-t 1.1.1.1:http` in a rule, `1.1.1.1:http` in a
// listing without -n. Read once, on first use, and only when a name appears.
import * as fs from 'fs';

/** Port names both ways for one protocol set: name -> port and port -> first name. */
export interface PortNames {
  /** The port a name stands for under `protocol` ('tcp', 'udp', 'sctp'), or undefined. */
  port(name: string, protocol: string): number | undefined;
  /** The first name /etc/services gives `port` under `protocol`, or undefined. */
  name(port: number, protocol: string): string | undefined;
}

/** Port names from the text of an /etc/services file (`name port/proto aliases... # comment`). */
export function parseServicesFile(text: string): PortNames {
  const byName = new Map<string, number>();
  const byPort = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(portProto ?? '');
    if (!m) continue;
    const port = Number(m[1]);
    const proto = m[2].toLowerCase();
    // getservbyport/getservbyname return the first matching entry.
    if (!byPort.has(`${port}/${proto}`)) byPort.set(`${port}/${proto}`, name);
    for (const n of [name, ...aliases]) if (!byName.has(`${n}/${proto}`)) byName.set(`${n}/${proto}`, port);
  }
  return {
    port: (name, protocol) => byName.get(`${name}/${protocol}`),
    name: (port, protocol) => byPort.get(`${port}/${protocol}`),
  };
}

/** A system file's text, or '' when it cannot be read (then no name is known: every port and host stays numeric). */
function systemFile(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

let system: PortNames | null = null;

/** The system's port names (/etc/services; none if it cannot be read). */
export function systemPortNames(): PortNames {
  system ??= parseServicesFile(systemFile('/etc/services'));
  return system;
}

/** Host names to IPv4 addresses, as ipvsadm's gethostbyname finds them in /etc/hosts (IPv4 only, as ipvsadm). */
export interface HostNames {
  address(name: string): string | undefined;
}

/** Host names from the text of an /etc/hosts file (`address name aliases... # comment`). */
export function parseHostsFile(text: string): HostNames {
  const byName = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const [address, ...names] = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (!address || !/^\d+\.\d+\.\d+\.\d+$/.test(address)) continue;
    for (const n of names) if (!byName.has(n.toLowerCase())) byName.set(n.toLowerCase(), address);
  }
  return { address: (name) => byName.get(name.toLowerCase()) };
}

let systemHosts: HostNames | null = null;

/** The system's /etc/hosts (DNS is not consulted: rules parse without waiting on the network). */
export function systemHostNames(): HostNames {
  systemHosts ??= parseHostsFile(systemFile('/etc/hosts'));
  return systemHosts;
}
