// ipvsadm's command line, read the way ipvsadm 1.31 reads it (popt options,
// its table of which options each command allows, its defaults and its
// messages), into typed commands. A rules line (ipvsadm -S / -R) is such a
// command line, so the rules format and the `ipvs` command share this parser.
import { addressVersion, canonicalText, ipv4Number, maskPrefix } from '../address';
import type { Protocol } from '../constants';
import type { DestinationSpec, Family, ServiceKey, ServiceSpec, SyncDaemonSpec, SyncState, Timeouts } from '../index';
import { systemHostNames, systemPortNames, type HostNames, type PortNames } from './services';

/** A word of a command line or rules line, with its 1-based column (0 when it came from argv). */
export interface Word {
  text: string;
  column: number;
}

/**
 * A command line or rules line ipvsadm would refuse. `status` is the exit
 * status ipvsadm gives it (2, or 255 for "Try `ipvsadm -h'").
 */
export class RulesError extends Error {
  /** 1-based line of a rules text; undefined for a command line. */
  line?: number;
  /** 1-based column of the offending word; undefined when the whole line is at fault. */
  column?: number;
  /** The message without the position. */
  readonly reason: string;
  constructor(reason: string, column?: number, readonly status = 2) {
    super(reason);
    this.name = 'RulesError';
    this.reason = reason;
    if (column) this.column = column;
  }
  /** Adds the line (and source name) to the message: 'rules:3:7: illegal weight specified'. */
  at(line: number, source = 'line'): this {
    this.line = line;
    this.message = source === 'line' ? `line ${line}${this.column ? `, column ${this.column}` : ''}: ${this.reason}` : `${source}:${line}:${this.column ?? 1}: ${this.reason}`;
    return this;
  }
}

/** How listings are printed (ipvsadm's -L options). */
export interface ListFormat {
  numeric: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  tunInfo: boolean;
  noSort: boolean;
  exact: boolean;
}

/** A service key with its family spelled out. */
export type RuleServiceKey = ServiceKey & { family: Family };

/** A destination of an -a/-e rule: every setting given (ipvsadm's defaults where the line has none). */
export type RuleDestination = Required<Pick<DestinationSpec, 'address' | 'port' | 'weight' | 'forwarding' | 'upperThreshold' | 'lowerThreshold'>> &
  Pick<DestinationSpec, 'tunnel'>;

/** The commands that change the table: what a rules line may hold. */
export type Rule =
  | { command: 'add-service' | 'edit-service'; service: ServiceSpec & { family: Family } }
  | { command: 'delete-service'; service: RuleServiceKey }
  | { command: 'add-server' | 'edit-server'; service: RuleServiceKey; destination: RuleDestination }
  | { command: 'delete-server'; service: RuleServiceKey; destination: { address: string; port: number } }
  | { command: 'clear' }
  | { command: 'zero'; service?: ServiceKey & { family: Family } };

/** Any ipvsadm command line. */
export type IpvsadmCommand =
  | Rule
  | { command: 'list'; show: 'services' | 'connections' | 'timeout' | 'daemon'; service?: ServiceKey & { family: Family }; format: ListFormat }
  | { command: 'save'; numeric: boolean }
  | { command: 'restore' }
  | { command: 'set'; timeouts: Timeouts }
  | { command: 'start-daemon'; daemon: SyncDaemonSpec & { syncId: number } }
  | { command: 'stop-daemon'; state: SyncState; syncId?: number }
  | { command: 'help' }
  | { command: 'version' };

export interface ParseOptions {
  /** Port names for `host:name` (default: /etc/services, read only if a name appears). */
  portNames?: PortNames;
  /** Host names for IPv4 `name:port` (default: /etc/hosts, read only if a name appears; no DNS). */
  hostNames?: HostNames;
}

// --- The option table ------------------------------------------------------------------

type ArgKind = 'none' | 'required' | 'optional';
interface OptionDef {
  long: string;
  short?: string;
  arg: ArgKind;
}

