// `ipvs check FILE`: health checks that drive weights. FILE is the document
// `ipvs apply` reads, with `check` and `health` fields (lib/health/README.md).
// It makes the document's services as the document says, without changing
// any checked destination's weight (the kernel's weights are the state a
// restart starts from), then runs the checks and keeps the weights until
// SIGINT or SIGTERM, which leave the table as it is. SIGHUP reads FILE again
// and follows it (HealthKeeper.update: unchanged checks keep their states, so
// a reload never flaps a destination); a FILE that cannot be read or is
// refused leaves the running document in place. Each state change and each
// weight that reached the kernel is one line on stdout.
//
// `ipvs check --once FILE` runs each distinct check once, prints every
// destination's result beside its weight in the kernel, and changes nothing.
import * as http from 'http';
import * as net from 'net';
import type { IpvsHandle } from '../index';
import { checkTarget, HealthKeeper, HealthMetrics, splitHealth, startRun, type HealthEvent, type HealthService, type NotifyEvent, type ProbeResult, type QuorumEvent, type WeightChange } from '../health';
import { toServiceKey } from '../convert';
import { CliError, untilStopped, withHandle, type Context } from './context';
import { readApplyDocument } from './document';
import { parseFlags } from './flags';

export const CHECK_HELP = `Usage: ipvs check FILE.json|FILE.yaml [--once] [--metrics ADDRESS:PORT]
Runs the health checks of FILE (the document ipvs apply reads, with check and
health fields) and keeps each destination's weight: 0 (or out of its service)
while its check fails, the document's weight once it passes again. The
document's services are made as it says, but a checked destination keeps the
weight the kernel has until its checks say otherwise, so a restart changes
nothing. Runs until SIGINT or SIGTERM, which leave the table as it is. SIGHUP
reloads FILE: the services, weights and checks follow it, unchanged checks
keep their states (a down destination stays at 0); a FILE that cannot be read
or is refused is reported (reload-error) and the running one stays.
Prints one line per event: up, down (with the reason), weight (a change that
reached the kernel), quorum, refusal (the depool threshold kept a destination
in), check-error (a check that could not run), notify (a notify command that
failed), send-error (a batch the kernel refused: sent again), reload,
reload-error.
  --once                  run each check once, print every destination's result
                          and its weight in the kernel, change nothing; exit 0
                          if every check passed, 1 if any failed
  --metrics ADDRESS:PORT  serve the health metrics (ipvs_health_*) over HTTP at
                          /metrics (e.g. 127.0.0.1:9495; port 0 picks a free one)
`;

interface CheckOptions {
  file: string;
  once: boolean;
  metrics: { address: string; port: number } | undefined;
}

function checkOptions(args: string[]): CheckOptions | 'help' {
  const p = parseFlags(args, { once: 'flag', metrics: 'value', help: 'flag' });
  if (p.flags.has('help')) return 'help';
  if (p.positionals.length !== 1) throw new CliError('usage: ipvs check FILE [--once] [--metrics ADDRESS:PORT] (see --help)');
  let metrics: CheckOptions['metrics'];
  const m = p.flags.get('metrics');
  if (typeof m === 'string') {
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(m);
    const address = match?.[1] ?? match?.[2];
    const port = Number(match?.[3]);
    if (!match || !net.isIP(address!) || port > 65535) throw new CliError(`--metrics needs ADDRESS:PORT (e.g. 127.0.0.1:9495 or [::1]:9495), not '${m}'`);
    metrics = { address: address!, port };
  }
  return { file: p.positionals[0], once: p.flags.has('once'), metrics };
}

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** 'service tcp 198.18.0.10:80 destination 198.19.1.2:80'. */
function where(e: { service: string; destination: { address: string; port: number } }): string {
  return `${e.service} destination ${endpoint(e.destination.address, e.destination.port)}`;
}

export async function runCheck(ctx: Context, args: string[]): Promise<number> {
  const options = checkOptions(args);
  if (options === 'help') {
    ctx.io.out(CHECK_HELP);
    return 0;
  }
  let text: string;
  try {
    text = await ctx.io.readFile(options.file);
  } catch (error) {
    throw new CliError(`cannot read ${options.file}: ${(error as Error).message}`);
  }
  const { desired, health } = splitHealth(readApplyDocument(text, options.file), options.file);
  if (options.once) return withHandle(ctx, (handle) => checkOnce(ctx, handle, health));
  return withHandle(ctx, (handle) => keep(ctx, handle, desired, health, options));
}

