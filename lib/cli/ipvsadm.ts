// `ipvs` as a drop-in for ipvsadm: the same command line (read by the rules
// parser, which is ipvsadm's), the same defaults, the same listings byte for
// byte, ipvsadm's exit statuses (0; 2 for a bad command line; 255 for a
// command the kernel refused; 1 for a listing that failed). Errors are one
// line naming the object and the reason. Extensions: --json on listings, and
// -R that parses everything first and reports every failed line.
import { IpvsError, type IpvsHandle, type ServiceOptions, type ServiceSpec } from '../index';
import { argvWords, parseIpvsadmCommand, RulesError, type IpvsadmCommand } from '../rules';
import { CliError, withHandle, type Context } from './context';
import { ipvsadmUsage, version } from './help';
import { printListing, printRules } from './listing';
import { readRules, restore } from './restore';

/** The service part of a rule, without family when the key's own fields imply it (editService refuses key fields in changes). */
function settingsOf(spec: ServiceSpec): ServiceOptions {
  const { scheduler, persistence, persistenceEngine, onePacket, schedulerFlags } = spec;
  return { scheduler, persistence, persistenceEngine, onePacket, schedulerFlags };
}

/** Runs one ipvsadm command line; returns the exit status. */
export async function runIpvsadm(ctx: Context, argv: string[]): Promise<number> {
  // --json is ours: any listing as the JSON document (see lib/cli/README.md).
  const asJson = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  let command: IpvsadmCommand;
  try {
    // No arguments lists the table, as ipvsadm does.
    command = args.length === 0 ? { command: 'list', show: 'services', format: { numeric: false, stats: false, rate: false, thresholds: false, persistentConn: false, tunInfo: false, noSort: false, exact: false } } : parseIpvsadmCommand(argvWords(args));
  } catch (error) {
    if (!(error instanceof RulesError)) throw error;
    ctx.io.err(`${error.reason}\n`);
    if (error.status === 255) ctx.io.err(`Try \`${ctx.program} -h' or '${ctx.program} --help' for more information.\n`);
    return error.status;
  }
  if (command.command === 'help') {
    ctx.io.out(ipvsadmUsage(ctx.program));
    return 0;
  }
  if (command.command === 'version') {
    ctx.io.out(version());
    return 0;
  }
  if (command.command === 'restore') {
    // Everything is read before IPVS is touched: a bad line changes nothing.
    const rules = readRules(await ctx.io.stdin(), 'stdin');
    return withHandle(ctx, (handle) => restore(ctx, handle, rules, { source: 'stdin' }));
  }
  return withHandle(ctx, (handle) => execute(ctx, handle, command, asJson));
}

async function execute(ctx: Context, handle: IpvsHandle, c: Exclude<IpvsadmCommand, { command: 'help' | 'version' | 'restore' }>, asJson: boolean): Promise<number> {
  try {
    switch (c.command) {
      case 'list':
        await printListing(ctx, handle, { show: c.show, service: c.service, format: c.format, json: asJson });
        return 0;
      case 'save':
        await printRules(ctx, handle, { thresholds: false, numeric: c.numeric, json: asJson });
        return 0;
      case 'clear':
        await handle.flush();
        return 0;
      case 'add-service':
        await handle.addService(c.service);
        return 0;
      case 'edit-service':
        // ipvsadm -E sets every setting: what the line does not give takes its default.
        await handle.editService(c.service, settingsOf(c.service));
        return 0;
      case 'delete-service':
        await handle.deleteService(c.service);
        return 0;
      case 'add-server':
        await handle.addDestination(c.service, c.destination);
        return 0;
      case 'edit-server':
        await handle.editDestination(c.service, c.destination);
        return 0;
      case 'delete-server':
        await handle.deleteDestination(c.service, c.destination);
        return 0;
      case 'zero':
        await handle.zero(c.service);
        return 0;
      case 'set':
        await handle.setTimeouts(c.timeouts);
        return 0;
      case 'start-daemon':
        await handle.startDaemon(c.daemon);
        return 0;
      case 'stop-daemon':
        await handle.stopDaemon(c.state);
        return 0;
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (error instanceof IpvsError || error instanceof TypeError || error instanceof RangeError) {
      ctx.io.err(`${error.message}\n`);
      // ipvsadm exits 1 when a listing fails, 255 when a change is refused.
      return c.command === 'list' || c.command === 'save' ? 1 : 255;
    }
    throw error;
  }
}
