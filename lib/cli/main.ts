// The `ipvs` command. A first word naming a subcommand (service, destination,
// list, save, restore, apply, top, exporter, check, agent, fleet, ...) runs that; anything else is an ipvsadm
// command line, run as ipvsadm would. `--netns NAME` anywhere picks the
// network namespace, `--worker-nice N` open()'s workerNice. Returns the exit status.
import { IpvsError } from '../index';
import { BASH_COMPLETION } from './completion';
import { CliError, processContext, type Context, type GlobalOptions, type Io } from './context';
import { SUBCOMMANDS_HELP, version } from './help';
import { runIpvsadm } from './ipvsadm';
import { runDestination, runService } from './service';
import { runApply, runList, runOther, runRestore, runSave } from './table';
import { runTop } from './top';

/**
 * Takes the global options out of argv, wherever they are: `--netns NAME`
 * (or `--netns=NAME`) and `--worker-nice N` (or `--worker-nice=N`, an
 * integer from 0 to 19: how far below the event loop a handle's kernel work
 * runs, 0 leaving its threads alone; see open()).
 */
export function takeGlobalOptions(argv: string[]): GlobalOptions & { rest: string[] } {
  const rest: string[] = [];
  const out: GlobalOptions & { rest: string[] } = { rest };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--netns') {
      if (i + 1 >= argv.length) throw new CliError("option '--netns' needs a namespace name or path");
      out.netns = argv[++i];
    } else if (a.startsWith('--netns=')) out.netns = a.slice('--netns='.length);
    else if (a === '--worker-nice') {
      if (i + 1 >= argv.length) throw new CliError("option '--worker-nice' needs a value: an integer from 0 to 19");
      out.workerNice = workerNice(argv[++i]);
    } else if (a.startsWith('--worker-nice=')) out.workerNice = workerNice(a.slice('--worker-nice='.length));
    else rest.push(a);
  }
  return out;
}

function workerNice(text: string): number {
  const n = /^\d{1,2}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 19)) throw new CliError(`option '--worker-nice' expects an integer from 0 to 19, not '${text}'`);
  return n;
}

async function dispatch(ctx: Context, argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  switch (first) {
    case 'service':
      return runService(ctx, rest);
    case 'destination':
    case 'dest':
      return runDestination(ctx, rest);
    case 'list':
    case 'ls':
      return runList(ctx, rest);
    case 'save':
      return runSave(ctx, rest);
    case 'restore':
      return runRestore(ctx, rest);
    case 'apply':
      return runApply(ctx, rest);
    case 'top':
      return runTop(ctx, rest);
    case 'exporter':
      // loaded on use: prom-client is the largest module here, and every other command starts faster without it
      return (await import('./exporter')).runExporter(ctx, rest);
    case 'agent':
      // loaded on use, as the exporter: only these two commands speak to etcd
      return (await import('./agent')).runAgent(ctx, rest);
    case 'fleet':
      return (await import('./fleet')).runFleet(ctx, rest);
    case 'check':
      // loaded on use, as the exporter: the health checks and prom-client
      return (await import('./check')).runCheck(ctx, rest);
    case 'connections':
    case 'timeouts':
    case 'daemons':
      return runOther(ctx, first, rest);
    case 'completion':
      if (rest[0] !== 'bash') throw new CliError('usage: ipvs completion bash');
      ctx.io.out(BASH_COMPLETION);
      return 0;
    case 'help':
      ctx.io.out(`${version()}${SUBCOMMANDS_HELP}ipvsadm's command line works as well: see ipvs -h.\n`);
      return 0;
    case 'version':
      ctx.io.out(version());
      return 0;
    default:
      return runIpvsadm(ctx, argv);
  }
}

/** Runs the command for `argv` (without node and the script); resolves to the exit status. */
export async function main(argv: string[], io?: Io, makeContext = processContext): Promise<number> {
  let ctx: Context = makeContext({}, io);
  try {
    const { rest, ...global } = takeGlobalOptions(argv);
    ctx = makeContext(global, io);
    return await dispatch(ctx, rest);
  } catch (error) {
    if (error instanceof CliError) {
      ctx.io.err(`${error.message}\n`);
      return error.status;
    }
    if (error instanceof IpvsError || error instanceof TypeError || error instanceof RangeError) {
      ctx.io.err(`${error.message}\n`);
      return 255;
    }
    ctx.io.err(`internal error: ${(error as Error)?.stack ?? error}\n`);
    return 70;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((status) => {
    process.exitCode = status;
  });
}
