// `ipvs service ...` and `ipvs destination ...`: the same operations as
// ipvsadm's -A -E -D -a -e -d in words people new to ipvsadm can read. The
// words are turned into an ipvsadm command line and read by the same parser
// (so checks, defaults and messages are ipvsadm's); `edit` differs from -E/-e
// on purpose: it changes only what is given and keeps the rest.
import { formatIpvsadmService } from '../rules/format';
import { type DestinationSpec, type IpvsHandle, type ServiceOptions } from '../index';
import { argvWords, parseIpvsadmCommand, RulesError, type IpvsadmCommand, type RuleDestination, type RuleServiceKey } from '../rules';
import { CliError, withHandle, type Context } from './context';
import { parseFlags, type Parsed } from './flags';
import { json } from './listing';

export const SERVICE_HELP = `Usage: ipvs service add|edit|delete|show SERVICE [options]
SERVICE is PROTOCOL ADDRESS:PORT (tcp, udp or sctp; IPv6 as [ADDRESS]:PORT),
or fwmark MARK [--ipv6].
Options (add; edit changes only those given and keeps the rest):
  --scheduler NAME        rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos (default wlc)
  --persistent [SECONDS]  session affinity (default 360 seconds)
  --netmask MASK          clients sharing an affinity: prefix length or IPv4 dotted mask
  --no-persistent         (edit) remove session affinity
  --pe NAME               persistence engine, e.g. sip
  --ops                   one-packet scheduling (UDP)
  --sched-flags FLAGS     sh-fallback, sh-port, mh-fallback, mh-port, flag-1..3 (comma-separated)
  --json                  (show) the service as JSON
Examples:
  ipvs service add tcp 1.1.1.1:80 --scheduler lc
  ipvs service edit tcp 1.1.1.1:80 --persistent 600
  ipvs service add fwmark 7 --ipv6 --scheduler mh --sched-flags mh-port
  ipvs service delete tcp 1.1.1.1:80
`;

export const DESTINATION_HELP = `Usage: ipvs destination add|edit|delete SERVICE ADDRESS[:PORT] [options]
SERVICE is PROTOCOL ADDRESS:PORT or fwmark MARK [--ipv6], as for 'ipvs service'.
The destination's port defaults to the service's (and is the service's for
direct routing and tunnels, whose packets keep their port).
Options (add; edit changes only those given and keeps the rest):
  --masq | --route | --tunnel   forwarding: NAT, direct routing (default), IP tunnel
  --weight N                    0-65535 (default 1; 0 takes no new connections)
  --upper-threshold N           connection limit (default 0: none)
  --lower-threshold N           take work again below this many connections
  --tun-type ipip|gue|gre       tunnel encapsulation (default ipip)
  --tun-port PORT               GUE's UDP port
  --tun-csum | --tun-nocsum | --tun-remcsum   GUE/GRE checksums
Examples:
  ipvs destination add tcp 1.1.1.1:80 2.2.2.2 --masq --weight 100
  ipvs destination edit tcp 1.1.1.1:80 2.2.2.2 --weight 0
  ipvs destination delete tcp 1.1.1.1:80 2.2.2.2
`;

const SERVICE_FLAGS = {
  scheduler: 'value', persistent: 'optional', netmask: 'value', 'no-persistent': 'flag', pe: 'value', ops: 'flag',
  'sched-flags': 'value', ipv6: 'flag', json: 'flag', help: 'flag',
} as const;
const SERVICE_ALIASES = { persistence: 'persistent', 'one-packet': 'ops', 's': 'scheduler', 'p': 'persistent', 'M': 'netmask', 'b': 'sched-flags', '6': 'ipv6' };

