// `ipvs exporter`: the IPVS table as Prometheus metrics over HTTP. Each scrape
// of /metrics reads the table once (services(), a batch at a time) and
// answers with what it read; nothing is polled between scrapes. Scrapes
// arriving together share one read.
import * as http from 'http';
import * as net from 'net';
import type { IpvsHandle } from '../index';
import { IpvsMetrics } from '../metrics/collector';
import { CliError, untilStopped, withHandle, type Context } from './context';
import { parseFlags } from './flags';

/**
 * 9494: in Prometheus's exporter range (9100-9999; see the README for why
 * this number), easy to remember, away from node_exporter's 9100.
 */
export const DEFAULT_EXPORTER_PORT = 9494;
export const DEFAULT_EXPORTER_LISTEN = '127.0.0.1';

/**
 * Services per batch of a scrape's read: a batch's series (up to 11 per
 * destination) are set in one turn of the event loop, so a batch is kept
 * small enough for that turn to stay short, large enough for few turns.
 */
const SCRAPE_BATCH = 256;

export const EXPORTER_HELP = `Usage: ipvs exporter [--listen ADDRESS] [--port PORT] [--no-process-metrics]
Serves the IPVS table as Prometheus metrics at http://ADDRESS:PORT/metrics.
Every scrape reads the table once (counters exact: the kernel's 64-bit values).
  --listen ADDRESS       address to bind (default ${DEFAULT_EXPORTER_LISTEN}: this machine only;
                         0.0.0.0 or :: for every interface)
  --port PORT            TCP port (default ${DEFAULT_EXPORTER_PORT}; 0 picks a free one)
  --no-process-metrics   leave out the exporter's own process_* and nodejs_* metrics
Metrics (labels: family, protocol, service; destinations add destination):
  ipvs_service_{connections,incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total
  ipvs_destination_{connections,incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total
  ipvs_service_{active,inactive}_connections, ipvs_service_destinations
  ipvs_destination_{active,inactive,persistent}_connections, ipvs_destination_weight
  ipvs_up (1: the read worked), ipvs_services
A scrape whose read fails answers ipvs_up 0 and no table sample at all.
protocol is tcp, udp, sctp or fwmark; service is ADDRESS:PORT ([IPv6]:PORT) or
the mark; destination is ADDRESS:PORT. Stops on SIGINT or SIGTERM.
With --netns, the metrics are that network namespace's IPVS table.
`;

export interface ExporterOptions {
  listen: string;
  port: number;
  processMetrics: boolean;
}

export function exporterOptions(args: string[]): ExporterOptions | 'help' {
  const p = parseFlags(args, { listen: 'value', port: 'value', 'no-process-metrics': 'flag', help: 'flag' });
  if (p.flags.has('help')) return 'help';
  if (p.positionals.length) throw new CliError(`unexpected argument ${p.positionals[0]}`);
  const listen = String(p.flags.get('listen') ?? DEFAULT_EXPORTER_LISTEN).replace(/^\[(.*)\]$/, '$1');
  if (!net.isIP(listen)) throw new CliError(`--listen needs an IPv4 or IPv6 address, not '${listen}'`);
  const portText = String(p.flags.get('port') ?? DEFAULT_EXPORTER_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new CliError(`--port needs a port number from 0 to 65535, not '${portText}'`);
  return { listen, port, processMetrics: !p.flags.has('no-process-metrics') };
}

/** The exporter's HTTP server on an open handle; resolves once it listens. */
export async function startExporter(handle: IpvsHandle, options: ExporterOptions, log: (line: string) => void): Promise<http.Server> {
  const metrics = new IpvsMetrics({ processMetrics: options.processMetrics });
  let pending: Promise<string> | undefined;
  const scrape = (): Promise<string> => {
    pending ??= (async () => {
      try {
        // A batch at a time: the scrape holds one batch of services' objects,
        // not the table's, and the event loop turns between batches.
        metrics.begin();
        let count = 0;
        for await (const batch of handle.services({ batchSize: SCRAPE_BATCH })) {
          metrics.add(batch);
          count += batch.length;
        }
        metrics.finish(count);
      } catch (error) {
        log(`reading the IPVS table failed: ${(error as Error).message}`);
        metrics.failed();
      }
      return metrics.text();
    })().finally(() => (pending = undefined));
    return pending;
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end('method not allowed\n');
    } else if (path === '/metrics') {
      scrape().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(error as Error).message}\n`),
      );
    } else if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<html><head><title>IPVS exporter</title></head><body><h1>IPVS exporter</h1><p><a href="metrics">Metrics</a></p></body></html>\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.listen, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export async function runExporter(ctx: Context, args: string[]): Promise<number> {
  const options = exporterOptions(args);
  if (options === 'help') {
    ctx.io.out(EXPORTER_HELP);
    return 0;
  }
  return withHandle(ctx, async (handle) => {
    const log = (line: string) => ctx.io.err(`${line}\n`);
    let server: http.Server;
    try {
      server = await startExporter(handle, options, log);
    } catch (error) {
      throw new CliError(`cannot listen on ${options.listen} port ${options.port}: ${(error as Error).message}`, 1);
    }
    const { address, port } = server.address() as net.AddressInfo;
    ctx.io.out(`ipvs exporter: serving http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics${ctx.netns ? ` (network namespace ${ctx.netns})` : ''}\n`);
    const signal = await untilStopped();
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    log(`ipvs exporter: stopped (${signal})`);
    return 0;
  });
}
