// The property test's own model of an IPVS table: what each valid call must
// do, written independently of lib/ (ipvsadm's defaults, the kernel's
// errors), and the table rendered as `ipvsadm -Sn` prints it, to compare
// with the real kernel's.
import { execFileSync } from 'child_process';

export type Family = 'ipv4' | 'ipv6';
export type Protocol = 'tcp' | 'udp' | 'sctp';
export type Forwarding = 'masq' | 'route' | 'tunnel' | 'local' | 'bypass';
export type Tunnel = { type: 'ipip' | 'gre' | 'gue'; port?: number; checksum: 'none' | 'checksum' | 'remote' };

/** A service key in canonical form. */
export type MKey = { protocol: Protocol; address: string; port: number; family: Family } | { fwmark: number; family: Family };

export interface MService {
  key: MKey;
  scheduler: string;
  /** netmask: a prefix length, or the dotted text of a non-contiguous IPv4 mask. */
  persistence: { timeout: number; netmask: number | string } | null;
  pe: string | null;
  onePacket: boolean;
  flags: { fallback: boolean; port: boolean; flag3: boolean };
  dests: Map<string, MDest>;
}

export interface MDest {
  address: string;
  family: Family;
  port: number;
  weight: number;
  forwarding: Forwarding;
  upper: number;
  lower: number;
  tunnel: Tunnel | null;
}

export const keyId = (k: MKey): string => ('fwmark' in k ? `fwmark ${k.fwmark} ${k.family}` : `${k.protocol} ${k.address} ${k.port}`);
export const destId = (address: string, port: number): string => `${address} ${port}`;

/** A kernel error the model expects, or undefined for success. */
export type Expected = undefined | 'EEXIST' | 'ESRCH' | 'ENOENT' | 'RangeError';

export class Model {
  services = new Map<string, MService>();
  timeouts = { tcp: 900, tcpFin: 120, udp: 300 };

  clone(): Model {
    const m = new Model();
    for (const [id, s] of this.services) m.services.set(id, { ...s, dests: new Map([...s.dests].map(([k, d]) => [k, { ...d }])) });
    m.timeouts = { ...this.timeouts };
    return m;
  }

  /** Checks a whole service as the kernel and the facade would take it; a reason when invalid. */
  static invalidService(s: MService): string | undefined {
    if (s.pe !== null && s.persistence === null) return 'persistenceEngine without persistence';
    if (!('fwmark' in s.key) && s.key.port === 0 && s.persistence === null) return 'port 0 without persistence';
    if (s.onePacket && !('fwmark' in s.key) && s.key.protocol !== 'udp') return 'onePacket on tcp/sctp';
    return undefined;
  }

  static invalidDest(s: MService, d: MDest): string | undefined {
    const servicePort = 'fwmark' in s.key ? 0 : s.key.port;
    if (d.lower > d.upper) return 'lower above upper';
    if (d.forwarding !== 'masq' && servicePort !== 0 && d.port !== servicePort) return 'port change without masq';
    if (d.family !== s.key.family && d.forwarding !== 'tunnel') return 'mixed family without tunnel';
    if (d.tunnel !== null && d.forwarding !== 'tunnel') return 'tunnel without tunnel forwarding';
    return undefined;
  }

  addService(s: MService): Expected {
    if (Model.invalidService(s)) return 'RangeError';
    const id = keyId(s.key);
    if (this.services.has(id)) return 'EEXIST';
    this.services.set(id, { ...s, dests: new Map() });
    return undefined;
  }

  editService(key: MKey, change: (s: MService) => MService): Expected {
    const have = this.services.get(keyId(key));
    if (!have) return 'ESRCH';
    const next = change({ ...have });
    if (Model.invalidService(next)) return 'RangeError';
    this.services.set(keyId(key), { ...next, dests: have.dests });
    return undefined;
  }

  deleteService(key: MKey): Expected {
    return this.services.delete(keyId(key)) ? undefined : 'ESRCH';
  }

  exists(key: MKey): Expected {
    return this.services.has(keyId(key)) ? undefined : 'ESRCH';
  }

  addDest(key: MKey, d: MDest): Expected {
    const s = this.services.get(keyId(key));
    if (s && Model.invalidDest(s, d)) return 'RangeError';
    if (!s) return Model.invalidDest(fakeService(key), d) ? 'RangeError' : 'ESRCH';
    const id = destId(d.address, d.port);
    if (s.dests.has(id)) return 'EEXIST';
    s.dests.set(id, d);
    return undefined;
  }

  editDest(key: MKey, address: string, port: number, change: (d: MDest) => MDest): Expected {
    const s = this.services.get(keyId(key));
    if (!s) return 'ESRCH';
    const have = s.dests.get(destId(address, port));
    if (!have) return 'ENOENT';
    const next = change({ ...have });
    if (next.forwarding !== 'tunnel') next.tunnel = null;
    if (Model.invalidDest(s, next)) return 'RangeError';
    s.dests.set(destId(address, port), next);
    return undefined;
  }

  deleteDest(key: MKey, address: string, port: number): Expected {
    const s = this.services.get(keyId(key));
    if (!s) return 'ESRCH';
    return s.dests.delete(destId(address, port)) ? undefined : 'ENOENT';
  }

  flush(): void {
    this.services.clear();
  }

