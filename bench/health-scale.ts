// Health checking at scale, natively (not in CI; no IPVS needed): 10,000
// checks, half TCP connects and half HTTP GETs, every second, against
// listeners on 127.0.0.0/8 in two child processes, one for the TCP listeners
// and one for the HTTP servers (so this process's CPU and file descriptors
// are the checker's alone, and no one backend thread's queue sets the
// period). It reports:
// - the real period each backend sees between two checks (the server side
//   timestamps every accept or request), against the 1 s asked for;
// - the checker's CPU per check run, its open file descriptors, and the
//   scheduler's lateness and skipped periods;
// - the longest event-loop block (perf_hooks.monitorEventLoopDelay), and the
//   longest the checker's own work held it (capped by the CPU its JavaScript thread used);
// - the backends' own CPU (both children together, in % of one core);
// - a burst: a third into the window, --burst TCP listeners (default 5 % of
//   the checks) close at once; their destinations go down `fall` periods
//   later, and the report counts the sink calls that carried those changes.
//
// node dist/bench/health-scale.js [--checks 10000] [--seconds 20] [--burst 500] [--json]
import { fork } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import { monitorEventLoopDelay } from 'perf_hooks';
import { HealthMonitor, splitHealth } from '../lib/health';

const HOST = '127.0.0.1';
const HTTP_SERVERS = 10;
/** The event-loop sampler's timer: each sample is the time between two of its ticks, so a block is a sample less this. */
const RESOLUTION_MS = 10;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

interface Ready {
  tcpPorts: number[];
  httpPorts: number[];
}

/**
 * What every HTTP backend answers, whole, then closes: a real HTTP/1.0
 * response, written by a raw net server rather than Node's http server, so
 * that the one core the backends share does not hold the checks back.
 */
const RESPONSE = Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');

interface Report {
  periods: number[];
  backends: number;
  cpuMs: number;
}

/** A child: tcpCount TCP listeners, httpCount HTTP servers; every hit timestamped by its key. */
async function serve(tcpCount: number, httpCount: number): Promise<void> {
  // The checker resets every connection it is done with (see lib/health/probes/tcp.ts): a
  // backend still reading then gets ECONNRESET, and an error's stack trace per check was
  // the largest part of this child's own JavaScript. No stacks: its errors are ignored.
  Error.stackTraceLimit = 0;
  const hits = new Map<string, number[]>();
  const hit = (key: string) => {
    const now = performance.now();
    const list = hits.get(key);
    if (list) list.push(now);
    else hits.set(key, [now]);
  };
  const listen = (server: net.Server) => new Promise<number>((resolve) => server.listen(0, HOST, 4096, () => resolve((server.address() as net.AddressInfo).port)));
  const tcpServers: net.Server[] = [];
  const tcpPorts: number[] = [];
  for (let i = 0; i < tcpCount; i++) {
    // Paused: a TCP backend only accepts (and timestamps) the connection, never reads it.
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      hit(`tcp ${i}`);
      socket.on('error', () => undefined);
      socket.destroy();
    });
    tcpServers.push(server);
    tcpPorts.push(await listen(server));
  }
  const httpPorts: number[] = [];
  for (let i = 0; i < httpCount; i++) {
    const server = net.createServer((socket) => {
      let request = '';
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        request += chunk.toString('latin1');
        const line = request.indexOf('\r\n');
        if (line < 0) return;
        // 'GET /17 HTTP/1.0': the path names the check.
        hit(`http ${request.slice(request.indexOf(' ') + 1, request.lastIndexOf(' ', line))}`);
        socket.end(RESPONSE);
      });
    });
    httpPorts.push(await listen(server));
  }
  process.send!({ tcpPorts, httpPorts } satisfies Ready);
  let cpuFrom = process.cpuUsage();
  process.on('message', (message: { stop?: number; cpuFrom?: true; from?: number }) => {
    if (message.stop !== undefined) {
      // The burst: the first `stop` TCP listeners close at once; their checks are refused from now on.
      for (const server of tcpServers.slice(0, message.stop)) server.close();
      return;
    }
    if (message.cpuFrom) {
      cpuFrom = process.cpuUsage();
      return;
    }
    if (message.from === undefined) return;
    const cpu = process.cpuUsage(cpuFrom);
    // Periods between consecutive hits of each backend, from `from` on.
    const periods: number[] = [];
    for (const times of hits.values()) for (let i = 1; i < times.length; i++) if (times[i - 1] >= message.from) periods.push(times[i] - times[i - 1]);
    process.send!({ periods, backends: hits.size, cpuMs: (cpu.user + cpu.system) / 1000 } satisfies Report, () => process.exit(0));
  });
}

