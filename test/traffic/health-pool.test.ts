// `ipvs check` across a restart and for a pool's health: a checker restarted
// with one backend down and one up changes no weight (ipvsadm -Sn watched
// through the restart) until a check says so; quorum lost sends the traffic
// to the sorry server, and it leaves only once quorum is regained past the
// hysteresis; a depool threshold of 0.5 with three of four backends down
// depools two and keeps one, and the metrics count one refusal; SIGHUP
// reloads the document without flapping what the checks hold down.
import assert from 'assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import type * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { note, tally, useTrafficNetwork } from './helpers';
import { CheckProcess, HEALTH_PORT, HealthServer, kernelWeight, kernelWeights, saveTable, weightLine } from './health-setup';

const CHECK = { type: 'http', port: HEALTH_PORT, interval: 1, timeout: 0.5, rise: 2, fall: 2 };

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { timeout: 30_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function refusalCount(metrics: string): number {
  const m = /^ipvs_health_depool_refusals_total\{service="service tcp 198\.18\.71\.3:80"\} (\d+)$/m.exec(metrics);
  return m ? Number(m[1]) : 0;
}

describe('traffic: health checks across restarts, quorum and the depool threshold (ipvs check)', function () {
  this.timeout(600_000);
  let topo: Topology;
  let servers: HealthServer[] = [];
  let check: CheckProcess | undefined;

  useTrafficNetwork({ backends: 4 }, (t: Topology, _h: ipvs.IpvsHandle) => {
    topo = t;
  });
  before(async () => {
    servers = topo.backends.map((b) => new HealthServer(b));
    await Promise.all(servers.map((s) => s.create()));
  });
  afterEach(async () => {
    if (check) assert.equal(await check.stop(), 0, 'ipvs check exits 0 on SIGTERM');
    check = undefined;
    await Promise.all(servers.map((s) => s.start()));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.destroy()));
  });

  it('restarted with one backend down and one up, changes no weight until the checks say so', async () => {
    const vip = '198.18.71.1';
    await topo.addVip(vip);
    const [b1, b2] = topo.backends;
    const document = [{ protocol: 'tcp', address: vip, port: 80, scheduler: 'rr', check: CHECK, destinations: [b1, b2].map((b) => ({ address: b.ipv4, forwarding: 'masq', weight: 4 })) }];
    await servers[0].stop();
    const check0 = (check = await CheckProcess.start(document));
    await check.waitFor(weightLine(b2.ipv4, 4, vip));
    assert.equal(kernelWeight(vip, b1.ipv4), 0);
    assert.equal(await check.stop(), 0);
    check = undefined;
    const before = kernelWeights();
    assert.equal(before.get(`${vip}:80 ${b1.ipv4}:80`), 0, 'backend1 left at 0 by the stop');
    assert.equal(before.get(`${vip}:80 ${b2.ipv4}:80`), 4, 'backend2 left at 4 by the stop');

    // --once: each check once, beside the kernel's weight; exit 1 as one failed; nothing changed.
    const once = new CheckProcess(['check', '--once', check0.file]);
    assert.equal(await once.exited, 1, once.text());
    assert.match(once.text(), new RegExp(`destination ${b1.ipv4.replace(/\./g, '\\.')}:80 http down: connect refused; weight in the kernel 0$`, 'm'));
    assert.match(once.text(), new RegExp(`destination ${b2.ipv4.replace(/\./g, '\\.')}:80 http up: HTTP 200; weight in the kernel 4$`, 'm'));
    assert.match(once.text(), /^2 destinations, 2 checks run, 1 failed$/m);
    assert.deepEqual(kernelWeights(), before, '--once changed nothing');

    // Restart; the table watched from before the start until several intervals after its first line.
    const seen = new Set<string>();
    let reads = 0;
    const snapshot = async () => {
      seen.add(JSON.stringify([...kernelWeights(await saveTable())].filter(([k]) => k.startsWith(`${vip}:80 `)).sort()));
      reads++;
    };
    await snapshot();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        await snapshot();
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let restarted: CheckProcess;
    try {
      restarted = check = await CheckProcess.start(document);
      await new Promise((r) => setTimeout(r, 4000));
    } finally {
      watching = false;
      await watcher;
    }
    await snapshot();
    note(`${seen.size} distinct table(s) in ${reads} reads of ipvsadm -Sn through the restart: ${[...seen].join(' | ')}`);
    assert.equal(seen.size, 1, 'no weight changed through the restart');
    assert.match(restarted.lines[0].text, /the document made with 0 changes/, 'the restart wrote nothing');
    assert.deepEqual(restarted.lines.filter((l) => / (weight|up|down) service /.test(l.text)), [], 'no event or weight change after the restart');

    // The checks say so: backend1 back, up after rise.
    const from = restarted.lines.length;
    await servers[0].start();
    await restarted.waitFor(weightLine(b1.ipv4, 4, vip), 60_000, from);
    assert.equal(kernelWeight(vip, b1.ipv4), 4);
  });

  it('sends the traffic to the sorry server while quorum is lost, and back once regained past the hysteresis', async () => {
    const vip = '198.18.71.2';
    await topo.addVip(vip);
    const [b1, b2, sorry] = topo.backends;
    check = await CheckProcess.start([
      {
        protocol: 'tcp', address: vip, port: 80, scheduler: 'rr', check: CHECK,
        // lost below 3 - 1 = 2 (both down), held again from 3 + 1 = 4 (both up)
        health: { quorum: 3, hysteresis: 1, sorryServer: { address: sorry.ipv4, weight: 1 } },
        destinations: [b1, b2].map((b) => ({ address: b.ipv4, forwarding: 'masq', weight: 2 })),
      },
    ]);
    for (const b of [b1, b2]) await check.waitFor(weightLine(b.ipv4, 2, vip));
    await check.waitFor(/ quorum held /);
    assert.equal(kernelWeight(vip, sorry.ipv4) ?? 0, 0, 'the sorry server takes nothing while quorum holds');

    let from = check.lines.length;
    await servers[0].stop();
    await check.waitFor(weightLine(b1.ipv4, 0, vip), 60_000, from);
    assert.ok(!check.lines.slice(from).some((l) => / quorum lost /.test(l.text)), 'one backend down: quorum held (alive 2, lost below 2)');
    assert.deepEqual(Object.keys(tally(await topo.requests(vip, 80, 4))), [b2.name]);

    from = check.lines.length;
    await servers[1].stop();
    await check.waitFor(/ quorum lost service tcp 198\.18\.71\.2:80: up weight 0, quorum 3$/, 60_000, from);
    await check.waitFor(weightLine(sorry.ipv4, 1, vip), 60_000, from);
    assert.equal(kernelWeight(vip, sorry.ipv4), 1);
    assert.equal(kernelWeight(vip, b2.ipv4), 0);
    assert.deepEqual(Object.keys(tally(await topo.requests(vip, 80, 4))), [sorry.name], 'quorum lost: the sorry server takes the traffic');

    from = check.lines.length;
    await servers[0].start();
    await check.waitFor(new RegExp(` up service tcp 198\\.18\\.71\\.2:80 destination ${b1.ipv4.replace(/\./g, '\\.')}:80 `), 60_000, from);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(kernelWeight(vip, sorry.ipv4), 1, 'alive 2 is below quorum + hysteresis: still lost');
    assert.equal(kernelWeight(vip, b1.ipv4), 0);
    assert.deepEqual(Object.keys(tally(await topo.requests(vip, 80, 4))), [sorry.name]);

    from = check.lines.length;
    await servers[1].start();
    await check.waitFor(/ quorum held service tcp 198\.18\.71\.2:80: up weight 4, quorum 3$/, 60_000, from);
    await check.waitFor(weightLine(sorry.ipv4, 0, vip), 60_000, from);
    assert.equal(kernelWeight(vip, b1.ipv4), 2);
    assert.equal(kernelWeight(vip, b2.ipv4), 2);
    const names = await topo.requests(vip, 80, 4);
    assert.deepEqual(Object.keys(tally(names)).sort(), [b1.name, b2.name], `quorum regained: the sorry server leaves (${names})`);
  });

  it('reloads FILE on SIGHUP: weights follow it, a destination held down stays at 0; a FILE it cannot take changes nothing', async () => {
    const vip = '198.18.71.4';
    await topo.addVip(vip);
    const [b1, b2] = topo.backends;
    const document = (weight: number) => [
      { protocol: 'tcp', address: vip, port: 80, scheduler: 'wrr', check: CHECK, destinations: [b1, b2].map((b) => ({ address: b.ipv4, forwarding: 'masq', weight })) },
    ];
    await servers[0].stop();
    const running = (check = await CheckProcess.start(document(4)));
    // Both start down (absent from the kernel); the passing one is up after rise.
    await running.waitFor(weightLine(b2.ipv4, 4, vip));
    assert.equal(kernelWeight(vip, b1.ipv4), 0);

    fs.writeFileSync(running.file, JSON.stringify(document(6)));
    let from = running.lines.length;
    running.child.kill('SIGHUP');
    const reloaded = await running.waitFor(/ reload /, 60_000, from);
    note(reloaded.text);
    assert.equal(kernelWeight(vip, b2.ipv4), 6, 'the passing destination at the new weight');
    assert.equal(kernelWeight(vip, b1.ipv4), 0, 'the failing one held down across the reload');
    assert.deepEqual(running.lines.slice(from).filter((l) => / up service /.test(l.text)), [], 'no destination came up on the reload');

    // A document the reconciler refuses: reported, nothing changed, still running.
    fs.writeFileSync(running.file, JSON.stringify([{ ...document(9)[0], scheduler: 'no such' }]));
    const before = kernelWeights();
    from = running.lines.length;
    running.child.kill('SIGHUP');
    note((await running.waitFor(/ reload-error /, 60_000, from)).text);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(kernelWeights(), before, 'a refused reload changed the table');

    // The failing backend back: up at the weight of the last document taken.
    await servers[0].start();
    await running.waitFor(weightLine(b1.ipv4, 6, vip), 60_000, from);
    assert.equal(kernelWeight(vip, b1.ipv4), 6);
  });

  it('with a depool threshold of 0.5, three of four down depools two and counts one refusal', async () => {
    const vip = '198.18.71.3';
    await topo.addVip(vip);
    check = await CheckProcess.start(
      [{ protocol: 'tcp', address: vip, port: 80, scheduler: 'rr', check: CHECK, health: { depoolThreshold: 0.5 }, destinations: topo.backends.map((b) => ({ address: b.ipv4, forwarding: 'masq', weight: 1 })) }],
      ['--metrics', '127.0.0.1:0'],
    );
    const url = /metrics at (http:\S+)/.exec(check.lines[0].text)![1];
    for (const b of topo.backends) await check.waitFor(weightLine(b.ipv4, 1, vip));
    // New destinations start down, so the first evaluation may have refused some already: count from here.
    const refusalsBefore = refusalCount(await get(url));
    const from = check.lines.length;
    await Promise.all(servers.slice(0, 3).map((s) => s.stop()));
    await check.waitFor(/ refusal service tcp 198\.18\.71\.3:80 /, 60_000, from);
    // Wait until all three have gone down (two depooled, the third refused).
    for (let i = 0; i < 60 && check.lines.slice(from).filter((l) => / down service /.test(l.text)).length < 3; i++) await new Promise((r) => setTimeout(r, 500));
    await new Promise((r) => setTimeout(r, 1000));
    const weights = topo.backends.map((b) => kernelWeight(vip, b.ipv4));
    note(`weights with backends 1-3 down: ${weights.join(' ')}`);
    assert.deepEqual([...weights].sort(), [0, 0, 1, 1], 'two depooled, two pooled (one of them down, kept by the threshold)');
    assert.equal(weights[3], 1, 'the healthy backend stays pooled');
    const refusals = check.lines.slice(from).filter((l) => / refusal /.test(l.text));
    assert.equal(refusals.length, 1, 'one refusal logged');
    assert.equal(refusalCount(await get(url)) - refusalsBefore, 1, 'one refusal counted (ipvs_health_depool_refusals_total)');
    note(refusals[0].text);
  });
});
