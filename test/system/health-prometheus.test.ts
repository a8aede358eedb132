// A real Prometheus (Debian's `prometheus`, started here on 127.0.0.1 with a
// config and data dir of its own under /tmp, scraping every second) scrapes
// `ipvs check --metrics` (the health state) and `ipvs exporter` (the kernel's
// per-destination connection counters) while a backend fails and recovers
// under client traffic through the VIP. PromQL over its HTTP API shows the
// check state going 1 -> 0 -> 1 and the connection rate moving to the other
// backend and back. Skipped when /usr/bin/prometheus is absent.
import assert from 'assert/strict';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import type * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { eventually, note, useTrafficNetwork } from '../traffic/helpers';
import { CheckProcess, HEALTH_PORT, HealthServer, weightLine } from '../traffic/health-setup';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMETHEUS_ADDRESS = '127.0.0.1:9490';
const CHECK_METRICS = '127.0.0.1:9495';
const EXPORTER_PORT = 9494;
/**
 * Slow, tolerant checks (2 s interval and timeout, fall 3): this test is
 * about what Prometheus sees, not latency, and the backend that stays up must
 * not be seen going down because a VM shared with Prometheus, the exporter
 * and the client answered its checks late (with a 1 s interval and timeout
 * it was, in two of five runs on a loaded machine).
 */
const CHECK = { type: 'http', port: HEALTH_PORT, path: '/', interval: 2, timeout: 2, rise: 2, fall: 3 };
/** Milliseconds each phase (both up, one down, back) is held. */
const HOLD = 10_000;
/**
 * Milliseconds of a phase left out of its rate: the kernel publishes a
 * destination's connection count from its rate estimator every 2 s, so
 * connections made before the change can show up that much later.
 */
const SETTLE = 3_000;
/** A phase's mean connection rate per destination: over the phase, from SETTLE after its start to its end. */
const RATE = `rate(ipvs_destination_connections_total{service="%VIP%:80"}[${(HOLD - SETTLE) / 1000}s])`;

function getJson(url: string): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { timeout: 30_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${url}: HTTP ${res.statusCode}: ${body.slice(0, 500)}`));
          else resolve(body.startsWith('{') ? JSON.parse(body) : body);
        });
      })
      .on('error', reject);
  });
}

/** An instant PromQL query at `at` (ms since the epoch): the destination label (else the job) -> value. */
async function query(promql: string, at: number): Promise<Map<string, number>> {
  const url = `http://${PROMETHEUS_ADDRESS}/api/v1/query?query=${encodeURIComponent(promql)}&time=${at / 1000}`;
  const answer = await getJson(url);
  assert.equal(answer.status, 'success', JSON.stringify(answer));
  return new Map(answer.data.result.map((r: any) => [r.metric.destination ?? r.metric.job, Number(r.value[1])]));
}

/** A range query's values of its single series, step 1 s. */
async function queryRange(promql: string, start: number, end: number): Promise<number[]> {
  const url = `http://${PROMETHEUS_ADDRESS}/api/v1/query_range?query=${encodeURIComponent(promql)}&start=${start / 1000}&end=${end / 1000}&step=1`;
  const answer = await getJson(url);
  assert.equal(answer.status, 'success', JSON.stringify(answer));
  assert.equal(answer.data.result.length, 1, `one series for ${promql}: ${JSON.stringify(answer.data.result)}`);
  return answer.data.result[0].values.map((v: [number, string]) => Number(v[1]));
}