const DESTINATION_FLAGS = {
  masq: 'flag', route: 'flag', tunnel: 'flag', weight: 'value', 'upper-threshold': 'value', 'lower-threshold': 'value',
  'tun-type': 'value', 'tun-port': 'value', 'tun-csum': 'flag', 'tun-nocsum': 'flag', 'tun-remcsum': 'flag', ipv6: 'flag', help: 'flag',
} as const;
const DESTINATION_ALIASES = {
  masquerading: 'masq', nat: 'masq', m: 'masq', gatewaying: 'route', dr: 'route', g: 'route', ipip: 'tunnel', i: 'tunnel',
  w: 'weight', 'u-threshold': 'upper-threshold', x: 'upper-threshold', 'l-threshold': 'lower-threshold', y: 'lower-threshold', '6': 'ipv6',
};

/** The ipvsadm words for SERVICE positionals; returns the words and how many positionals they took. */
function serviceWords(positionals: string[], parsed: Parsed): { words: string[]; used: number } {
  const [kind, where] = positionals;
  if (kind === undefined) throw new CliError('a service is needed: PROTOCOL ADDRESS:PORT or fwmark MARK');
  if (where === undefined) throw new CliError(`a ${kind === 'fwmark' ? 'mark' : 'ADDRESS:PORT'} is needed after '${kind}'`);
  const option = { tcp: '-t', udp: '-u', sctp: '--sctp-service', fwmark: '-f' }[kind.toLowerCase()];
  if (option === undefined) throw new CliError(`unknown service kind '${kind}': tcp, udp, sctp or fwmark`);
  if (parsed.flags.has('ipv6') && option !== '-f') throw new CliError("--ipv6 is for fwmark services (an address says its own family)");
  return { words: [option, where, ...(parsed.flags.has('ipv6') ? ['-6'] : [])], used: 2 };
}

/** Reads words with ipvsadm's parser, turning its errors into one-line CLI errors. */
function ipvsadmParse(words: string[]): IpvsadmCommand {
  try {
    return parseIpvsadmCommand(argvWords(words));
  } catch (error) {
    if (error instanceof RulesError) throw new CliError(error.reason, 2);
    throw error;
  }
}

