// `ipvs agent`: runs a fleet agent (lib/fleet/agent.ts) on this director's
// table until SIGTERM or SIGINT, logging what it applies, holds and meets
// on standard error, one line each.
import * as http from 'http';
import { FleetAgent, fleetMetrics, type FleetAgentOptions } from '../fleet';
import { CliError, untilStopped, withHandle, type Context } from './context';
import { parseFlags } from './flags';
import { endpointsOf } from './fleet';

export const AGENT_HELP = `Usage: ipvs agent --director NAME [--endpoints URL[,URL...]] [--prefix /ipvs] [--state-file FILE]
                  [--max-deletes N] [--dry-run] [--owns all|CIDR[,CIDR...]] [--drain [S]]
                  [--resync S] [--verify-interval S] [--status-ttl S] [--metrics-port P [--metrics-listen A]]
                  [--netns NAME]
Keeps this director's table equal to the fleet's desired state in etcd (see ipvs fleet --help):
reads it all, then watches it; applies each change by key; holds an update that removes more than
N services and destinations (PREFIX/max-deletes, else --max-deletes) until it is confirmed
(ipvs fleet confirm); keeps the table and its last applied state (--state-file, default
/var/lib/ipvs/agent-NAME.json) when the store is lost; writes its status to PREFIX/status/NAME.
  --endpoints       etcd client URLs (default $IPVS_ETCD_ENDPOINTS or http://127.0.0.1:2379)
  --owns            the part of the table it owns: all (default), or services whose address is in a CIDR
  --resync S        seconds between full reads of the store (default 60)
  --verify-interval S  seconds between verifies of the table, drift repaired (default 30; 0: never)
  --metrics-port P  serve the agent's metrics (ipvs_fleet_*: applied revision, lag, watch restarts,
                    held updates, writes, drift) at http://A:P/metrics (A: --metrics-listen, 127.0.0.1)
`;

/** A predicate: the service's address is in one of `cidrs` (fwmark services are not). */
function ownsCidrs(text: string): FleetAgentOptions['owns'] {
  if (text === 'all') return 'all';
  const nets = text.split(',').map((cidr) => {
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
    if (m === null || Number(m[2]) > 32) throw new CliError(`--owns takes all or IPv4 CIDRs, not '${cidr}'`);
    const bits = Number(m[2]);
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return { net: (ipv4(m[1]) & mask) >>> 0, mask };
  });
  return (s) => typeof s.address === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(s.address) && nets.some((n) => ((ipv4(s.address!) & n.mask) >>> 0) === n.net);
}

function ipv4(text: string): number {
  return text.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
}

function seconds(value: string | true | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === true || !/^\d+$/.test(value)) throw new CliError(`--${name} needs whole seconds, not '${value}'`);
  return Number(value);
}

export async function runAgent(ctx: Context, args: string[]): Promise<number> {
  const p = parseFlags(args, {
    director: 'value', endpoints: 'value', prefix: 'value', 'state-file': 'value', 'max-deletes': 'value', 'dry-run': 'flag', owns: 'value', drain: 'optional',
    resync: 'value', 'verify-interval': 'value', 'status-ttl': 'value', 'metrics-port': 'value', 'metrics-listen': 'value', help: 'flag',
  });
  if (p.flags.has('help')) {
    ctx.io.out(AGENT_HELP);
    return 0;
  }
  if (p.positionals.length > 0) throw new CliError(`unexpected argument '${p.positionals[0]}' (see ipvs agent --help)`);
  const director = p.flags.get('director');
  if (typeof director !== 'string') throw new CliError('--director NAME is needed (see ipvs agent --help)');
  const maxDeletes = p.flags.get('max-deletes');
  const drain = p.flags.get('drain');
  const options: FleetAgentOptions = {
    endpoints: endpointsOf(p.flags.get('endpoints')),
    director,
    prefix: p.flags.get('prefix') as string | undefined,
    stateFile: String(p.flags.get('state-file') ?? `/var/lib/ipvs/agent-${director}.json`),
    maxDeletes: maxDeletes === undefined ? undefined : seconds(maxDeletes, 'max-deletes', 0),
    dryRun: p.flags.has('dry-run'),
    owns: ownsCidrs(String(p.flags.get('owns') ?? 'all')),
    drain: drain === undefined ? undefined : drain === true ? {} : { timeout: seconds(drain, 'drain', 0) },
    resyncInterval: seconds(p.flags.get('resync'), 'resync', 60) * 1000 || 1,
    verifyInterval: seconds(p.flags.get('verify-interval'), 'verify-interval', 30) * 1000,
    statusTtl: seconds(p.flags.get('status-ttl'), 'status-ttl', 15),
  };
  const log = (text: string) => ctx.io.err(`${new Date().toISOString()} ${director}: ${text}\n`);
  return withHandle(ctx, async (handle) => {
    const agent = await FleetAgent.start(handle, options);
    agent.on('applied', ({ revision, results }: { revision: number; results: Array<{ plan: unknown[] }> }) =>
      log(`applied revision ${revision}: ${results.reduce((n, r) => n + r.plan.length, 0)} operations${options.dryRun ? ' planned (dry run)' : ''}`));
    agent.on('held', (h: { revision: number; deletes: number; limit: number }) =>
      log(`held the update at revision ${h.revision}: it removes ${h.deletes} services and destinations, more than ${h.limit} (raise the limit or run ipvs fleet confirm)`));
    agent.on('error', (e: { message: string }) => log(e.message));
    agent.on('health', ({ state, event }: { state: 'up' | 'down'; event: { service: string; destination: { address: string; port: number }; reason: string } }) =>
      log(`${event.service} ${event.destination.address}:${event.destination.port} ${state}${event.reason ? `: ${event.reason}` : ''}`));
    const metricsPort = p.flags.get('metrics-port');
    let server: http.Server | undefined;
    if (metricsPort !== undefined) {
      const port = seconds(metricsPort, 'metrics-port', 0);
      server = http.createServer((request, response) => {
        if (request.url !== '/metrics') {
          response.writeHead(404).end('not found: /metrics\n');
          return;
        }
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(fleetMetrics(agent.status()));
      });
      await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(port, String(p.flags.get('metrics-listen') ?? '127.0.0.1'), resolve));
    }
    log(`started (${agent.status().source === 'saved' ? `serving the saved state of revision ${agent.status().appliedRevision}` : 'waiting for the store'})`);
    await untilStopped();
    server?.close();
    await agent.close();
    log('stopped; the table is left as it is');
    return 0;
  });
}
