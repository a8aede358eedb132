// The whole-table commands: list, save, restore, apply, and the other
// listings. Every listing takes --json: the document is what list() returns
// (the shape apply() takes; counters, which are 64-bit, as decimal strings).
import { IpvsError, TOO_MANY_DELETES } from '../index';
import type { ListFormat } from '../rules';
import { CliError, withHandle, type Context } from './context';
import { readApplyDocument } from './document';
import { defaultDrainState, readDrainClock, writeDrainClock } from './drains';
import { parseFlags } from './flags';
import { checkUndoable, readRules, replacementTable, restore } from './restore';
import { failureCount, printApplyResult } from './report';
import { json, printListing, printRules } from './listing';
import { serviceKeyOf } from './service';

export const LIST_HELP = `Usage: ipvs list [SERVICE] [--json] [--stats|--rate|--thresholds|--persistent-conn|--tun-info] [--exact] [--nosort] [--names]
The table as 'ipvsadm -Ln' prints it (with --names: host and port names, as ipvsadm -L).
SERVICE (PROTOCOL ADDRESS:PORT or fwmark MARK [--ipv6]) lists that service only.
--json prints the table as JSON: an array of services as list() returns them
(the document 'ipvs apply' and apply() take); the 64-bit counters under "stats"
are decimal strings so that no value loses precision.
`;
export const SAVE_HELP = `Usage: ipvs save [--ipvsadm | --json]
The table as rules text: what 'ipvsadm -Sn' writes, plus the thresholds of
destinations (-x/-y), which ipvsadm -S drops and ipvsadm -R reads, so that
'ipvs save | ipvs restore' loses nothing. --ipvsadm writes exactly ipvsadm's
text; --json the JSON document of 'ipvs list --json'.
`;
export const RESTORE_HELP = `Usage: ipvs restore [--replace] [--atomic] [--dry-run] [FILE | -]
Reads rules (ipvsadm -S text or 'ipvs save' text; blank lines, # comments and a
leading 'ipvsadm' word allowed) from FILE or standard input. The whole input
is parsed first: a bad line is reported with its line and column and nothing
is applied. Then:
  (default)   the rules are sent in one batch, adding to the table; every
              refused rule is reported with its line (exit status 255)
  --replace   the table is made equal to the rules with apply(): only what
              differs is changed, services not in the rules are removed
  --atomic    all or nothing: the rules are sent as one batch and, if any
              is refused or finds the table already so (a service that
              exists, a destination that is gone), every rule applied is
              undone (exit status 255). Rules it could not undo, -C and -Z,
              are refused before anything is sent (exit status 2)
  --dry-run   print what would be sent; send nothing
`;
export const APPLY_HELP = `Usage: ipvs apply FILE.json|FILE.yaml [--prune] [--dry-run] [--max-deletes N] [--drain [SECONDS] [--drain-state FILE]] [--json]
Makes the table equal the document in FILE ('-' for standard input, read as
JSON): an array of services as 'ipvs list --json' prints them (or
{ "services": [...] }). A file named .yaml or .yml is read as YAML holding the
same shape, e.g.
  - protocol: tcp
    address: 198.18.0.10
    port: 80
    scheduler: rr
    destinations:
      - { address: 198.19.1.2, forwarding: masq, weight: 100 }
The whole file is read and checked before anything is sent.
Prints the plan, as ipvsadm rules, and the result of each change.
  --prune          remove services the file lacks (default: leave them)
  --dry-run        print the plan only
  --max-deletes N  refuse (before sending anything) a plan removing more than N
  --drain [S]      destinations leaving are set to weight 0 first, removed by a
                   later apply once idle (no connections), or once S seconds
                   have passed since their drain began, connections or not
  --drain-state FILE
                   where --drain keeps when each drain began, between runs
                   (default /run/ipvs/drains-INODE.json, INODE the network
                   namespace's inode: stat -L -c %i /proc/self/ns/net). Made
                   with its directory if missing, replaced whole on each run
                   (not by --dry-run); a file that is not a drain state is an
                   error (exit status 2), never silently reset
  --json           print the result as JSON
`;

const LISTING_FLAGS = {
  json: 'flag', stats: 'flag', rate: 'flag', thresholds: 'flag', 'persistent-conn': 'flag', 'tun-info': 'flag', exact: 'flag',
  nosort: 'flag', sort: 'flag', names: 'flag', ipv6: 'flag', help: 'flag', numeric: 'flag',
} as const;

export async function runList(ctx: Context, args: string[]): Promise<number> {
  const p = parseFlags(args, LISTING_FLAGS, { n: 'numeric', '6': 'ipv6' });
  if (p.flags.has('help')) {
    ctx.io.out(LIST_HELP);
    return 0;
  }
  const shown = ['stats', 'rate', 'thresholds', 'persistent-conn', 'tun-info'].filter((f) => p.flags.has(f));
  if (shown.length > 1 && (p.flags.has('stats') || p.flags.has('rate'))) throw new CliError(`--${shown[0]} conflicts with --${shown[1]}`);
  const format: ListFormat = {
    numeric: !p.flags.has('names'),
    stats: p.flags.has('stats'),
    rate: p.flags.has('rate'),
    thresholds: p.flags.has('thresholds'),
    persistentConn: p.flags.has('persistent-conn'),
    tunInfo: p.flags.has('tun-info'),
    exact: p.flags.has('exact'),
    noSort: p.flags.has('nosort'),
  };
  // One service, as ipvsadm -L -t|-u|-f SERVICE.
  const service = p.positionals.length ? serviceKeyOf(p.positionals, p.flags.has('ipv6')) : undefined;
  return withHandle(ctx, async (h) => {
    await printListing(ctx, h, { show: 'services', service, format, json: p.flags.has('json') });
    return 0;
  });
}