  /** `ipvsadm -Sn`, as a sorted list of lines (ipvsadm 1.31's own spelling, quirks included). */
  savedRules(): string[] {
    const lines: string[] = [];
    for (const s of this.services.values()) {
      const svc = serviceText(s.key);
      let line = `-A ${svc} -s ${s.scheduler}`;
      if (s.persistence) {
        line += ` -p ${s.persistence.timeout}`;
        if (s.key.family === 'ipv4' && s.persistence.netmask !== 32) line += ` -M ${typeof s.persistence.netmask === 'string' ? s.persistence.netmask : dotted(s.persistence.netmask)}`;
        if (s.key.family === 'ipv6' && s.persistence.netmask !== 128) line += ` -M ${s.persistence.netmask}`;
      }
      if (s.pe) line += ` --pe ${s.pe}`;
      if (s.onePacket) line += ' -o';
      const f = s.flags;
      if (f.fallback || f.port || f.flag3) {
        const named = s.scheduler === 'sh' || s.scheduler === 'mh' ? s.scheduler : '';
        const names = named
          ? [f.fallback && `${named}-fallback`, f.port && `${named}-port`]
          : [f.fallback && 'flag-1', f.port && 'flag-2', f.flag3 && 'flag-3'];
        // ipvsadm drops flag-3 of sh and mh, leaving a bare "-b " when it was the only flag.
        line += ` -b ${names.filter(Boolean).join(',')}`;
      }
      lines.push(line);
      for (const d of s.dests.values()) {
        const fwd = { masq: '-m', tunnel: '-i', route: '-g', local: '-g', bypass: '(null)' }[d.forwarding];
        let r = `-a ${svc} -r ${hostPort(d.address, d.port)} ${fwd} -w ${d.weight}`;
        if (d.forwarding === 'tunnel') {
          const t = d.tunnel ?? { type: 'ipip', checksum: 'none' };
          const csum = { none: '--tun-nocsum', checksum: '--tun-csum', remote: '--tun-remcsum' }[t.checksum];
          r += ` --tun-type ${t.type}`;
          if (t.type === 'gue') r += ` --tun-port ${t.port} ${csum}`;
          if (t.type === 'gre') r += ` ${csum}`;
        }
        lines.push(r);
      }
    }
    return lines.sort();
  }

  /** Thresholds of every destination, as `ipvsadm -Ln --thresholds` shows them (its -S drops them). */
  thresholds(): string[] {
    const out: string[] = [];
    for (const s of this.services.values()) for (const d of s.dests.values()) out.push(`${keyId(s.key)} ${hostPort(d.address, d.port)} ${d.upper} ${d.lower}`);
    return out.sort();
  }
}

function fakeService(key: MKey): MService {
  return { key, scheduler: 'wlc', persistence: null, pe: null, onePacket: false, flags: { fallback: false, port: false, flag3: false }, dests: new Map() };
}

export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function serviceText(k: MKey): string {
  // ipvsadm prints the mark with %d: 4294967295 is "-1".
  if ('fwmark' in k) return k.family === 'ipv6' ? `-f ${k.fwmark | 0} -6` : `-f ${k.fwmark | 0}`;
  const option = { tcp: '-t', udp: '-u', sctp: '--sctp-service' }[k.protocol];
  return `${option} ${hostPort(k.address, k.port)}`;
}

function dotted(prefix: number): string {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}`;
}

// --- The real kernel, read with ipvsadm ------------------------------------------------

export function kernelRules(): string[] {
  return rulesOf(execFileSync('ipvsadm', ['-Sn'], { encoding: 'utf8' }));
}

function rulesOf(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .sort();
}

/** The kernel's whole state by one process (processes are slow to start in the emulated VM). */
export function kernelState(): { rules: string[]; thresholds: string[]; timeouts: { tcp: number; tcpFin: number; udp: number } } {
  const [rules, thresholds, timeouts] = execFileSync('sh', ['-c', 'ipvsadm -Sn; echo =====; ipvsadm -Ln --thresholds; echo =====; ipvsadm -L --timeout'], { encoding: 'utf8' }).split('=====\n');
  return { rules: rulesOf(rules), thresholds: thresholdsOf(thresholds), timeouts: timeoutsOf(timeouts) };
}

/** Empties the table, stops any sync daemon and sets the timeouts, by one process. */
export function resetKernel(t: { tcp: number; tcpFin: number; udp: number }): void {
  execFileSync('sh', ['-c', `ipvsadm -C; ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup; ipvsadm --set ${t.tcp} ${t.tcpFin} ${t.udp}; true`], { stdio: 'ignore' });
}

/** Parses `ipvsadm -Ln --thresholds` into the lines Model.thresholds() makes. */
export function kernelThresholds(): string[] {
  return thresholdsOf(execFileSync('ipvsadm', ['-Ln', '--thresholds'], { encoding: 'utf8' }));
}

function thresholdsOf(text: string): string[] {
  const out: string[] = [];
  let service = '';
  for (const line of text.split('\n').slice(3)) {
    const m = /^(TCP|UDP|SCTP|FWM)\s+(\S+)/.exec(line);
    if (m) {
      if (m[1] === 'FWM') service = `fwmark ${Number(m[2]) >>> 0} ${line.includes('IPv6') ? 'ipv6' : 'ipv4'}`;
      else {
        const hp = /^\[?(.*?)\]?:(\d+)$/.exec(m[2])!;
        service = `${m[1].toLowerCase()} ${hp[1]} ${hp[2]}`;
      }
      continue;
    }
    const d = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)/.exec(line);
    if (d) out.push(`${service} ${d[1]} ${d[2]} ${d[3]}`);
  }
  return out.sort();
}

export function kernelTimeouts(): { tcp: number; tcpFin: number; udp: number } {
  return timeoutsOf(execFileSync('ipvsadm', ['-L', '--timeout'], { encoding: 'utf8' }));
}

function timeoutsOf(text: string): { tcp: number; tcpFin: number; udp: number } {
  const m = /(\d+) (\d+) (\d+)/.exec(text)!;
  return { tcp: Number(m[1]), tcpFin: Number(m[2]), udp: Number(m[3]) };
}