const OPTIONS: OptionDef[] = [
  { long: 'add-service', short: 'A', arg: 'none' },
  { long: 'edit-service', short: 'E', arg: 'none' },
  { long: 'delete-service', short: 'D', arg: 'none' },
  { long: 'clear', short: 'C', arg: 'none' },
  { long: 'list', short: 'L', arg: 'none' },
  { long: 'list', short: 'l', arg: 'none' },
  { long: 'zero', short: 'Z', arg: 'none' },
  { long: 'add-server', short: 'a', arg: 'none' },
  { long: 'edit-server', short: 'e', arg: 'none' },
  { long: 'delete-server', short: 'd', arg: 'none' },
  { long: 'set', arg: 'none' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'v', arg: 'none' },
  { long: 'restore', short: 'R', arg: 'none' },
  { long: 'save', short: 'S', arg: 'none' },
  { long: 'start-daemon', arg: 'required' },
  { long: 'stop-daemon', arg: 'required' },
  { long: 'tcp-service', short: 't', arg: 'required' },
  { long: 'udp-service', short: 'u', arg: 'required' },
  { long: 'sctp-service', arg: 'required' },
  { long: 'fwmark-service', short: 'f', arg: 'required' },
  { long: 'scheduler', short: 's', arg: 'required' },
  { long: 'persistent', short: 'p', arg: 'optional' },
  { long: 'netmask', short: 'M', arg: 'required' },
  { long: 'real-server', short: 'r', arg: 'required' },
  { long: 'masquerading', short: 'm', arg: 'none' },
  { long: 'ipip', short: 'i', arg: 'none' },
  { long: 'gatewaying', short: 'g', arg: 'none' },
  { long: 'weight', short: 'w', arg: 'required' },
  { long: 'u-threshold', short: 'x', arg: 'required' },
  { long: 'l-threshold', short: 'y', arg: 'required' },
  { long: 'numeric', short: 'n', arg: 'none' },
  { long: 'connection', short: 'c', arg: 'none' },
  { long: 'mcast-interface', arg: 'required' },
  { long: 'syncid', arg: 'required' },
  { long: 'timeout', arg: 'none' },
  { long: 'daemon', arg: 'none' },
  { long: 'stats', arg: 'none' },
  { long: 'rate', arg: 'none' },
  { long: 'thresholds', arg: 'none' },
  { long: 'persistent-conn', arg: 'none' },
  { long: 'nosort', arg: 'none' },
  { long: 'sort', arg: 'none' },
  { long: 'exact', short: 'X', arg: 'none' },
  { long: 'ipv6', short: '6', arg: 'none' },
  { long: 'ops', short: 'o', arg: 'none' },
  { long: 'pe', arg: 'required' },
  { long: 'sched-flags', short: 'b', arg: 'required' },
  { long: 'mcast-group', arg: 'required' },
  { long: 'mcast-port', arg: 'required' },
  { long: 'mcast-ttl', arg: 'required' },
  { long: 'sync-maxlen', arg: 'required' },
  { long: 'tun-info', arg: 'none' },
  { long: 'tun-type', arg: 'required' },
  { long: 'tun-port', arg: 'required' },
  { long: 'tun-nocsum', arg: 'none' },
  { long: 'tun-csum', arg: 'none' },
  { long: 'tun-remcsum', arg: 'none' },
];
const BY_LONG = new Map(OPTIONS.map((o) => [o.long, o]));
const BY_SHORT = new Map(OPTIONS.filter((o) => o.short).map((o) => [o.short as string, o]));

// ipvsadm's commands and its option classes, in its own order and words
// (cmdnames[] and optnames[]): the table below is indexed by them.
const COMMANDS = [
  'add-service', 'edit-service', 'delete-service', 'flush', 'list', 'add-server', 'delete-server', 'edit-server',
  'set', 'start-daemon', 'stop-daemon', 'restore', 'save', 'zero',
] as const;
type CommandName = (typeof COMMANDS)[number];
const OPTION_CLASSES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server', 'forwarding-method',
  'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout', 'daemon', 'stats', 'rate', 'thresholds',
  'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe', 'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl',
  'sync-maxlen', 'tun-info', 'tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
] as const;
type OptionClass = (typeof OPTION_CLASSES)[number];