export async function runSave(ctx: Context, args: string[]): Promise<number> {
  const p = parseFlags(args, { ipvsadm: 'flag', json: 'flag', help: 'flag' });
  if (p.flags.has('help')) {
    ctx.io.out(SAVE_HELP);
    return 0;
  }
  if (p.positionals.length) throw new CliError(`unexpected argument ${p.positionals[0]}`);
  return withHandle(ctx, async (h) => {
    await printRules(ctx, h, { thresholds: !p.flags.has('ipvsadm'), numeric: true, json: p.flags.has('json') });
    return 0;
  });
}

async function input(ctx: Context, file: string | undefined): Promise<{ text: string; source: string }> {
  if (file === undefined || file === '-') return { text: await ctx.io.stdin(), source: 'stdin' };
  try {
    return { text: await ctx.io.readFile(file), source: file };
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, 2);
  }
}

export async function runRestore(ctx: Context, args: string[]): Promise<number> {
  const p = parseFlags(args, { replace: 'flag', atomic: 'flag', 'dry-run': 'flag', help: 'flag' });
  if (p.flags.has('help')) {
    ctx.io.out(RESTORE_HELP);
    return 0;
  }
  if (p.positionals.length > 1) throw new CliError(`unexpected argument ${p.positionals[1]}`);
  const { text, source } = await input(ctx, p.positionals[0]);
  // Everything is read before IPVS is touched: a bad line changes nothing.
  const rules = readRules(text, source);
  if (p.flags.has('replace')) replacementTable(rules, source);
  else if (p.flags.has('atomic')) checkUndoable(rules, source);
  return withHandle(ctx, (h) => restore(ctx, h, rules, { source, replace: p.flags.has('replace'), atomic: p.flags.has('atomic'), dryRun: p.flags.has('dry-run') }));
}

export async function runApply(ctx: Context, args: string[]): Promise<number> {
  const p = parseFlags(args, { prune: 'flag', 'dry-run': 'flag', 'max-deletes': 'value', drain: 'optional', 'drain-state': 'value', json: 'flag', help: 'flag' });
  if (p.flags.has('help')) {
    ctx.io.out(APPLY_HELP);
    return 0;
  }
  if (p.positionals.length !== 1) throw new CliError('one FILE.json or FILE.yaml is needed (see ipvs apply --help)');
  const { text, source } = await input(ctx, p.positionals[0]);
  const desired = readApplyDocument(text, source);
  const maxDeletes = p.flags.get('max-deletes');
  if (maxDeletes !== undefined && !/^\d+$/.test(String(maxDeletes))) throw new CliError(`--max-deletes needs a whole number, not '${maxDeletes}'`);
  const drain = p.flags.get('drain');
  if (typeof drain === 'string' && !/^\d+$/.test(drain)) throw new CliError(`--drain takes seconds, not '${drain}'`);
  const drainState = p.flags.get('drain-state');
  if (drainState !== undefined && drain === undefined) throw new CliError('--drain-state goes with --drain');
  const dryRun = p.flags.has('dry-run');
  return withHandle(ctx, async (h) => {
    // When each drain began, from the runs before this one (a dry run reads it and leaves it as it is).
    const stateFile = drain === undefined ? undefined : String(drainState ?? defaultDrainState(h.netns));
    const clock = stateFile === undefined ? undefined : await readDrainClock(stateFile);
    try {
      const result = await h.apply(desired, {
        prune: p.flags.has('prune'),
        dryRun,
        maxDeletes: maxDeletes === undefined ? undefined : Number(maxDeletes),
        drain: drain === undefined ? undefined : { ...(drain === true ? {} : { timeout: Number(drain) }), clock },
      });
      if (stateFile !== undefined && clock !== undefined && !dryRun) await writeDrainClock(stateFile, clock);
      if (p.flags.has('json')) {
        ctx.io.out(json({ ...result, changes: result.changes.map((c) => ({ ...c, error: c.error?.message })) }));
        return failureCount(result) ? 255 : 0;
      }
      return printApplyResult(ctx, result, { dryRun });
    } catch (error) {
      if (error instanceof IpvsError && error.code === TOO_MANY_DELETES) throw new CliError(error.message, 255);
      if (error instanceof TypeError || error instanceof RangeError) throw new CliError(`${source}: ${error.message}`, 2);
      throw error;
    }
  });
}

/** ipvs connections | timeouts | daemons [--json] [--names] [--persistent-conn]. */
export async function runOther(ctx: Context, what: 'connections' | 'timeouts' | 'daemons', args: string[]): Promise<number> {
  const p = parseFlags(args, { json: 'flag', names: 'flag', 'persistent-conn': 'flag', help: 'flag' });
  if (p.flags.has('help')) {
    ctx.io.out(`Usage: ipvs ${what} [--json]${what === 'connections' ? ' [--names] [--persistent-conn]' : ''}\nAs 'ipvsadm -L${what === 'connections' ? 'cn' : what === 'timeouts' ? ' --timeout' : ' --daemon'}' prints it, or as JSON.\n`);
    return 0;
  }
  const format: ListFormat = {
    numeric: !p.flags.has('names'), persistentConn: p.flags.has('persistent-conn'),
    stats: false, rate: false, thresholds: false, tunInfo: false, exact: false, noSort: false,
  };
  const show = what === 'timeouts' ? 'timeout' : what === 'daemons' ? 'daemon' : 'connections';
  return withHandle(ctx, async (h) => {
    await printListing(ctx, h, { show, format, json: p.flags.has('json') });
    return 0;
  });
}
