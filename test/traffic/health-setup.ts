// Shared by the health traffic tests: a health endpoint in a backend's
// namespace that a test stops and starts (the backend's port-80 server, and
// connections held to it, stay up: a check fails as it would for a real
// server whose health page went away), `ipvs check` as a child process read
// line by line, and the kernel's weights as `ipvsadm -Sn` prints them.
import { ChildProcess, execFile, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Host } from '../../lib/testing/topology';
import { eventually } from './helpers';

export const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'ipvs.js');
export const HEALTH_PORT = 8080;

/**
 * A health page: a minimal HTTP server in Python (socket only, run with -S:
 * http.server takes many seconds to import in the emulated VM), answering
 * every request "200 ok" and printing a line per request. "stop" on stdin
 * closes its listening socket (connections are refused, as with the server
 * gone), "start" listens again: a process start costs seconds in the VM.
 */
/**
 * The start of a ScriptServer's script: say(text) prints a line at once,
 * listen() listens on argv's address and port (a selector's 'listener') and
 * says 'listening', and command() reads a line of stdin: 'stop' closes the
 * listening socket (says 'stopped'), 'start' listens again, end of input exits.
 */
export const LISTENER_PRELUDE = String.raw`
import selectors, socket, sys
sel = selectors.DefaultSelector()
listener = None

def say(text):
    sys.stdout.write(text + '\n'); sys.stdout.flush()

def listen():
    global listener
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((sys.argv[1], int(sys.argv[2])))
    listener.listen(64)
    sel.register(listener, selectors.EVENT_READ, 'listener')
    say('listening')

def command():
    global listener
    line = sys.stdin.readline().strip()
    if line == '':
        sys.exit(0)
    if line == 'stop' and listener is not None:
        sel.unregister(listener)
        listener.close()
        listener = None
        say('stopped')
    elif line == 'start' and listener is None:
        listen()
`;

const HEALTH_SERVER = LISTENER_PRELUDE + String.raw`

def answer(c):
    c.settimeout(2)
    try:
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        if b'\r\n\r\n' in data:
            c.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n')
            say(data.split(b'\r\n')[0].decode())
    except OSError:
        pass
    c.close()

sel.register(sys.stdin, selectors.EVENT_READ, 'stdin')
listen()
while True:
    for key, _ in sel.select():
        if key.data == 'listener':
            answer(listener.accept()[0])
        else:
            command()
`;

/**
 * A Python server script in a backend's namespace (`python3 -S -u -c SCRIPT
 * ADDRESS PORT`), talked to by lines: commands on its stdin, and on its
 * stdout words it says (awaited with expect()) or lines a subclass counts
 * (see) instead. Ended by its pid.
 */
export class ScriptServer {
  private child: ChildProcess | undefined;
  private said: string[] = [];

  constructor(
    readonly host: Host,
    /** 'health server', 'trickle server': how errors name it. */
    private readonly what: string,
    private readonly script: string,
    private readonly port: number,
  ) {}

  /** A line it printed: true when taken (counted), else kept as a word for expect(). */
  protected see(_line: string): boolean {
    return false;
  }