// ipvsadm's commands_v_options: '+' required, 'x' refused, '1' at most one of
// those marked so, ' ' allowed. Read from ipvsadm 1.31 itself.
const COMMAND_OPTIONS: Record<CommandName, string> = {
  'add-service':    'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx',
  'edit-service':   'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx',
  'delete-service': 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  flush:            'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  list:             ' 11xxxxxxxxx11       xxxxxxx xxxxx',
  'add-server':     'xx+xxx+    xxxxxxxxxxxxxxxxxx     ',
  'delete-server':  'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'edit-server':    'xx+xxx+    xxxxxxxxxxxxxxxxxx     ',
  set:              'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'start-daemon':   'xxxxxxxxxxx xxxxxxx xxxx    xxxxxx',
  'stop-daemon':    'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx',
  restore:          'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  save:             ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  zero:             'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
};

// tunnel_types_v_options: tun-port, tun-nocsum, tun-csum, tun-remcsum per tunnel type.
const TUNNEL_OPTIONS: Record<'ipip' | 'gue' | 'gre', string> = { ipip: 'xxxx', gue: '+111', gre: 'x11x' };
const TUNNEL_OPTION_CLASSES: OptionClass[] = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'];

/** Which long option (or short letter) is which command. */
const COMMAND_OF: Record<string, CommandName | 'help' | 'version'> = {
  'add-service': 'add-service', 'edit-service': 'edit-service', 'delete-service': 'delete-service', clear: 'flush',
  list: 'list', zero: 'zero', 'add-server': 'add-server', 'edit-server': 'edit-server', 'delete-server': 'delete-server',
  set: 'set', help: 'help', version: 'version', restore: 'restore', save: 'save', 'start-daemon': 'start-daemon', 'stop-daemon': 'stop-daemon',
};

/** The option class each option sets (options absent here set none: -6, --sort). */
const CLASS_OF: Record<string, OptionClass> = {
  'tcp-service': 'service-address', 'udp-service': 'service-address', 'sctp-service': 'service-address', 'fwmark-service': 'service-address',
  scheduler: 'scheduler', persistent: 'persistent', netmask: 'netmask', 'real-server': 'real-server',
  masquerading: 'forwarding-method', ipip: 'forwarding-method', gatewaying: 'forwarding-method',
  weight: 'weight', 'u-threshold': 'u-threshold', 'l-threshold': 'l-threshold', numeric: 'numeric', connection: 'connection',
  'mcast-interface': 'mcast-interface', syncid: 'syncid', timeout: 'timeout', daemon: 'daemon', stats: 'stats', rate: 'rate',
  thresholds: 'thresholds', 'persistent-conn': 'persistent-conn', nosort: 'nosort', exact: 'exact', ops: 'ops', pe: 'pe',
  'sched-flags': 'sched-flags', 'mcast-group': 'mcast-group', 'mcast-port': 'mcast-port', 'mcast-ttl': 'mcast-ttl',
  'sync-maxlen': 'sync-maxlen', 'tun-info': 'tun-info', 'tun-type': 'tun-type', 'tun-port': 'tun-port',
  'tun-nocsum': 'tun-nocsum', 'tun-csum': 'tun-csum', 'tun-remcsum': 'tun-remcsum',
};

const MAX_TIMEOUT = 86400 * 31;
const INT_MIN = -0x80000000;
const INT_MAX = 0x7fffffff;
const UINT_MAX = 0xffffffff;
const DEFAULT_SCHEDULER = 'wlc';
const DEFAULT_PERSISTENCE = 360;
const DEFAULT_MCAST_INTERFACE = 'eth0';

// --- Reading the words -------------------------------------------------------------------

interface Occurrence {
  def: OptionDef;
  /** Column of the option itself. */
  column: number;
  value?: Word;
}

