// A throwaway network to send real traffic through IPVS: client and backend
// network namespaces, each joined to the director (the namespace this process
// runs in, whose IPVS the caller programs) by its own veth pair, with IPv4
// (198.19.x.0/24, benchmarking space) and IPv6 (2001:db8:1:x::/64,
// documentation space) on every link. Clients and backends route everything
// through the director, so NAT replies come back through it. Every backend
// runs a small server answering with its own name; `request()` asks through a
// virtual address and says which backend answered.
//
// Needs root, `ip` (iproute2) and python3. It changes the director: a dummy
// device for the virtual addresses, one veth per namespace, ip_forward and
// IPv6 forwarding on (restored by destroy()). Meant for a namespace or VM of
// its own (scripts/sandbox gives one), never a production host's.
//
//   const topo = await Topology.create({ backends: 2 });
//   await topo.addVip('198.18.100.1');
//   // ... addService/addDestination(masq) to topo.backends[i].ipv4 ...
//   await topo.request('198.18.100.1', 80);   // 'backend1'
//   await topo.destroy();
import { ChildProcess, execFile, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as readline from 'readline';
import { AGENT_SOURCE } from './agent';

export type TrafficProtocol = 'tcp' | 'udp' | 'sctp';

export interface TopologyOptions {
  /** Backend namespaces: how many (named backend1..N) or their names. Default 2. */
  backends?: number | string[];
  /** Client namespaces: how many (client1..N) or their names. Default 1. */
  clients?: number | string[];
  /** IPv4 addresses per client, all in the client's /24 (for source-based tests). Default 1. */
  clientAddresses?: number;
  /** Ports the backend servers listen on. Default 80 for each protocol. */
  ports?: { tcp?: number[]; udp?: number[]; sctp?: number[] };
  /** The Python 3 interpreter. Default /usr/bin/python3 when present, else python3 on PATH. */
  python?: string;
  /** Seconds to wait for the servers and clients to start. Default 60. */
  startTimeout?: number;
  /** How mark() marks packets; default the first installed of nft, iptables, tc. */
  markMethod?: MarkMethod;
}

/** A client or backend namespace. */
export interface Host {
  name: string;
  /** The network namespace (`ip netns` name). */
  namespace: string;
  /** The director's end of this host's veth pair (in the director's namespace). */
  link: string;
  /** The host's primary addresses. */
  ipv4: string;
  ipv6: string;
  /** Every IPv4 address of the host, primary first, all in one /24. */
  ipv4Addresses: string[];
  /** The director's addresses on this link (the host's gateways). */
  directorIpv4: string;
  directorIpv6: string;
}

export interface RequestOptions {
  /** Default 'tcp'. */
  protocol?: TrafficProtocol;
  /** Which client sends it (by name). Default the first. */
  client?: string;
  /** Source address: one of the client's addresses. Default: the kernel's choice. */
  source?: string;
  /** Source port. Default: an ephemeral one. */
  sourcePort?: number;
  /** Seconds to wait for the answer. Default 3. */
  timeout?: number;
}

export interface RequestSpec extends RequestOptions {
  address: string;
  port: number;
}

/** What one request got: the backend's name, or what went wrong. */
export interface RequestResult {
  backend?: string;
  /** The client address the backend saw. */
  peer?: string;
  /** The address the backend was reached at: the VIP with direct routing and tunnels, its own with NAT. */
  local?: string;
  error?: string;
}

/** A connection kept open (TCP or SCTP), e.g. to load a least-connection scheduler. */
export interface HeldConnection {
  /** The backend that accepted it. */
  readonly backend: string;
  /** The client address the backend saw. */
  readonly peer: string;
  /** The address the backend was reached at. */
  readonly local: string;
  /** Sends a line on the connection; resolves with the answering backend's name. */
  ping(): Promise<string>;
  /** Closes it and waits for the backend's close. */
  close(): Promise<void>;
}

/** A packet-marking rule (for fwmark services); see Topology.mark(). */
export interface MarkRule {
  /** Destination address or prefix (IPv4 or IPv6, e.g. '198.18.110.0/24') whose packets to mark. */
  destination: string;
  protocol?: TrafficProtocol;
  /** Destination port; needs protocol. */
  port?: number;
  mark: number;
}

export type MarkMethod = 'nft' | 'iptables' | 'tc';

export interface Marking {
  readonly method: MarkMethod;
  remove(): Promise<void>;
}

/** Tunnel kinds a backend can decapsulate; see Topology.prepareBackends(). */
export interface BackendVipOptions {
  /** Omitted: direct routing only (the VIP on lo). */
  tunnel?: 'ipip' | 'gue' | 'gre';
  /** UDP port of GUE encapsulation (tunnel 'gue'). */
  port?: number;
  /** Which backends (names). Default all. */
  backends?: string[];
}

const IPV4_PREFIX = '198.19';
const IPV6_PREFIX = '2001:db8:1';

interface Command {
  file: string;
  args: string[];
  input?: string;
}

function run(file: string, args: string[], input?: string, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) {
        const text = `${file} ${args.join(' ')}`.slice(0, 400);
        reject(new Error(`${text} failed: ${(stderr || error.message).trim()}`));
      } else {
        resolve(stdout);
      }
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Runs commands as one shell script (one process instead of one per command). */
async function runAll(commands: Command[]): Promise<void> {
  if (commands.length === 0) return;
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  let script = 'set -e\n';
  let n = 0;
  for (const c of commands) {
    const line = [c.file, ...c.args].map(quote).join(' ');
    if (c.input === undefined) script += `${line}\n`;
    else {
      const tag = `END_OF_INPUT_${n++}`;
      script += `${line} <<'${tag}'\n${c.input}${c.input.endsWith('\n') ? '' : '\n'}${tag}\n`;
    }
  }
  await run('sh', ['-s'], script);
}

function hasCommand(name: string): boolean {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => {
    try {
      fs.accessSync(`${d}/${name}`, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function names(spec: number | string[] | undefined, fallback: number, base: string): string[] {
  const list = Array.isArray(spec) ? spec : Array.from({ length: spec ?? fallback }, (_, i) => `${base}${i + 1}`);
  for (const n of list) if (!/^[A-Za-z0-9_.-]{1,32}$/.test(n)) throw new RangeError(`Expected a host name of 1-32 letters, digits, '_', '.', '-' but received ${JSON.stringify(n)}`);
  if (new Set(list).size !== list.length) throw new RangeError(`Host names must be unique: ${list.join(', ')}`);
  return list;
}

/** One Python agent process in a namespace, spoken to in JSON lines. */
class Agent {
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private stderr = '';
  private exited: Error | null = null;
  readonly first: Promise<any>;
  readonly done: Promise<void>;

  constructor(readonly child: ChildProcess, readonly label: string) {
    let onFirst: (v: any) => void;
    let onFirstError: (e: Error) => void;
    this.first = new Promise((resolve, reject) => {
      onFirst = resolve;
      onFirstError = reject;
    });
    this.first.catch(() => undefined);
    let firstSeen = false;
    child.stderr!.on('data', (chunk) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let message: any;
      try {
        message = JSON.parse(line);
      } catch {
        this.stderr = (this.stderr + line + '\n').slice(-4000);
        return;
      }
      if (!firstSeen && message.id === undefined) {
        firstSeen = true;
        onFirst(message);
        return;
      }
      const p = this.pending.get(message.id);
      if (p) {
        this.pending.delete(message.id);
        p.resolve(message);
      }
    });
    this.done = new Promise((resolve) => {
      const fail = (error: Error) => {
        this.exited ??= error;
        onFirstError(error);
        for (const p of this.pending.values()) p.reject(error);
        this.pending.clear();
        resolve();
      };
      // 'error': could not start (or signal); 'exit': it ended.
      child.on('error', (error) => fail(new Error(`${label}: ${error.message}`)));
      child.on('exit', (code, signal) => fail(new Error(`${label} exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim()}` : ''}`)));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  call(command: Record<string, unknown>): Promise<any> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(JSON.stringify({ ...command, id }) + '\n');
    });
  }

  /** Ends the process we started, by its pid. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.done;
    clearTimeout(timer);
  }
}

export class Topology {
  /** Unique per topology: in namespace and device names. */
  readonly id: string;
  readonly clients: Host[];
  readonly backends: Host[];
  /** Whether the backends serve SCTP (the kernel has it). */
  sctp = false;
  /** The director's dummy device holding the virtual addresses. */
  readonly vipDevice: string;

  private readonly agents: Agent[] = [];
  private readonly clientAgents = new Map<string, Agent>();
  private readonly restore: Array<[string, string]> = [];
  private readonly markings = new Set<() => Promise<void>>();
  private readonly tcLinks = new Set<string>();
  private nftTables = new Set<string>();
  private readonly fouPorts = new Set<string>();
  private nextPref = 100;
  private markWith?: MarkMethod;
  private destroyed = false;
  private readonly onExit = () => {
    for (const a of this.agents) a.child.kill('SIGKILL');
  };

  private constructor(
    id: string,
    clients: Host[],
    backends: Host[],
    private readonly python: string,
  ) {
    this.id = id;
    this.clients = clients;
    this.backends = backends;
    this.vipDevice = `${id}vip`;
  }

  /** Builds the namespaces, links and servers. Call destroy() when done. */
  static async create(options: TopologyOptions = {}): Promise<Topology> {
    if (process.getuid?.() !== 0) throw new Error('Topology.create needs root (network namespaces, veth devices)');
    const clientNames = names(options.clients, 1, 'client');
    const backendNames = names(options.backends, 2, 'backend');
    const extra = options.clientAddresses ?? 1;
    if (!Number.isInteger(extra) || extra < 1 || extra > 200) throw new RangeError(`Expected clientAddresses between 1 and 200 but received ${extra}`);
    const python = options.python ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    const id = `iv${randomBytes(4).readUInt32BE(0).toString(36).padStart(7, '0').slice(-5)}`;

    // The /24s this director already has in 198.19/16 are taken.
    const used = new Set<number>();
    for (const m of (await run('ip', ['-4', '-o', 'addr', 'show'])).matchAll(/inet 198\.19\.(\d+)\./g)) used.add(Number(m[1]));
    const count = clientNames.length + backendNames.length;
    let base = 1;
    while (base + count <= 255 && Array.from({ length: count }, (_, i) => base + i).some((x) => used.has(x))) base++;
    if (base + count > 255) throw new Error(`no ${count} free /24s left in ${IPV4_PREFIX}.0.0/16 on the director`);

    const host = (name: string, kind: 'c' | 'b', index: number, slot: number, addresses: number): Host => {
      const net4 = `${IPV4_PREFIX}.${base + slot}`;
      const net6 = `${IPV6_PREFIX}:${(base + slot).toString(16)}`;
      return {
        name,
        namespace: `ipvs-${id}-${name}`,
        link: `${id}${kind}${index + 1}`,
        ipv4: `${net4}.2`,
        ipv6: `${net6}::2`,
        ipv4Addresses: Array.from({ length: addresses }, (_, i) => `${net4}.${i + 2}`),
        directorIpv4: `${net4}.1`,
        directorIpv6: `${net6}::1`,
      };
    };
    const clients = clientNames.map((n, i) => host(n, 'c', i, i, extra));
    const backends = backendNames.map((n, i) => host(n, 'b', i, clientNames.length + i, 1));
    const topology = new Topology(id, clients, backends, python);
    if (options.markMethod !== undefined) {
      if (!['nft', 'iptables', 'tc'].includes(options.markMethod)) throw new RangeError(`Expected markMethod 'nft', 'iptables' or 'tc' but received ${JSON.stringify(options.markMethod)}`);
      topology.markWith = options.markMethod;
    }
    process.on('exit', topology.onExit);
    try {
      await topology.build(options);
    } catch (error) {
      await topology.destroy().catch(() => undefined);
      throw error;
    }
    return topology;
  }

  private async build(options: TopologyOptions): Promise<void> {
    // Optional kernel modules; a missing one only shows where it is needed.
    await run('modprobe', ['-q', '-a', 'veth', 'dummy', 'sctp']).catch(() => undefined);
    this.setSysctl('net/ipv4/ip_forward', '1');
    this.setSysctl('net/ipv6/conf/all/forwarding', '1');
    // Replies from direct-routing and tunnel backends come from the virtual
    // address, which is local here: accept_local on their links lets the
    // director forward them (a local source is otherwise a martian).
    this.setSysctl('net/ipv4/conf/all/rp_filter', '0');

    const commands: Command[] = [
      { file: 'ip', args: ['link', 'add', this.vipDevice, 'type', 'dummy'] },
      { file: 'ip', args: ['link', 'set', this.vipDevice, 'up'] },
    ];
    for (const h of [...this.clients, ...this.backends]) {
      commands.push(
        { file: 'ip', args: ['netns', 'add', h.namespace] },
        { file: 'ip', args: ['link', 'add', h.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.namespace] },
        { file: 'ip', args: ['addr', 'add', `${h.directorIpv4}/24`, 'dev', h.link] },
        { file: 'ip', args: ['addr', 'add', `${h.directorIpv6}/64`, 'dev', h.link, 'nodad'] },
        { file: 'ip', args: ['link', 'set', h.link, 'up'] },
        {
          file: 'ip',
          args: ['-n', h.namespace, '-batch', '-'],
          input: [
            'link set lo up',
            ...h.ipv4Addresses.map((a) => `addr add ${a}/24 dev eth0`),
            `addr add ${h.ipv6}/64 dev eth0 nodad`,
            'link set eth0 up',
            `route add default via ${h.directorIpv4}`,
            `route add ::/0 via ${h.directorIpv6}`,
          ].join('\n'),
        },
      );
    }
    await runAll(commands);
    for (const b of this.backends) {
      this.writeSysctl(`net/ipv4/conf/${b.link}/accept_local`, '1');
      this.writeSysctl(`net/ipv4/conf/${b.link}/rp_filter`, '0');
    }

    const ports = (list: number[] | undefined) => (list ?? [80]).join(',');
    const servers = this.backends.map((b) =>
      this.spawnAgent(b, ['server', b.name, ports(options.ports?.tcp), ports(options.ports?.udp), ports(options.ports?.sctp)]),
    );
    const clients = this.clients.map((c) => this.spawnAgent(c, ['client']));
    for (const [i, c] of this.clients.entries()) this.clientAgents.set(c.name, clients[i]);
    const limit = (options.startTimeout ?? 60) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the backend servers did not start within ${limit / 1000} s`)), limit);
    });
    try {
      const ready = await Promise.race([Promise.all(servers.map((s) => s.first)), timeout]);
      this.sctp = ready.every((r: any) => r.sctp === true);
    } finally {
      clearTimeout(timer);
    }
  }

  private spawnAgent(h: Host, args: string[]): Agent {
    // `ip netns exec` execs the interpreter: the pid we get is the agent's.
    const child = spawn('ip', ['netns', 'exec', h.namespace, this.python, '-S', '-c', AGENT_SOURCE, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const agent = new Agent(child, `${args[0]} in ${h.namespace}`);
    this.agents.push(agent);
    return agent;
  }

  private writeSysctl(path: string, value: string): void {
    fs.writeFileSync(`/proc/sys/${path}`, value);
  }

  /** Sets a director sysctl, remembering the old value for destroy(). */
  private setSysctl(path: string, value: string): void {
    const old = fs.readFileSync(`/proc/sys/${path}`, 'utf8').trim();
    if (old === value) return;
    this.restore.push([path, old]);
    this.writeSysctl(path, value);
  }

  /** The host with this name (client or backend). */
  host(name: string): Host {
    const h = [...this.clients, ...this.backends].find((x) => x.name === name);
    if (!h) throw new RangeError(`No host named ${JSON.stringify(name)} in this topology`);
    return h;
  }

  /** The backend with this name. */
  backend(name: string): Host {
    const h = this.backends.find((x) => x.name === name);
    if (!h) throw new RangeError(`No backend named ${JSON.stringify(name)} in this topology`);
    return h;
  }

  /** The name of the backend that has this address (IPv4 or IPv6). */
  backendAt(address: string): string {
    const h = this.backends.find((b) => b.ipv4 === address || b.ipv6 === address);
    if (!h) throw new RangeError(`No backend has the address ${address}`);
    return h.name;
  }

  /** Makes an address local on the director (a virtual IP for a service). */
  async addVip(address: string): Promise<void> {
    const v6 = this.family(address) === 6;
    await run('ip', ['addr', 'add', `${address}/${v6 ? 128 : 32}`, 'dev', this.vipDevice, ...(v6 ? ['nodad'] : [])]);
  }

  async deleteVip(address: string): Promise<void> {
    const v6 = this.family(address) === 6;
    await run('ip', ['addr', 'del', `${address}/${v6 ? 128 : 32}`, 'dev', this.vipDevice]);
  }

  /**
   * Readies backends for direct routing or tunnel forwarding to `vip`, the
   * way the kernel's selftest (tools/testing/selftests/net/netfilter/ipvs.sh)
   * does: the VIP on lo, arp_ignore=1 and arp_announce=2 (answer ARP only for
   * addresses on the receiving link), rp_filter off; for tunnels the
   * decapsulating device up (tunl0 / ip6tnl0; a GUE receive port; gre0 / ip6gre0).
   */
  async prepareBackends(vip: string, options: BackendVipOptions = {}): Promise<void> {
    const v6 = this.family(vip) === 6;
    const hosts = options.backends ? options.backends.map((n) => this.backend(n)) : this.backends;
    const tunnel = options.tunnel;
    if (tunnel === 'gue' && (options.port === undefined || !Number.isInteger(options.port) || options.port < 1 || options.port > 65535))
      throw new RangeError(`Expected a GUE port between 1 and 65535 but received ${options.port}`);
    const modules = { ipip: v6 ? ['ip6_tunnel'] : ['ipip'], gue: ['fou', v6 ? 'ip6_tunnel' : 'ipip'], gre: [v6 ? 'ip6_gre' : 'ip_gre'] };
    if (tunnel) await run('modprobe', ['-a', ...modules[tunnel]]);
    const device = tunnel === 'gre' ? (v6 ? 'ip6gre0' : 'gre0') : v6 ? 'ip6tnl0' : 'tunl0';
    const commands: Command[] = [];
    for (const h of hosts) {
      const have = await run('ip', ['-n', h.namespace, '-o', 'addr', 'show', 'dev', 'lo']);
      if (!have.includes(` ${vip}/`))
        commands.push({ file: 'ip', args: ['-n', h.namespace, 'addr', 'add', `${vip}/${v6 ? 128 : 32}`, 'dev', 'lo', ...(v6 ? ['nodad'] : [])] });
      const sysctls = [
        'net.ipv4.conf.all.arp_ignore=1',
        'net.ipv4.conf.all.arp_announce=2',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.eth0.rp_filter=0',
      ];
      if (tunnel) {
        commands.push({ file: 'ip', args: ['-n', h.namespace, 'link', 'set', device, 'up'] });
        if (!v6) sysctls.push(`net.ipv4.conf.${device}.rp_filter=0`);
      }
      if (tunnel === 'gue' && !this.fouPorts.has(`${h.namespace}:${options.port}:${v6}`)) {
        this.fouPorts.add(`${h.namespace}:${options.port}:${v6}`);
        commands.push({ file: 'ip', args: ['-n', h.namespace, ...(v6 ? ['-6'] : []), 'fou', 'add', 'port', String(options.port), 'gue'] });
      }
      commands.push({ file: 'ip', args: ['netns', 'exec', h.namespace, 'sysctl', '-q', '-w', ...sysctls] });
    }
    await runAll(commands);
  }

  /** A device's packet counters in a host's namespace (e.g. a backend's tunl0). */
  async linkStats(hostName: string, device: string): Promise<{ rxPackets: number; txPackets: number; rxBytes: number; txBytes: number }> {
    const h = this.host(hostName);
    const [info] = JSON.parse(await run('ip', ['-n', h.namespace, '-j', '-s', 'link', 'show', 'dev', device]));
    const s = info.stats64 ?? info.stats;
    return { rxPackets: s.rx.packets, txPackets: s.tx.packets, rxBytes: s.rx.bytes, txBytes: s.tx.bytes };
  }

  /** One request to vip:port; resolves with the answering backend's name, rejects if none answered. */
  async request(vip: string, port: number, options: RequestOptions = {}): Promise<string> {
    const [result] = await this.batch([{ ...options, address: vip, port }]);
    if (result.error !== undefined) throw new Error(`request to ${vip} port ${port} (${options.protocol ?? 'tcp'}) failed: ${result.error}`);
    return result.backend!;
  }

  /** `count` requests in a row (each a new connection); the backends' names in order. Rejects if any failed. */
  async requests(vip: string, port: number, count: number, options: RequestOptions = {}): Promise<string[]> {
    const results = await this.attempt(vip, port, count, options);
    const failed = results.filter((r) => r.error !== undefined);
    if (failed.length > 0)
      throw new Error(`${failed.length} of ${count} requests to ${vip} port ${port} (${options.protocol ?? 'tcp'}) failed: ${failed[0].error}`);
    return results.map((r) => r.backend!);
  }

  /** Like requests(), but returns each outcome, failures included. */
  attempt(vip: string, port: number, count = 1, options: RequestOptions = {}): Promise<RequestResult[]> {
    return this.batch(Array.from({ length: count }, () => ({ ...options, address: vip, port })));
  }

  /** Requests in the given order (one round trip per run of the same client). */
  async batch(specs: RequestSpec[]): Promise<RequestResult[]> {
    const results: RequestResult[] = [];
    let i = 0;
    while (i < specs.length) {
      const client = specs[i].client;
      let j = i;
      while (j < specs.length && specs[j].client === client) j++;
      const reply = await this.agentFor(client).call({ op: 'request', requests: specs.slice(i, j).map((s) => this.wire(s)) });
      for (const r of reply.results) results.push(r.error !== undefined ? { error: r.error } : { backend: r.name, peer: r.peer, local: r.local });
      i = j;
    }
    return results;
  }

  /** Opens a TCP or SCTP connection and keeps it open; rejects if no backend answered. */
  async open(vip: string, port: number, options: RequestOptions = {}): Promise<HeldConnection> {
    if (options.protocol === 'udp') throw new RangeError('open() keeps TCP or SCTP connections, not UDP');
    const agent = this.agentFor(options.client);
    const reply = await agent.call({ op: 'open', ...this.wire({ ...options, address: vip, port }) });
    if (reply.error !== undefined) throw new Error(`connection to ${vip} port ${port} failed: ${reply.error}`);
    const conn: number = reply.conn;
    let closed = false;
    return {
      backend: reply.name,
      peer: reply.peer,
      local: reply.local,
      async ping() {
        const r = await agent.call({ op: 'ping', conn });
        if (r.error !== undefined) throw new Error(`held connection to ${vip} port ${port} (${reply.name}) failed: ${r.error}`);
        return r.name;
      },
      async close() {
        if (closed) return;
        closed = true;
        await agent.call({ op: 'close', conn });
      },
    };
  }

  /** Which marking tool mark() uses here: nft, else iptables, else tc (skbedit at the clients' links). */
  markMethod(): MarkMethod {
    if (this.markWith) return this.markWith;
    if (hasCommand('nft')) return 'nft';
    if (hasCommand('iptables') && hasCommand('ip6tables')) return 'iptables';
    return 'tc';
  }

  /**
   * Marks the packets clients send to `rule.destination` (for fwmark
   * services): with nft or iptables (a mangle/prerouting rule) when
   * installed, else with tc (skbedit on the director's client links' ingress).
   */
  async mark(rule: MarkRule, method: MarkMethod = this.markMethod()): Promise<Marking> {
    const [address, prefix, more] = rule.destination.split('/');
    const v6 = this.family(address) === 6;
    if (more !== undefined || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= (v6 ? 128 : 32))))
      throw new RangeError(`Expected an address or address/prefix but received ${JSON.stringify(rule.destination)}`);
    if (!Number.isInteger(rule.mark) || rule.mark < 1 || rule.mark > 0xffffffff) throw new RangeError(`Expected a mark between 1 and 2^32-1 but received ${rule.mark}`);
    if (rule.port !== undefined && rule.protocol === undefined) throw new RangeError('mark(): a port needs a protocol');
    let remove: () => Promise<void>;
    if (method === 'nft') {
      const family = v6 ? 'ip6' : 'ip';
      const table = `${this.id}`;
      if (!this.nftTables.has(family)) {
        await run('nft', ['-f', '-'], `add table ${family} ${table}\nadd chain ${family} ${table} pre { type filter hook prerouting priority mangle; }\n`);
        this.nftTables.add(family);
      }
      const match = [`${family} daddr ${rule.destination}`];
      if (rule.protocol) match.push(rule.port !== undefined ? `${rule.protocol} dport ${rule.port}` : `meta l4proto ${rule.protocol}`);
      const out = await run('nft', ['-a', '-e', 'add', 'rule', family, table, 'pre', ...match.join(' ').split(' '), 'meta', 'mark', 'set', String(rule.mark)]);
      const handle = /# handle (\d+)/.exec(out)?.[1];
      if (!handle) throw new Error(`nft did not say the new rule's handle: ${out}`);
      remove = () => run('nft', ['delete', 'rule', family, table, 'pre', 'handle', handle]).then(() => undefined);
    } else if (method === 'iptables') {
      const spec = ['PREROUTING', '-d', rule.destination];
      if (rule.protocol) spec.push('-p', rule.protocol);
      if (rule.port !== undefined) spec.push('--dport', String(rule.port));
      spec.push('-m', 'comment', '--comment', this.id, '-j', 'MARK', '--set-mark', String(rule.mark));
      const tool = v6 ? 'ip6tables' : 'iptables';
      await run(tool, ['-w', '-t', 'mangle', '-A', ...spec]);
      remove = () => run(tool, ['-w', '-t', 'mangle', '-D', ...spec]).then(() => undefined);
    } else {
      await run('modprobe', ['-q', '-a', 'sch_ingress', 'cls_flower', 'act_skbedit']).catch(() => undefined);
      const pref = String(this.nextPref++);
      const commands: Command[] = [];
      for (const c of this.clients) {
        if (!this.tcLinks.has(c.link)) {
          this.tcLinks.add(c.link);
          commands.push({ file: 'tc', args: ['qdisc', 'add', 'dev', c.link, 'clsact'] });
        }
        const match = ['dst_ip', rule.destination];
        if (rule.protocol) match.push('ip_proto', rule.protocol);
        if (rule.port !== undefined) match.push('dst_port', String(rule.port));
        commands.push({
          file: 'tc',
          args: ['filter', 'add', 'dev', c.link, 'ingress', 'pref', pref, 'protocol', v6 ? 'ipv6' : 'ip', 'flower', ...match, 'action', 'skbedit', 'mark', String(rule.mark)],
        });
      }
      await runAll(commands);
      remove = () =>
        runAll(this.clients.map((c) => ({ file: 'tc', args: ['filter', 'del', 'dev', c.link, 'ingress', 'pref', pref] })));
    }
    let removed = false;
    const undo = async () => {
      if (removed) return;
      removed = true;
      this.markings.delete(undo);
      await remove();
    };
    this.markings.add(undo);
    return { method, remove: undo };
  }

  /**
   * Stops the processes this topology started (by pid), deletes its
   * namespaces, links, VIP device and marking rules, and restores the
   * director's sysctls. Safe to call twice.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const errors: string[] = [];
    const attempt = async (what: () => Promise<unknown>) => {
      try {
        await what();
      } catch (error) {
        errors.push((error as Error).message);
      }
    };
    await Promise.all(this.agents.map((a) => attempt(() => a.stop())));
    process.removeListener('exit', this.onExit);
    for (const undo of [...this.markings]) await attempt(undo);
    for (const family of this.nftTables) await attempt(() => run('nft', ['delete', 'table', family, this.id]));
    // Deleting the director's end of a veth pair deletes both ends at once
    // (a namespace's devices otherwise go away asynchronously after its deletion).
    const commands: Command[] = [];
    for (const h of [...this.clients, ...this.backends])
      if (fs.existsSync(`/sys/class/net/${h.link}`)) commands.push({ file: 'ip', args: ['link', 'del', h.link] });
    if (fs.existsSync(`/sys/class/net/${this.vipDevice}`)) commands.push({ file: 'ip', args: ['link', 'del', this.vipDevice] });
    await attempt(() => runAll(commands));
    const existing = new Set((await run('ip', ['netns', 'list']).catch(() => '')).split('\n').map((l) => l.split(' ')[0]));
    const namespaces = [...this.clients, ...this.backends].filter((h) => existing.has(h.namespace));
    await attempt(() => runAll(namespaces.map((h) => ({ file: 'ip', args: ['netns', 'del', h.namespace] }))));
    for (const [path, value] of this.restore.reverse()) await attempt(async () => this.writeSysctl(path, value));
    if (errors.length > 0) throw new Error(`Topology.destroy: ${errors.join('; ')}`);
  }

  private agentFor(client: string | undefined): Agent {
    if (this.destroyed) throw new Error('this topology was destroyed');
    const name = client ?? this.clients[0].name;
    const agent = this.clientAgents.get(name);
    if (!agent) throw new RangeError(`No client named ${JSON.stringify(name)} in this topology`);
    return agent;
  }

  private wire(s: RequestSpec): Record<string, unknown> {
    if (!net.isIP(s.address)) throw new TypeError(`Expected an IP address but received ${JSON.stringify(s.address)}`);
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new RangeError(`Expected a port between 1 and 65535 but received ${s.port}`);
    return {
      protocol: s.protocol ?? 'tcp',
      address: s.address,
      port: s.port,
      source: s.source,
      sourcePort: s.sourcePort,
      timeout: s.timeout ?? 3,
    };
  }

  private family(address: string): 4 | 6 {
    const f = net.isIP(address);
    if (f === 0) throw new TypeError(`Expected an IP address but received ${JSON.stringify(address)}`);
    return f as 4 | 6;
  }
}