function value(parsed: Parsed, name: string): string | undefined {
  const v = parsed.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** ipvsadm words for the service settings given. */
function settingWords(parsed: Parsed): string[] {
  const w: string[] = [];
  if (parsed.flags.has('scheduler')) w.push('--scheduler', value(parsed, 'scheduler') as string);
  if (parsed.flags.has('persistent')) w.push(...(value(parsed, 'persistent') ? [`--persistent=${value(parsed, 'persistent')}`] : ['--persistent']));
  if (parsed.flags.has('netmask')) w.push('--netmask', value(parsed, 'netmask') as string);
  if (parsed.flags.has('pe')) w.push('--pe', value(parsed, 'pe') as string);
  if (parsed.flags.has('ops')) w.push('--ops');
  if (parsed.flags.has('sched-flags')) w.push('--sched-flags', value(parsed, 'sched-flags') as string);
  return w;
}

/**
 * The action word and the flags after it; or, when help is asked for (or no
 * action given), the help printed and the exit status (2 without an action).
 */
function readAction(ctx: Context, args: string[], spec: Parameters<typeof parseFlags>[1], aliases: Record<string, string>, help: string): { action: string; parsed: Parsed } | number {
  const [action, ...rest] = args;
  const parsed = parseFlags(rest, spec, aliases);
  if (action === undefined || action === '--help' || action === 'help' || parsed.flags.has('help')) {
    ctx.io.out(help);
    return action === undefined ? 2 : 0;
  }
  return { action, parsed };
}

export async function runService(ctx: Context, args: string[]): Promise<number> {
  const read = readAction(ctx, args, SERVICE_FLAGS, SERVICE_ALIASES, SERVICE_HELP);
  if (typeof read === 'number') return read;
  const { action, parsed } = read;
  const { words: svc, used } = serviceWords(parsed.positionals, parsed);
  if (parsed.positionals.length > used) throw new CliError(`unexpected argument ${parsed.positionals[used]}`);
  switch (action) {
    case 'add': {
      const c = ipvsadmParse(['-A', ...svc, ...settingWords(parsed)]) as Extract<IpvsadmCommand, { command: 'add-service' | 'edit-service' }>;
      return withHandle(ctx, async (h) => done(h.addService(c.service)));
    }
    case 'edit':
      return withHandle(ctx, (h) => editService(h, svc, parsed));
    case 'delete': {
      if (settingWords(parsed).length) throw new CliError('delete takes no settings');
      const c = ipvsadmParse(['-D', ...svc]) as Extract<IpvsadmCommand, { command: 'delete-service' }>;
      return withHandle(ctx, async (h) => done(h.deleteService(c.service)));
    }
    case 'show': {
      const c = ipvsadmParse(['-L', '-n', ...svc]) as Extract<IpvsadmCommand, { command: 'list' }>;
      return withHandle(ctx, async (h) => {
        const s = await h.getService(c.service as RuleServiceKey);
        ctx.io.out(parsed.flags.has('json') ? json(s) : formatIpvsadmService(s));
        return 0;
      });
    }
    default:
      throw new CliError(`unknown action '${action}': add, edit, delete or show (see ipvs service --help)`);
  }
}

async function editService(h: IpvsHandle, svc: string[], parsed: Parsed): Promise<number> {
  const key = (ipvsadmParse(['-D', ...svc]) as Extract<IpvsadmCommand, { command: 'delete-service' }>).service;
  const words = settingWords(parsed);
  const given = new Set(parsed.order);
  if (words.length === 0 && !given.has('no-persistent')) throw new CliError('nothing to change: give --scheduler, --persistent, --netmask, --pe, --ops or --sched-flags');
  if (given.has('no-persistent') && (given.has('persistent') || given.has('netmask'))) throw new CliError('--no-persistent conflicts with --persistent and --netmask');
  // Read with ipvsadm's checks; flags need the scheduler they belong to, the current one if not given;
  // a netmask alone needs -p to be read.
  const extra: string[] = [];
  if (given.has('sched-flags') && !given.has('scheduler')) extra.push('--scheduler', (await h.getService(key)).scheduler);
  if (given.has('netmask') && !given.has('persistent')) extra.push('--persistent');
  // A port-zero key is valid here whatever the persistence: this reads settings only.
  const c = ipvsadmParse(['-A', ...svc, ...words, ...extra, ...(key.fwmark === undefined && key.port === 0 && !extra.includes('--persistent') && !given.has('persistent') ? ['--persistent'] : [])]) as Extract<IpvsadmCommand, { command: 'add-service' | 'edit-service' }>;
  const changes: ServiceOptions = {};
  if (given.has('scheduler')) changes.scheduler = c.service.scheduler;
  if (given.has('persistent')) changes.persistence = c.service.persistence;
  else if (given.has('netmask')) changes.persistence = { netmask: c.service.persistence?.netmask };
  if (given.has('no-persistent')) changes.persistence = null;
  if (given.has('pe')) changes.persistenceEngine = c.service.persistenceEngine;
  if (given.has('ops')) changes.onePacket = true;
  if (given.has('sched-flags')) changes.schedulerFlags = c.service.schedulerFlags;
  await h.editService(key, changes);
  return 0;
}

export async function runDestination(ctx: Context, args: string[]): Promise<number> {
  const read = readAction(ctx, args, DESTINATION_FLAGS, DESTINATION_ALIASES, DESTINATION_HELP);
  if (typeof read === 'number') return read;
  const { action, parsed } = read;
  const { words: svc, used } = serviceWords(parsed.positionals, parsed);
  const address = parsed.positionals[used];
  if (address === undefined) throw new CliError('a destination ADDRESS[:PORT] is needed after the service');
  if (parsed.positionals.length > used + 1) throw new CliError(`unexpected argument ${parsed.positionals[used + 1]}`);
  const forwarding = (['masq', 'route', 'tunnel'] as const).filter((f) => parsed.flags.has(f));
  if (forwarding.length > 1) throw new CliError(`--${forwarding[0]} conflicts with --${forwarding[1]}`);
  const fwdWord = { masq: '-m', route: '-g', tunnel: '-i' };
  const words = [...forwarding.map((f) => fwdWord[f])];
  const pass: Array<[string, string]> = [['weight', '-w'], ['upper-threshold', '-x'], ['lower-threshold', '-y'], ['tun-type', '--tun-type'], ['tun-port', '--tun-port']];
  for (const [name, option] of pass) if (parsed.flags.has(name)) words.push(option, value(parsed, name) as string);
  for (const f of ['tun-csum', 'tun-nocsum', 'tun-remcsum']) if (parsed.flags.has(f)) words.push(`--${f}`);
  switch (action) {
    case 'add': {
      const c = ipvsadmParse(['-a', ...svc, '-r', address, ...words]) as Extract<IpvsadmCommand, { command: 'add-server' | 'edit-server' }>;
      return withHandle(ctx, async (h) => done(h.addDestination(c.service, c.destination)));
    }
    case 'delete': {
      if (words.length) throw new CliError('delete takes no settings');
      const c = ipvsadmParse(['-d', ...svc, '-r', address]) as Extract<IpvsadmCommand, { command: 'delete-server' }>;
      return withHandle(ctx, async (h) => done(h.deleteDestination(c.service, c.destination)));
    }
    case 'edit': {
      if (words.length === 0) throw new CliError('nothing to change: give a forwarding method, --weight, thresholds or tunnel options');
      // The key: the address and port as given (-d reads them without forcing the service's port).
      const key = (ipvsadmParse(['-d', ...svc, '-r', address]) as Extract<IpvsadmCommand, { command: 'delete-server' }>).destination;
      const tunnelGiven = parsed.order.some((f) => f.startsWith('tun-'));
      return withHandle(ctx, async (h) => {
        // Tunnel options need -i to be read; with no forwarding given, read as the current one.
        let readAs: string[] = [];
        if (forwarding.length === 0) {
          const current = (await h.listDestinations(ipvsadmKey(svc))).find((d) => d.address === key.address && d.port === key.port);
          readAs = [current?.forwarding === 'tunnel' || tunnelGiven ? '-i' : '-m'];
        }
        const c = ipvsadmParse(['-e', ...svc, '-r', address, ...readAs, ...words]) as Extract<IpvsadmCommand, { command: 'add-server' | 'edit-server' }>;
        const d: RuleDestination = c.destination;
        const changes: DestinationSpec = { address: key.address, port: key.port };
        if (forwarding.length) changes.forwarding = d.forwarding;
        if (parsed.flags.has('weight')) changes.weight = d.weight;
        if (parsed.flags.has('upper-threshold')) changes.upperThreshold = d.upperThreshold;
        if (parsed.flags.has('lower-threshold')) changes.lowerThreshold = d.lowerThreshold;
        if (tunnelGiven || (forwarding[0] === 'tunnel' && d.tunnel)) changes.tunnel = d.tunnel;
        await h.editDestination(c.service, changes);
        return 0;
      });
    }
    default:
      throw new CliError(`unknown action '${action}': add, edit or delete (see ipvs destination --help)`);
  }
}

/** Waits for a change; exit status 0. */
async function done(change: Promise<void>): Promise<number> {
  await change;
  return 0;
}

/** The service SERVICE positionals name (PROTOCOL ADDRESS:PORT or fwmark MARK), read as ipvsadm reads -t/-u/-f. */
export function serviceKeyOf(positionals: string[], ipv6: boolean): RuleServiceKey {
  const flags: Parsed = { flags: new Map(ipv6 ? [['ipv6', true]] : []), order: [], positionals };
  const { words, used } = serviceWords(positionals, flags);
  if (positionals.length > used) throw new CliError(`unexpected argument ${positionals[used]}`);
  return ipvsadmKey(words);
}

function ipvsadmKey(svc: string[]): RuleServiceKey {
  return (ipvsadmParse(['-D', ...svc]) as Extract<IpvsadmCommand, { command: 'delete-service' }>).service;
}