/** Splits words into options (popt's way: bundles `-Ln`, `-w5`, `--weight=5`, `-p [timeout]`) and leftover arguments. */
function readOptions(words: Word[]): { options: Occurrence[]; args: Word[] } {
  const options: Occurrence[] = [];
  const args: Word[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const takeValue = (def: OptionDef, attached: Word | undefined, column: number): void => {
      if (def.arg === 'none') {
        if (attached) throw new RulesError(`option '--${def.long}' takes no value`, column);
        options.push({ def, column });
        return;
      }
      if (attached) {
        options.push({ def, column, value: attached });
        return;
      }
      const next = words[i + 1];
      // popt: an optional value is taken only if the next word is not an option.
      if (def.arg === 'optional' && (next === undefined || next.text.startsWith('-'))) {
        options.push({ def, column });
        return;
      }
      if (next === undefined) throw new RulesError(`option '${w.text}' needs a value`, column);
      i++;
      options.push({ def, column, value: next });
    };
    if (w.text.startsWith('--') && w.text.length > 2) {
      const eq = w.text.indexOf('=');
      const name = w.text.slice(2, eq < 0 ? undefined : eq);
      const def = BY_LONG.get(name);
      if (!def) throw new RulesError(`unknown option '--${name}'`, w.column, 255);
      takeValue(def, eq < 0 ? undefined : { text: w.text.slice(eq + 1), column: w.column ? w.column + eq + 1 : 0 }, w.column);
    } else if (w.text.startsWith('-') && w.text.length > 1) {
      for (let k = 1; k < w.text.length; k++) {
        // The first letter is named by the word's column, later ones of a bundle by their own.
        const column = w.column ? w.column + (k === 1 ? 0 : k) : 0;
        const def = BY_SHORT.get(w.text[k]);
        if (!def) throw new RulesError(`unknown option '-${w.text[k]}'`, column, 255);
        if (def.arg !== 'none' && k + 1 < w.text.length) {
          takeValue(def, { text: w.text.slice(k + 1), column: w.column ? w.column + k + 1 : 0 }, column);
          break;
        }
        takeValue(def, undefined, column);
      }
    } else {
      args.push(w);
    }
  }
  return { options, args };
}

// --- Values, as ipvsadm checks them --------------------------------------------------------