/** Every destination's result of one run of its check, beside its weight in the kernel. */
async function checkOnce(ctx: Context, handle: IpvsHandle, health: readonly HealthService[]): Promise<number> {
  const kernel = new Map<string, number>();
  for (const s of await handle.list()) {
    const id = toServiceKey(s).id;
    for (const d of s.destinations) kernel.set(`${id} ${d.address} ${d.port}`, d.weight);
  }
  // One run per distinct check, as the long-running command runs them.
  const runs = new Map<string, Promise<ProbeResult>>();
  const rows: Array<{ service: HealthService; address: string; port: number; check: string; result: Promise<ProbeResult> | undefined }> = [];
  for (const s of health) {
    for (const d of s.destinations) {
      let result: Promise<ProbeResult> | undefined;
      if (d.check !== null) {
        const target = checkTarget(s, d, d.check);
        const key = `${target.address} ${target.port} ${d.check.id}`;
        result = runs.get(key);
        if (result === undefined) runs.set(key, (result = startRun(d.check, target).result));
      }
      rows.push({ service: s, address: d.address, port: d.port, check: d.check?.type ?? 'none', result });
    }
  }
  let failed = 0;
  for (const row of rows) {
    const r = row.result === undefined ? { ok: true, reason: 'not checked' } : await row.result;
    if (!r.ok) failed++;
    const weight = kernel.get(`${row.service.id} ${row.address} ${row.port}`);
    const state = r.cannotRun ? 'error' : r.ok ? 'up' : 'down';
    ctx.io.out(`${where({ service: row.service.name, destination: { address: row.address, port: row.port } })} ${row.check} ${state}: ${r.reason}; weight in the kernel ${weight ?? 'none (absent)'}\n`);
  }
  ctx.io.out(`${rows.length} destinations, ${runs.size} checks run, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

async function keep(ctx: Context, handle: IpvsHandle, desired: Parameters<typeof HealthKeeper.start>[1], health: readonly HealthService[], options: CheckOptions): Promise<number> {
  const line = (text: string) => ctx.io.out(`${new Date().toISOString()} ${text}\n`);
  const metrics = new HealthMetrics();
  let server: http.Server | undefined;
  if (options.metrics !== undefined) {
    const { address, port } = options.metrics;
    server = http.createServer((req, res) => {
      if ((req.url ?? '/').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
        return;
      }
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body),
        (error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(error as Error).message}\n`),
      );
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, address, () => resolve());
      });
    } catch (error) {
      throw new CliError(`cannot listen on ${endpoint(address, port)}: ${(error as Error).message}`, 1);
    }
  }
  try {
    const keeper = await HealthKeeper.start(handle, desired, health, { metrics });
    const m = keeper.monitor;
    m.on('up', (e: HealthEvent) => line(`up ${where(e)} (${e.check}): ${e.reason}`));
    m.on('down', (e: HealthEvent) => line(`down ${where(e)} (${e.check}): ${e.reason}`));
    m.on('checkError', (e: HealthEvent) => line(`check-error ${where(e)} (${e.check}): ${e.reason}`));
    m.on('refusal', (e: HealthEvent) => line(`refusal ${where(e)}: ${e.reason}`));
    m.on('quorum', (q: QuorumEvent) => line(`quorum ${q.held ? 'held' : 'lost'} ${q.service}: up weight ${q.alive}, quorum ${q.quorum}`));
    m.on('sinkError', (error: Error) => line(`send-error ${error.message} (sent again with the next batch)`));
    keeper.on('weights', (changes: WeightChange[]) => {
      for (const c of changes)
        line(`weight ${toServiceKey(c.service).name} destination ${endpoint(c.destination.address, c.destination.port)} ${c.weight === null ? 'removed' : c.weight}`);
    });
    keeper.on('notify', (n: NotifyEvent) => {
      if (!n.outcome.ok) line(`notify ${n.state} ${where(n.event)}: ${n.command[0]} ${n.outcome.reason}`);
    });
    const destinations = health.reduce((sum, s) => sum + s.destinations.length, 0);
    const counts = keeper.adopted.counts;
    ctx.io.out(
      `ipvs check: ${health.length} services with checks, ${destinations} destinations, ${m.checkCount} checks (one per destination address, port and check)` +
        `; the document made with ${counts.applied} changes` +
        (server ? `; metrics at http://${endpoint(options.metrics!.address, (server.address() as net.AddressInfo).port)}/metrics` : '') +
        `${ctx.netns ? ` (network namespace ${ctx.netns})` : ''}\n`,
    );
    const reloading = reloadOnHangup(ctx, options.file, keeper, line);
    const signal = await untilStopped();
    await reloading.stop();
    await keeper.stop();
    ctx.io.out(`ipvs check: stopped (${signal}); the table is left as it is\n`);
    return 0;
  } finally {
    if (server) {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
  }
}

/**
 * SIGHUP: FILE read again and followed, one reload at a time (a SIGHUP
 * during a reload makes one more after it). A document that cannot be read,
 * parsed or checked changes nothing; one the kernel refuses in part is
 * reported with what failed (the reconciler reads those services back).
 */
function reloadOnHangup(ctx: Context, file: string, keeper: HealthKeeper, line: (text: string) => void): { stop(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  const reload = async () => {
    let text: string;
    try {
      text = await ctx.io.readFile(file);
    } catch (error) {
      line(`reload-error cannot read ${file}: ${(error as Error).message}; the running document stays`);
      return;
    }
    try {
      const { desired, health } = splitHealth(readApplyDocument(text, file), file);
      const result = await keeper.update(desired, health);
      const c = result.counts;
      const failed = c.failed + c.unknown + c.unsent;
      line(`reload ${file}: ${keeper.monitor.checkCount} checks, ${c.applied} changes sent` + (failed > 0 ? `, ${failed} not applied: ${result.changes.find((x) => x.error)?.error?.message}` : ''));
    } catch (error) {
      line(`reload-error ${(error as Error).message}; the running document stays`);
    }
  };
  const onHangup = () => {
    chain = chain.then(reload);
  };
  process.on('SIGHUP', onHangup);
  return {
    stop: async () => {
      process.off('SIGHUP', onHangup);
      await chain;
    },
  };
}