  /** Starts its process; resolves once it says 'listening'. */
  async create(): Promise<void> {
    // `ip netns exec` execs the interpreter: the pid is the server's.
    const child = spawn('ip', ['netns', 'exec', this.host.namespace, 'python3', '-S', '-u', '-c', this.script, this.host.ipv4, String(this.port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    let errors = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (errors = (errors + chunk).slice(-2000)));
    child.stdout!.setEncoding('utf8');
    let rest = '';
    child.stdout!.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const l of lines) if (!this.see(l)) this.said.push(l);
    });
    await this.expect('listening', () => errors);
  }

  /** Writes a command line and waits for the word it answers with. */
  protected async command(text: string, answer: string): Promise<void> {
    this.child!.stdin!.write(`${text}\n`);
    await this.expect(answer);
  }

  private async expect(word: string, errors: () => string = () => ''): Promise<void> {
    const child = this.child!;
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`the ${this.what} of ${this.host.name} exited (${child.exitCode}): ${errors()}`);
      const i = this.said.indexOf(word);
      if (i < 0) return false;
      this.said.splice(i, 1);
      return true;
      // Generous: a Python start is seconds in the emulated VM, and more when other VMs load the machine.
    }, `the ${this.what} of ${this.host.name} to say ${word}`, 180_000);
  }

  /** Ends its process (by its pid). */
  async destroy(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

/** A health server on HEALTH_PORT of a backend's address; counts the requests it answers. */
export class HealthServer extends ScriptServer {
  /** Requests answered since made. */
  requests = 0;
  private listening = false;

  constructor(host: Host) {
    super(host, 'health server', HEALTH_SERVER, HEALTH_PORT);
  }

  protected override see(line: string): boolean {
    if (!/^GET \S+ HTTP/.test(line)) return false;
    this.requests++;
    return true;
  }

  override async create(): Promise<void> {
    await super.create();
    this.listening = true;
  }

  /** Closes its listening socket: new connections are refused. */
  async stop(): Promise<void> {
    if (!this.listening) return;
    await this.command('stop', 'stopped');
    this.listening = false;
  }

  /** Listens again. */
  async start(): Promise<void> {
    if (this.listening) return;
    await this.command('start', 'listening');
    this.listening = true;
  }

  get running(): boolean {
    return this.listening;
  }
}

/** One printed line of `ipvs check` and when the test read it. */
export interface CheckLine {
  text: string;
  /** The time printed at its start (ms since the epoch), if any. */
  at: number | undefined;
}

/** `ipvs check FILE` (or other ipvs arguments) run as a child process; its stdout and stderr kept as lines. */
export class CheckProcess {
  readonly lines: CheckLine[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private waiters: Array<() => void> = [];
  /** The document's file, when started by start(). */
  file = '';

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      stream.setEncoding('utf8');
      let rest = '';
      stream.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop()!;
        for (const text of parts) {
          const stamp = /^(\d{4}-\d\d-\d\dT\S+Z) /.exec(text);
          this.lines.push({ text, at: stamp ? Date.parse(stamp[1]) : undefined });
        }
        for (const w of this.waiters) w();
      });
    }
  }

  /** Starts `ipvs check FILE` for a document and waits for its first line (the document made). */
  static async start(document: unknown[], extra: string[] = []): Promise<CheckProcess> {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-check-')), 'services.json');
    fs.writeFileSync(file, JSON.stringify(document));
    const p = new CheckProcess(['check', file, ...extra]);
    p.file = file;
    await p.waitFor(/^ipvs check: /, 90_000);
    return p;
  }

  /** The first line after index `from` matching `pattern`; waits for it at most `ms`. */
  async waitFor(pattern: RegExp, ms = 60_000, from = 0): Promise<CheckLine> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.slice(from).find((l) => pattern.test(l.text));
      if (found) return found;
      if (this.child.exitCode !== null) throw new Error(`ipvs check exited (${this.child.exitCode}) before printing ${pattern}:\n${this.text()}`);
      if (Date.now() > deadline) throw new Error(`ipvs check did not print ${pattern} within ${ms} ms:\n${this.text()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 250);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      this.waiters = [];
    }
  }

  text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }

  /** SIGTERM, then its exit status. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** The kernel's weights: 'VIP:PORT DEST:PORT' -> weight, from `ipvsadm -Sn` (its output, when given). */
export function kernelWeights(saved = execFileSync('ipvsadm', ['-Sn'], { encoding: 'utf8' })): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of saved.split('\n')) {
    const m = /^-a -[tus] (\S+) -r (\S+) .*-w (\d+)/.exec(line);
    if (m) out.set(`${m[1]} ${m[2]}`, Number(m[3]));
  }
  return out;
}

/** `ipvsadm -Sn` without blocking the event loop (a watcher running beside a child process read line by line). */
export function saveTable(): Promise<string> {
  return new Promise((resolve, reject) => execFile('ipvsadm', ['-Sn'], { encoding: 'utf8' }, (error, stdout) => (error ? reject(error) : resolve(stdout))));
}

/** The kernel's weight of one destination (undefined: absent). */
export function kernelWeight(vip: string, destination: string, port = 80): number | undefined {
  return kernelWeights().get(`${vip}:${port} ${destination}:${port}`);
}

/** A weight line of `ipvs check` for a destination. */
export function weightLine(destination: string, weight: number | 'removed', vip?: string): RegExp {
  const esc = (s: string) => s.replace(/\./g, '\\.');
  return new RegExp(`^\\S+ weight service tcp ${vip ? esc(vip) : '\\S+'}:80 destination ${esc(destination)}:80 ${weight}$`);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
