// `ipvs` as a drop-in for ipvsadm: the same command line (read by the rules
// parser, which is ipvsadm's), the same defaults, the same listings byte for
// byte, ipvsadm's exit statuses (0; 2 for a bad command line; 255 for a
// command the kernel refused; 1 for a listing that failed). Errors are one
// line naming the object and the reason. Extensions: --json on listings, and
// -R that parses everything first and reports every failed line.
import { formatIpvsadmConnections, formatIpvsadmDaemons, formatIpvsadmList, formatIpvsadmService, formatIpvsadmTimeouts, type ListOptions } from '../format';
import { IpvsError, jsonReplacer, type IpvsHandle, type Service, type ServiceOptions, type ServiceSpec } from '../index';
import { argvWords, formatRules, parseIpvsadmCommand, RulesError, type IpvsadmCommand } from '../rules';
import { CliError, withHandle, type Context } from './context';
import { ipvsadmUsage, version } from './help';
import { lookupNames } from './names';
import { readRules, restore } from './restore';

/** The service part of a rule, without family when the key's own fields imply it (editService refuses key fields in changes). */
function settingsOf(spec: ServiceSpec): ServiceOptions {
  const { scheduler, persistence, persistenceEngine, onePacket, schedulerFlags } = spec;
  return { scheduler, persistence, persistenceEngine, onePacket, schedulerFlags };
}

function addressesOf(services: Service[]): string[] {
  const all: string[] = [];
  for (const s of services) {
    if (s.address !== undefined) all.push(s.address);
    for (const d of s.destinations) all.push(d.address);
  }
  return all;
}

function json(value: unknown): string {
  return JSON.stringify(value, jsonReplacer, 2) + '\n';
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
        return await list(ctx, handle, c, asJson);
      case 'save': {
        const services = await handle.list({ stats: asJson });
        if (asJson) ctx.io.out(json(services));
        else ctx.io.out(formatRules(services, c.numeric ? {} : { names: await lookupNames(addressesOf(services)) }));
        return 0;
      }
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

async function list(ctx: Context, handle: IpvsHandle, c: Extract<IpvsadmCommand, { command: 'list' }>, asJson: boolean): Promise<number> {
  const f = c.format;
  if (c.show === 'timeout') {
    const t = await handle.getTimeouts();
    ctx.io.out(asJson ? json(t) : formatIpvsadmTimeouts(t));
    return 0;
  }
  if (c.show === 'daemon') {
    const d = await handle.listDaemons();
    ctx.io.out(asJson ? json(d) : formatIpvsadmDaemons(d));
    return 0;
  }
  if (c.show === 'connections') {
    const connections = await handle.listConnections();
    if (asJson) ctx.io.out(json(connections));
    else {
      const names = f.numeric ? undefined : await lookupNames(connections.flatMap((x) => [x.client.address, x.virtual.address, x.destination.address]));
      ctx.io.out(formatIpvsadmConnections(connections, { numeric: f.numeric, names, persistentConn: f.persistentConn }));
    }
    return 0;
  }
  // The counters are read only where they are shown (a 20,000 x 10 table has 220,000 stats objects).
  const services = c.service ? [await handle.getService(c.service)] : await handle.list({ stats: asJson || f.stats === true || f.rate === true });
  if (asJson) {
    ctx.io.out(json(c.service ? services[0] : services));
    return 0;
  }
  const options: ListOptions = { ...f, names: f.numeric ? undefined : await lookupNames(addressesOf(services)) };
  ctx.io.out(c.service ? formatIpvsadmService(services[0], options) : formatIpvsadmList(services, await handle.info(), options));
  return 0;
}
