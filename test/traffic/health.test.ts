// `ipvs check` driving weights with real traffic: a backend whose health
// server stops goes to weight 0 (ipvsadm -Sn), new connections go to the
// others while a connection held to it keeps working; its server back, it
// returns to its weight after `rise` passes and takes new connections.
// Detection and recovery latencies are measured over IPVS_HEALTH_CYCLES cycles
// (3 here; scripts/health-latency runs 20) and printed beside the bound.
// Two VIPs sharing a backend: one check runs (the requests counted at the
// backend's health server), both VIPs follow it.
import assert from 'assert/strict';
import type * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { note, tally, useTrafficNetwork } from './helpers';
import { CheckProcess, HEALTH_PORT, HealthServer, kernelWeight, median, weightLine } from './health-setup';

const INTERVAL = 1;
const TIMEOUT = 0.5;
const RISE = 2;
const FALL = 2;
const CHECK = { type: 'http', port: HEALTH_PORT, path: '/', interval: INTERVAL, timeout: TIMEOUT, rise: RISE, fall: FALL };
const CYCLES = Number(process.env.IPVS_HEALTH_CYCLES ?? 3);

describe('traffic: health checks drive weights (ipvs check)', function () {
  this.timeout(600_000);
  let topo: Topology;
  let servers: HealthServer[] = [];
  let check: CheckProcess | undefined;

  useTrafficNetwork({ backends: 2 }, (t: Topology, _h: ipvs.IpvsHandle) => {
    topo = t;
  });
  before(async () => {
    servers = topo.backends.map((b) => new HealthServer(b));
    await Promise.all(servers.map((s) => s.create()));
  });
  afterEach(async () => {
    if (check) assert.equal(await check.stop(), 0, 'ipvs check exits 0 on SIGTERM');
    check = undefined;
    await Promise.all(servers.map((s) => (s.running ? undefined : s.start())));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.destroy()));
  });

  it('takes a stopped backend to weight 0 and back after rise; held connections keep working; latency over cycles', async () => {
    const vip = '198.18.70.1';
    await topo.addVip(vip);
    const [b1, b2] = topo.backends;
    check = await CheckProcess.start([
      { protocol: 'tcp', address: vip, port: 80, scheduler: 'rr', check: CHECK, destinations: topo.backends.map((b) => ({ address: b.ipv4, forwarding: 'masq', weight: 5 })) },
    ]);
    // New destinations start down: added at weight 0, up after `rise` passes.
    for (const b of topo.backends) await check.waitFor(weightLine(b.ipv4, 5, vip));
    for (const b of topo.backends) assert.equal(kernelWeight(vip, b.ipv4), 5, `${b.name} at its weight`);

    // A connection held to backend1 (round robin: one of two opens lands there).
    const opened = [await topo.open(vip, 80), await topo.open(vip, 80)];
    const held = opened.find((c) => c.backend === b1.name)!;
    assert.ok(held, `a held connection on ${b1.name}: ${opened.map((c) => c.backend)}`);
    for (const c of opened) if (c !== held) await c.close();

    const bound = FALL * INTERVAL + TIMEOUT;
    const detect: number[] = [];
    const recover: number[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const from = check.lines.length;
      await servers[0].stop();
      const stoppedAt = Date.now();
      const down = await check.waitFor(weightLine(b1.ipv4, 0, vip), 60_000, from);
      detect.push((down.at! - stoppedAt) / 1000);
      assert.equal(kernelWeight(vip, b1.ipv4), 0, 'weight 0 in the kernel');
      assert.equal(kernelWeight(vip, b2.ipv4), 5);
      const names = await topo.requests(vip, 80, 4);
      assert.deepEqual(Object.keys(tally(names)), [b2.name], `new connections go to ${b2.name} only: ${names}`);
      assert.equal(await held.ping(), b1.name, 'the held connection still works');

      const back = check.lines.length;
      await servers[0].start();
      const startedAt = Date.now();
      const up = await check.waitFor(weightLine(b1.ipv4, 5, vip), 60_000, back);
      recover.push((up.at! - startedAt) / 1000);
      assert.equal(kernelWeight(vip, b1.ipv4), 5, 'its weight restored in the kernel');
      const after = await topo.requests(vip, 80, 4);
      assert.ok(after.includes(b1.name), `${b1.name} takes new connections again: ${after}`);
      assert.equal(await held.ping(), b1.name);
    }
    await held.close();
    const downLine = check.lines.find((l) => / down service tcp 198\.18\.70\.1:80 destination /.test(l.text));
    assert.match(downLine!.text, /\(http\): connect refused$/, 'a down line names the check and the reason');
    note(`down line: ${downLine!.text}`);
    note(`detection over ${CYCLES} cycles: median ${median(detect).toFixed(2)} s, worst ${Math.max(...detect).toFixed(2)} s (bound fall x interval + timeout = ${bound} s; ${detect.filter((d) => d <= bound).length}/${CYCLES} within); all: ${detect.map((d) => d.toFixed(2)).join(' ')}`);
    note(`recovery over ${CYCLES} cycles: median ${median(recover).toFixed(2)} s, worst ${Math.max(...recover).toFixed(2)} s (bound rise x interval + timeout = ${RISE * INTERVAL + TIMEOUT} s; ${recover.filter((d) => d <= RISE * INTERVAL + TIMEOUT).length}/${CYCLES} within); all: ${recover.map((d) => d.toFixed(2)).join(' ')}`);
  });

  it('runs one check for a backend two VIPs share, and both VIPs follow it', async () => {
    const vips = ['198.18.70.2', '198.18.70.3'];
    for (const v of vips) await topo.addVip(v);
    const [b1, b2] = topo.backends;
    const service = (vip: string) => ({ protocol: 'tcp', address: vip, port: 80, scheduler: 'rr', check: CHECK, destinations: [b1, b2].map((b) => ({ address: b.ipv4, forwarding: 'masq', weight: 3 })) });
    check = await CheckProcess.start([service(vips[0]), service(vips[1])]);
    assert.match(check.lines[0].text, / 4 destinations, 2 checks /, 'two checks for four destinations');
    for (const v of vips) for (const b of [b1, b2]) await check.waitFor(weightLine(b.ipv4, 3, v));

    // Requests at backend1's health server over a window: one check at most one run per interval
    // (a check per VIP would be two), counted where they arrive.
    const before = servers[0].requests;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 6000));
    const seen = servers[0].requests - before;
    const periods = (Date.now() - t0) / 1000 / INTERVAL;
    note(`backend1's health server answered ${seen} requests in ${periods.toFixed(1)} intervals for 2 VIPs`);
    assert.ok(seen >= 1, 'the check runs');
    assert.ok(seen <= Math.floor(periods) + 1, `at most one request per interval (${seen} in ${periods.toFixed(1)} intervals)`);

    const from = check.lines.length;
    await servers[0].stop();
    for (const v of vips) await check.waitFor(weightLine(b1.ipv4, 0, v), 60_000, from);
    const downs = check.lines.slice(from).filter((l) => / down service tcp /.test(l.text));
    assert.equal(downs.length, 2, 'one down line per service');
    for (const v of vips) {
      assert.equal(kernelWeight(v, b1.ipv4), 0, `${v}: backend1 at 0`);
      const names = await topo.requests(v, 80, 4);
      assert.deepEqual(Object.keys(tally(names)), [b2.name], `${v}: only backend2 takes new connections`);
    }
    const stopped = servers[0].requests;
    await servers[0].start();
    for (const v of vips) await check.waitFor(weightLine(b1.ipv4, 3, v), 60_000, from);
    note(`back up after ${servers[0].requests - stopped} requests at backend1 (rise ${RISE}: one check feeds both VIPs)`);
    // One check per VIP would need RISE passes each: 2 x RISE requests before both came up.
    assert.ok(servers[0].requests - stopped < 2 * RISE, 'the rise passes of one check bring both VIPs up');
    for (const v of vips) assert.equal(kernelWeight(v, b1.ipv4), 3);
  });
});