/** strtol-style decimal in [min, max], or undefined. */
function number(text: string, min: number, max: number): number | undefined {
  if (!/^[+-]?\d+$/.test(text.trim()) || /^\s/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

function isDigits(text: string): boolean {
  return /^\d*$/.test(text);
}

interface Endpoint {
  family: Family;
  address: string;
  port?: number;
}

/** ipvsadm's parse_service: `a.b.c.d[:port]`, `[v6][:port]` (a port needs the brackets), or a bare IPv6 address. */
function parseEndpoint(text: string, protocol: string, names: () => PortNames, hosts: () => HostNames): Endpoint | undefined {
  if (text === '' || isDigits(text)) return undefined;
  let host = text;
  let port: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (addressVersion(host) !== 6) return undefined;
  } else if (addressVersion(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      port = text.slice(colon + 1);
    }
    if (addressVersion(host) !== 4) {
      // ipvsadm's host_to_addr: a name with an IPv4 address.
      const resolved = /^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(host) ? hosts().address(host) : undefined;
      if (resolved === undefined) return undefined;
      host = resolved;
    }
  }
  const version = addressVersion(host) as 4 | 6;
  const endpoint: Endpoint = { family: version === 4 ? 'ipv4' : 'ipv6', address: canonicalText(host, version) };
  if (port !== undefined) {
    const n = number(port, 0, 65535) ?? names().port(port, protocol);
    if (n === undefined) return undefined;
    endpoint.port = n;
  }
  return endpoint;
}

/** A dotted IPv4 mask as a prefix length when contiguous (as the library reads masks back), else the dotted text. */
function ipv4Mask(text: string): number | string | undefined {
  if (addressVersion(text) !== 4) return undefined;
  return maskPrefix(ipv4Number(text)) ?? text;
}

const SCHEDULER_FLAG_NAMES: Record<string, { flag: 'fallback' | 'port' | 'flag3'; scheduler?: string }> = {
  'flag-1': { flag: 'fallback' },
  'flag-2': { flag: 'port' },
  'flag-3': { flag: 'flag3' },
  'sh-fallback': { flag: 'fallback', scheduler: 'sh' },
  'sh-port': { flag: 'port', scheduler: 'sh' },
  'mh-fallback': { flag: 'fallback', scheduler: 'mh' },
  'mh-port': { flag: 'port', scheduler: 'mh' },
};

// --- The parser --------------------------------------------------------------------------

/** Words of a command line (argv after the program name). */
export function argvWords(argv: readonly string[]): Word[] {
  return argv.map((text) => ({ text, column: 0 }));
}

/**
 * Reads one ipvsadm command line into a typed command, with ipvsadm's
 * defaults (scheduler wlc, -g, weight 1, -p alone 360 s, the service's port
 * for a destination without one and for every DR or tunnel destination).
 * Throws RulesError with ipvsadm's message and exit status.
 */
export function parseIpvsadmCommand(words: Word[], options: ParseOptions = {}): IpvsadmCommand {
  let portNames: PortNames | undefined = options.portNames;
  const names = (): PortNames => (portNames ??= systemPortNames());
  let hostNames: HostNames | undefined = options.hostNames;
  const hosts = (): HostNames => (hostNames ??= systemHostNames());
  const { options: occurrences, args } = readOptions(words);

  let command: CommandName | 'help' | 'version' | undefined;
  let commandColumn = 0;
  const given = new Set<OptionClass>();
  const at = new Map<OptionClass, number>();
  const value = new Map<string, Word | undefined>();
  let ipv6Column = 0;

  for (const o of occurrences) {
    const which = COMMAND_OF[o.def.long];
    if (which !== undefined) {
      if (command !== undefined) throw new RulesError('multiple commands specified', o.column);
      command = which;
      commandColumn = o.column;
      if (o.value) value.set(o.def.long, o.value);
      continue;
    }
    if (o.def.long === 'ipv6') {
      ipv6Column = o.column || 1;
      continue;
    }
    if (o.def.long === 'sort') continue; // ipvsadm: "does nothing, for backwards compatibility"
    const cls = CLASS_OF[o.def.long];
    if (given.has(cls)) throw new RulesError(`multiple '${cls}' options specified`, o.column);
    given.add(cls);
    at.set(cls, o.column);
    value.set(o.def.long, o.value);
  }
  if (command === undefined) throw new RulesError('no command given (one of -A -E -D -C -R -S -a -e -d -L -Z --set --start-daemon --stop-daemon -h -v)', words[0]?.column, 255);
  if (command === 'help') return { command: 'help' };
  if (command === 'version') return { command: 'version' };

  const fail = (message: string, cls?: OptionClass): never => {
    throw new RulesError(message, cls ? at.get(cls) : commandColumn);
  };
  const valueOf = (long: string): Word => value.get(long) as Word;
  const colOf = (long: string): number | undefined => value.get(long)?.column;

  // --set takes its three values as arguments; anything else left over is an error.
  let timeouts: Timeouts | undefined;
  if (command === 'set') {
    if (args.length < 3) throw new RulesError('--set option requires 3 timeout values', commandColumn);
    const t = args.splice(0, 3).map((a) => {
      const n = number(a.text, 0, MAX_TIMEOUT);
      if (n === undefined) throw new RulesError(`invalid timeout value \`${a.text}' specified`, a.column);
      return n;
    });
    timeouts = { tcp: t[0], tcpFin: t[1], udp: t[2] };
  }
  if (args.length) throw new RulesError(`unexpected argument ${args[0].text}`, args[0].column);

  // The service: -t/-u/--sctp-service address[:port] or -f mark [-6].
  let protocol: Protocol = 'tcp';
  let key: (ServiceKey & { family: Family }) | undefined;
  const serviceOption = ['tcp-service', 'udp-service', 'sctp-service', 'fwmark-service'].find((l) => value.has(l));
  if (serviceOption === 'fwmark-service') {
    const w = valueOf('fwmark-service');
    // `ipvsadm -S` writes marks above 2^31 - 1 as negative numbers (%d),
    // which its -R refuses; read them as the marks they were.
    const signed = number(w.text, INT_MIN, -1);
    const mark = signed !== undefined ? signed + 2 ** 32 : number(w.text, 1, UINT_MAX);
    if (mark === undefined) throw new RulesError(`invalid fwmark value \`${w.text}' specified`, w.column);
    key = { fwmark: mark, family: ipv6Column ? 'ipv6' : 'ipv4' };
  } else if (serviceOption) {
    protocol = serviceOption === 'udp-service' ? 'udp' : serviceOption === 'sctp-service' ? 'sctp' : 'tcp';
    const w = valueOf(serviceOption);
    const e = parseEndpoint(w.text, protocol, names, hosts);
    if (e === undefined) throw new RulesError('illegal virtual server address[:port] specified', w.column);
    key = { protocol, address: e.address, port: e.port ?? 0, family: e.family };
  }
  if (ipv6Column && key?.fwmark === undefined) throw new RulesError('-6 used before -f', ipv6Column);

  // ipvsadm's generic_opt_check: what each command requires, allows and refuses.
  const row = COMMAND_OPTIONS[command];
  let exclusive: OptionClass | undefined;
  for (let j = 0; j < OPTION_CLASSES.length; j++) {
    const cls = OPTION_CLASSES[j];
    const rule = row[j];
    if (!given.has(cls)) {
      if (rule === '+') fail(`You need to supply the '${cls}' option for the '${command}' command`);
    } else {
      if (rule === 'x') fail(`Illegal '${cls}' option with the '${command}' command`, cls);
      if (rule === '1') {
        if (exclusive !== undefined) fail(`The option '${cls}' conflicts with the '${exclusive}' option in the '${command}' command`, cls);
        exclusive = cls;
      }
    }
  }

  switch (command) {
    case 'flush':
      return { command: 'clear' };
    case 'restore':
      return { command: 'restore' };
    case 'save':
      return { command: 'save', numeric: given.has('numeric') };
    case 'set':
      return { command: 'set', timeouts: timeouts as Timeouts };
    case 'zero':
      return key ? { command: 'zero', service: key } : { command: 'zero' };
    case 'delete-service':
      return { command: 'delete-service', service: key as ServiceKey & { family: Family } };
    case 'start-daemon':
    case 'stop-daemon': {
      const stateWord = valueOf(command);
      if (stateWord.text !== 'master' && stateWord.text !== 'backup')
        throw new RulesError(command === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified', stateWord.column);
      const state = stateWord.text as SyncState;
      let syncId: number | undefined;
      if (value.has('syncid')) {
        syncId = number(valueOf('syncid').text, 0, 255);
        if (syncId === undefined) throw new RulesError('illegal syncid specified', colOf('syncid'));
      }
      if (command === 'stop-daemon') return syncId === undefined ? { command, state } : { command, state, syncId };
      const daemon: SyncDaemonSpec & { syncId: number } = {
        state,
        interface: value.has('mcast-interface') ? valueOf('mcast-interface').text : DEFAULT_MCAST_INTERFACE,
        syncId: syncId ?? 0,
      };
      if (value.has('mcast-group')) {
        const g = valueOf('mcast-group');
        const v = addressVersion(g.text);
        const multicast = v === 4 ? ipv4Number(g.text) >>> 28 === 0xe : v === 6 && /^ff/i.test(canonicalText(g.text, 6));
        if (!multicast) throw new RulesError(`invalid ${g.text.includes(':') ? 'IPv6' : 'IPv4'} mcast-group \`${g.text}'`, g.column);
        daemon.group = canonicalText(g.text, v as 4 | 6);
      }
      const ranged = (long: string, min: number, max: number, what: string): number | undefined => {
        if (!value.has(long)) return undefined;
        const n = number(valueOf(long).text, min, max);
        if (n === undefined) throw new RulesError(`illegal ${what} specified`, colOf(long));
        return n;
      };
      const port = ranged('mcast-port', 1, 65535, 'mcast-port');
      const ttl = ranged('mcast-ttl', 1, 255, 'mcast-ttl');
      const maxLength = ranged('sync-maxlen', 1, 65535 - 20 - 8, 'sync-maxlen');
      if (port !== undefined) daemon.port = port;
      if (ttl !== undefined) daemon.ttl = ttl;
      if (maxLength !== undefined) daemon.maxLength = maxLength;
      return { command, daemon };
    }
    case 'list': {
      const format: ListFormat = {
        numeric: given.has('numeric'),
        stats: given.has('stats'),
        rate: given.has('rate'),
        thresholds: given.has('thresholds'),
        persistentConn: given.has('persistent-conn'),
        tunInfo: given.has('tun-info'),
        noSort: given.has('nosort'),
        exact: given.has('exact'),
      };
      const details = format.stats || format.rate || format.thresholds;
      if (((given.has('connection') || given.has('timeout') || given.has('daemon')) && details) || ((given.has('timeout') || given.has('daemon')) && format.persistentConn))
        fail('options conflicts in the list command');
      const show = given.has('connection') ? 'connections' : key ? 'services' : given.has('timeout') ? 'timeout' : given.has('daemon') ? 'daemon' : 'services';
      return key && show === 'services' ? { command: 'list', show, service: key, format } : { command: 'list', show, format };
    }
    case 'add-service':
    case 'edit-service':
      return { command, service: serviceSpec(key as ServiceKey & { family: Family }) };
    default:
      return { command, ...destinationRule(command, key as ServiceKey & { family: Family }) } as Rule;
  }

  function serviceSpec(k: ServiceKey & { family: Family }): ServiceSpec & { family: Family } {
    const scheduler = value.has('scheduler') ? valueOf('scheduler').text : DEFAULT_SCHEDULER;
    let persistence: ServiceSpec['persistence'] = null;
    if (given.has('persistent')) {
      const w = value.get('persistent');
      const timeout = w === undefined ? DEFAULT_PERSISTENCE : number(w.text, 1, MAX_TIMEOUT);
      if (timeout === undefined) throw new RulesError(`invalid timeout value \`${w?.text}' specified`, w?.column);
      let netmask: number | string = k.family === 'ipv6' ? 128 : 32;
      if (value.has('netmask')) {
        const m = valueOf('netmask');
        if (k.family === 'ipv6') {
          const n = number(m.text, 1, 128);
          if (n === undefined) throw new RulesError('illegal ipv6 netmask specified', m.column);
          netmask = n;
        } else {
          const n = ipv4Mask(m.text);
          if (n === undefined) throw new RulesError('illegal virtual server persistent mask specified', m.column);
          netmask = n;
        }
      }
      persistence = { timeout, netmask };
    }
    if (k.fwmark === undefined && k.port === 0 && persistence === null) fail('Zero port specified for non-persistent service');
    const onePacket = given.has('ops');
    if (onePacket && k.fwmark === undefined && k.protocol !== 'udp') fail('One-Packet Scheduling is only for UDP virtual services', 'ops');
    const schedulerFlags = { fallback: false, port: false, flag3: false };
    if (value.has('sched-flags')) {
      const w = valueOf('sched-flags');
      for (const flag of w.text.split(',').filter((f) => f !== '')) {
        const f = SCHEDULER_FLAG_NAMES[flag];
        if (f === undefined) throw new RulesError(`invalid scheduler flag \`${flag}'`, w.column);
        if (f.scheduler !== undefined && f.scheduler !== scheduler) throw new RulesError(`incompatible scheduler flag \`${flag}'`, w.column);
        schedulerFlags[f.flag] = true;
      }
    }
    return {
      ...k,
      scheduler,
      persistence,
      persistenceEngine: value.has('pe') ? valueOf('pe').text : null,
      onePacket,
      schedulerFlags,
    };
  }

  function destinationRule(
    cmd: 'add-server' | 'edit-server' | 'delete-server',
    k: RuleServiceKey,
  ): { service: RuleServiceKey; destination: RuleDestination | { address: string; port: number } } {
    const w = valueOf('real-server');
    const e = parseEndpoint(w.text, k.protocol ?? 'tcp', names, hosts);
    if (e === undefined) throw new RulesError('illegal real server address[:port] specified', w.column);
    const servicePort = k.fwmark === undefined ? k.port : 0;
    let port = e.port ?? servicePort;
    if (cmd === 'delete-server') return { service: k, destination: { address: e.address, port } };
    const forwarding: RuleDestination['forwarding'] = value.has('masquerading') ? 'masq' : value.has('ipip') ? 'tunnel' : 'route';
    // DR and tunnels cannot change the port: the destination's is the service's.
    if (k.fwmark === undefined && forwarding !== 'masq') port = servicePort;
    if (e.family !== k.family && forwarding !== 'tunnel') fail('Different address family is allowed only for tunneling servers', 'real-server');
    const tunnelGiven = TUNNEL_OPTION_CLASSES.some((c) => given.has(c)) || given.has('tun-type');
    if (tunnelGiven && forwarding !== 'tunnel') fail('Tunnel options conflict with forward method', 'forwarding-method');
    const ranged = (long: string, cls: OptionClass, max: number, what: string, fallback: number): number => {
      if (!value.has(long)) return fallback;
      const n = number(valueOf(long).text, 0, max);
      if (n === undefined) throw new RulesError(`illegal ${what} specified`, colOf(long) ?? at.get(cls));
      return n;
    };
    const weight = ranged('weight', 'weight', 65535, 'weight', 1);
    const upperThreshold = ranged('u-threshold', 'u-threshold', INT_MAX, 'u_threshold', 0);
    const lowerThreshold = ranged('l-threshold', 'l-threshold', INT_MAX, 'l_threshold', 0);
    let tunnelType: 'ipip' | 'gue' | 'gre' = 'ipip';
    if (value.has('tun-type')) {
      const t = valueOf('tun-type');
      if (t.text !== 'ipip' && t.text !== 'gue' && t.text !== 'gre') throw new RulesError('illegal tunnel type specified', t.column);
      tunnelType = t.text;
    }
    // tunnel_opt_check: what each tunnel type requires, allows and refuses.
    let last: OptionClass | undefined;
    TUNNEL_OPTION_CLASSES.forEach((cls, j) => {
      const rule = TUNNEL_OPTIONS[tunnelType][j];
      if (!given.has(cls)) {
        if (rule === '+') fail(`You need to supply the '${cls}' option for the '${tunnelType}' tunnel type`);
      } else {
        if (rule === 'x') fail(`Illegal '${cls}' option with the '${tunnelType}' tunnel type`, cls);
        if (rule === '1') {
          if (last !== undefined) fail(`The option '${cls}' conflicts with the '${last}' option in the '${tunnelType}' tunnel type`, cls);
          last = cls;
        }
      }
    });
    const destination: RuleDestination = { address: e.address, port, weight, forwarding, upperThreshold, lowerThreshold };
    if (forwarding === 'tunnel') {
      const checksum = given.has('tun-remcsum') ? 'remote' : given.has('tun-csum') ? 'checksum' : 'none';
      if (tunnelType === 'gue') {
        const p = number(valueOf('tun-port').text, 1, 65535);
        if (p === undefined) throw new RulesError('illegal tunnel port specified', colOf('tun-port'));
        destination.tunnel = { type: 'gue', port: p, checksum };
      } else {
        destination.tunnel = { type: tunnelType, checksum };
      }
    }
    return { service: k, destination };
  }
}