/** Runs of equal values as one: [1,1,0,0,1] -> [1,0,1]. */
function runs(values: number[]): number[] {
  return values.filter((v, i) => i === 0 || v !== values[i - 1]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('traffic: a real Prometheus scrapes the health state and the connection rates (ipvs check, ipvs exporter)', function () {
  this.timeout(300_000);
  let topo: Topology;
  let servers: HealthServer[] = [];
  let check: CheckProcess | undefined;
  let exporter: CheckProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let dir = '';

  before(function () {
    if (!fs.existsSync(PROMETHEUS)) {
      console.log(`      skipped: no ${PROMETHEUS} (Debian's prometheus package; scripts/install-deps installs it)`);
      this.skip();
    }
  });
  useTrafficNetwork({ backends: 2 }, (t: Topology, _h: ipvs.IpvsHandle) => {
    topo = t;
  });
  after(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    if (check) assert.equal(await check.stop(), 0, 'ipvs check exits 0 on SIGTERM');
    if (exporter) assert.equal(await exporter.stop(), 0, 'ipvs exporter exits 0 on SIGTERM');
    await Promise.all(servers.map((s) => s.destroy()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows the check going down and up and the connection rate moving to the other backend and back', async () => {
    const vip = '198.18.75.1';
    await topo.addVip(vip);
    const [b1, b2] = topo.backends;
    const d1 = `${b1.ipv4}:80`;
    const d2 = `${b2.ipv4}:80`;
    servers = topo.backends.map((b) => new HealthServer(b));
    await Promise.all(servers.map((s) => s.create()));
    check = await CheckProcess.start(
      [{ protocol: 'tcp', address: vip, port: 80, scheduler: 'rr', check: CHECK, destinations: [b1, b2].map((b) => ({ address: b.ipv4, forwarding: 'masq', weight: 5 })) }],
      ['--metrics', CHECK_METRICS],
    );
    for (const b of [b1, b2]) await check.waitFor(weightLine(b.ipv4, 5, vip));
    exporter = new CheckProcess(['exporter', '--port', String(EXPORTER_PORT), '--no-process-metrics']);
    await exporter.waitFor(/^ipvs exporter: serving /, 90_000);

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-prometheus-'));
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: ipvs-check',
        `    static_configs: [{ targets: ['${CHECK_METRICS}'] }]`,
        '  - job_name: ipvs-exporter',
        `    static_configs: [{ targets: ['127.0.0.1:${EXPORTER_PORT}'] }]`,
        '',
      ].join('\n'),
    );
    let log = '';
    prometheus = spawn(PROMETHEUS, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=${PROMETHEUS_ADDRESS}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const s of [prometheus.stdout!, prometheus.stderr!]) s.on('data', (c) => (log = (log + c.toString()).slice(-4000)));
    await eventually(async () => {
      if (prometheus!.exitCode !== null) throw new Error(`prometheus exited (${prometheus!.exitCode}): ${log}`);
      return getJson(`http://${PROMETHEUS_ADDRESS}/-/ready`).then(() => true, () => false);
    }, 'prometheus to be ready', 120_000);
    // Both targets scraped and up (else what Prometheus says of them).
    await eventually(async () => {
      const up = await query('up', Date.now());
      return up.size === 2 && [...up.values()].every((v) => v === 1);
    }, 'both targets scraped by prometheus', 60_000).catch(async (error: Error) => {
      const targets = await getJson(`http://${PROMETHEUS_ADDRESS}/api/v1/targets`).catch((e: Error) => e.message);
      const said = targets?.data?.activeTargets?.map((t: any) => `${t.scrapeUrl} ${t.health} ${t.lastError} (${t.lastScrapeDuration} s)`).join('; ');
      throw new Error(`${error.message}: ${said ?? JSON.stringify(targets)}`);
    });

    // Client traffic through the VIP until the end: a few new connections at a time.
    let traffic = true;
    let sent = 0;
    const client = (async () => {
      while (traffic) {
        await topo.attempt(vip, 80, 3);
        sent += 3;
        await sleep(200);
      }
    })();

    try {
      // Each phase's end: its rate is read there, over the phase's last HOLD - SETTLE ms.
      const start = Date.now();
      await sleep(HOLD);
      const bothUp = Date.now();
      const from = check.lines.length;
      await servers[0].stop();
      await check.waitFor(weightLine(b1.ipv4, 0, vip), 60_000, from);
      const downAt = Date.now();
      await sleep(HOLD);
      const oneDown = Date.now();
      const back = check.lines.length;
      await servers[0].start();
      await check.waitFor(weightLine(b1.ipv4, 5, vip), 60_000, back);
      const backAt = Date.now();
      await sleep(HOLD);
      const upAgain = Date.now();
      assert.ok(oneDown - downAt >= HOLD && upAgain - backAt >= HOLD, 'each phase held HOLD ms after its change');
      traffic = false;
      await client;
      // The last scrape of the last phase.
      await sleep(2000);

      const state = runs(await queryRange(`ipvs_health_destination_up{destination="${d1}"}`, start, upAgain));
      note(`ipvs_health_destination_up{destination="${d1}"} over the run, runs of equal values as one: ${state.join(' -> ')}`);
      assert.deepEqual(state, [1, 0, 1], 'the check state goes down and up');
      const other = runs(await queryRange(`ipvs_health_destination_up{destination="${d2}"}`, start, upAgain));
      assert.deepEqual(other, [1], `the other backend stays up: ${check.lines.filter((l) => / (down|up) /.test(l.text)).map((l) => l.text).join('; ')}`);
      // Over a range: a scrape that timed out on the busy VM marks the target's series stale at once.
      const transitions = await query(`max_over_time(ipvs_health_transitions_total{destination="${d1}",to="down"}[${Math.ceil((upAgain - start) / 1000)}s])`, upAgain);
      assert.equal(transitions.get(d1), 1, 'one transition down counted');

      const promql = RATE.replace('%VIP%', vip);
      const phases: Array<[string, number]> = [['both up', bothUp], ['backend1 down', oneDown], ['backend1 back', upAgain]];
      const rates = new Map<string, Map<string, number>>();
      for (const [name, at] of phases) rates.set(name, await query(promql, at));
      for (const [name] of phases) note(`${promql} during ${name}: ${[d1, d2].map((d) => `${d} ${(rates.get(name)!.get(d) ?? NaN).toFixed(2)}/s`).join(', ')}`);
      note(`${sent} client connections sent through ${vip}`);
      const r = (phase: string, d: string) => rates.get(phase)!.get(d) ?? NaN;
      // The client's own rate varies with the VM's load, so each phase is read as who took connections.
      assert.ok(r('both up', d1) > 0 && r('both up', d2) > 0, 'both backends take connections while up');
      assert.equal(r('backend1 down', d1), 0, 'no new connections to the down backend');
      assert.ok(r('backend1 down', d2) > 0, 'the other backend takes them all');
      assert.ok(r('backend1 back', d1) > 0 && r('backend1 back', d2) > 0, 'back, it takes connections again beside the other');
    } finally {
      traffic = false;
      await client;
    }
  });
});