/**
 * The longest event-loop block the checker's JavaScript thread spent working:
 * between two ticks of a RESOLUTION_MS timer, the wall time past the tick,
 * but no more than the CPU that thread used meanwhile (its own, from
 * /proc/thread-self/schedstat: the process's would count the probe engine's
 * thread, which works beside the loop, not in it). On a machine shared with
 * other work, a loop that waits for a core shows a long wall-clock block and
 * little CPU; this separates the checker's own blocks from the machine's.
 */
function cpuBoundBlocks(): { maxMs: number; stop(): void } {
  // Read again at offset 0 each time: one read, no open, per tick.
  const fd = fs.openSync('/proc/thread-self/schedstat', 'r');
  const buffer = Buffer.alloc(128);
  const threadCpuMs = () => Number(buffer.toString('latin1', 0, fs.readSync(fd, buffer, 0, buffer.length, 0)).split(' ')[0]) / 1e6;
  const result = {
    maxMs: 0,
    stop: () => {
      clearInterval(timer);
      fs.closeSync(fd);
    },
  };
  let wall = performance.now();
  let cpu = threadCpuMs();
  const timer = setInterval(() => {
    const now = performance.now();
    const used = threadCpuMs();
    const block = Math.min(now - wall - RESOLUTION_MS, used - cpu);
    if (block > result.maxMs) result.maxMs = block;
    wall = now;
    cpu = used;
  }, RESOLUTION_MS);
  return result;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function main(): Promise<void> {
  const checks = arg('--checks', 10000);
  const seconds = arg('--seconds', 20);
  // The burst: this many TCP listeners close at once, a third into the measured window.
  const burst = arg('--burst', Math.floor(checks / 20));
  const tcpCount = Math.floor(checks / 2);
  const httpCount = checks - tcpCount;
  const tcpChild = fork(__filename, ['--serve', String(tcpCount), '0'], { stdio: 'inherit' });
  const httpChild = fork(__filename, ['--serve', '0', String(HTTP_SERVERS)], { stdio: 'inherit' });
  const children = [tcpChild, httpChild];
  const [tcpReady, httpReady] = await Promise.all(children.map((c) => new Promise<Ready>((resolve) => c.once('message', (m) => resolve(m as Ready)))));
  const ready: Ready = { tcpPorts: tcpReady.tcpPorts, httpPorts: httpReady.httpPorts };
  const timing = { interval: 1, timeout: 0.8, rise: 2, fall: 3 };
  const destinations = [
    ...ready.tcpPorts.map((port) => ({ address: HOST, port, weight: 1, check: { type: 'tcp', ...timing } })),
    ...Array.from({ length: httpCount }, (_, i) => ({ address: HOST, port: ready.httpPorts[i % HTTP_SERVERS], weight: 1, check: { type: 'http', path: `/${i}`, ...timing } })),
  ];
  // One service per 100 destinations, as a director with 100 VIPs would have.
  const services = [];
  for (let i = 0; i < destinations.length; i += 100) services.push({ protocol: 'tcp' as const, address: `198.18.${i / 100 >> 8}.${(i / 100) & 255}`, port: 80, destinations: destinations.slice(i, i + 100) });
  const { health } = splitHealth(services);
  const initial = services.map((s) => ({ ...s, destinations: s.destinations.map((d) => ({ address: d.address, port: d.port, weight: 1 })) }));
  // Every sink call: when, and how many weight changes it carried.
  const sends: Array<{ at: number; changes: number }> = [];
  const monitor = new HealthMonitor(health, { sink: { setWeights: async (c) => void sends.push({ at: performance.now(), changes: c.length }) }, initial });
  let downs = 0;
  let errors = 0;
  monitor.on('down', () => downs++);
  monitor.on('checkError', () => errors++);
  monitor.start();

  // Warm-up: the first runs spread over the jitter (one interval).
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  const blocks = cpuBoundBlocks();
  const from = performance.now();
  const runsBefore = monitor.schedulerStats.runs;
  const cpuBefore = process.cpuUsage();
  const lagBefore = { total: monitor.schedulerStats.totalLagMs, skipped: monitor.schedulerStats.skipped };
  monitor.schedulerStats.maxLagMs = 0;
  let maxFds = 0;
  const sampler = setInterval(() => (maxFds = Math.max(maxFds, fs.readdirSync('/proc/self/fd').length)), 250);
  for (const c of children) c.send({ cpuFrom: true });
  let stoppedAt = NaN;
  const stopper = setTimeout(() => {
    stoppedAt = performance.now();
    tcpChild.send({ stop: burst });
  }, (seconds * 1000) / 3);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearTimeout(stopper);
  clearInterval(sampler);
  delay.disable();
  blocks.stop();
  const cpu = process.cpuUsage(cpuBefore);
  const stats = monitor.schedulerStats;
  const runs = stats.runs - runsBefore;
  await monitor.stop();
  const reports = await Promise.all(
    children.map(
      (c) =>
        new Promise<Report>((resolve) => {
          c.once('message', (m) => resolve(m as Report));
          c.send({ from });
        }),
    ),
  );
  const report: Report = { periods: reports.flatMap((r) => r.periods), backends: reports[0].backends + reports[1].backends, cpuMs: reports[0].cpuMs + reports[1].cpuMs };
  const burstSends = sends.filter((x) => x.at >= stoppedAt);
  const periods = report.periods.sort((a, b) => a - b);
  const within = periods.filter((p) => Math.abs(p - 1000) <= 100).length;
  const result = {
    checks: monitor.checkCount,
    seconds,
    runs,
    runsPerSecond: runs / seconds,
    backendsHit: report.backends,
    period: {
      meanMs: periods.reduce((a, b) => a + b, 0) / periods.length,
      p1Ms: percentile(periods, 0.01),
      p50Ms: percentile(periods, 0.5),
      p99Ms: percentile(periods, 0.99),
      maxMs: periods[periods.length - 1],
      withinTenPercent: within / periods.length,
    },
    cpuMicrosecondsPerCheck: (cpu.user + cpu.system) / runs,
    cpuPercentOfOneCore: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
    serverCpuPercentOfOneCore: (report.cpuMs / (seconds * 1000)) * 100,
    maxOpenFds: maxFds,
    eventLoop: { maxBlockMs: delay.max / 1e6 - RESOLUTION_MS, p99BlockMs: delay.percentile(99) / 1e6 - RESOLUTION_MS, maxCpuBoundBlockMs: blocks.maxMs },
    scheduler: { maxLagMs: stats.maxLagMs, meanLagMs: (stats.totalLagMs - lagBefore.total) / runs, skippedPeriods: stats.skipped - lagBefore.skipped },
    downs,
    checkErrors: errors,
    burst: {
      listenersStopped: burst,
      // Before the burst nothing changes: every destination starts up at the weight it has.
      sinkCallsBefore: sends.length - burstSends.length,
      sinkCalls: burstSends.length,
      weightChanges: burstSends.reduce((a, x) => a + x.changes, 0),
      largestCall: burstSends.reduce((a, x) => Math.max(a, x.changes), 0),
      firstCallAfterMs: burstSends.length === 0 ? NaN : burstSends[0].at - stoppedAt,
      lastCallAfterMs: burstSends.length === 0 ? NaN : burstSends[burstSends.length - 1].at - stoppedAt,
    },
  };
  if (process.argv.includes('--json')) console.log(JSON.stringify(result));
  else console.log(result);
}

if (process.argv[2] === '--serve') void serve(Number(process.argv[3]), Number(process.argv[4]));
else void main();
