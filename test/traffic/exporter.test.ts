// `ipvs exporter` scraped over HTTP while real traffic flows through a NAT
// service: counters rise between scrapes, and once the kernel's 2 s fold has
// settled each byte, packet and connection counter equals what
// `ipvsadm -Ln --stats --exact` prints; labels name the service and the
// destination; by default it listens on 127.0.0.1:9494 only.
import assert from 'assert/strict';
import { spawn, type ChildProcess, execFileSync } from 'child_process';
import * as http from 'http';
import * as path from 'path';
import type * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { eventually, note, useTrafficNetwork } from './helpers';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'ipvs.js');

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 60_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

/** Samples of the exposition text: `name{labels}` -> value, the labels in name order. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/i.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort();
    out.set(m[1] + (labels.length ? `{${labels.join(',')}}` : ''), Number(m[3]));
  }
  return out;
}

/** ipvsadm -Ln --stats --exact: conns, inpkts, outpkts, inbytes, outbytes per row ('TCP 198.18.62.1:80' or '-> 198.19.1.2:80'). */
function ipvsadmStats(): Map<string, bigint[]> {
  const out = new Map<string, bigint[]>();
  for (const line of execFileSync('ipvsadm', ['-Ln', '--stats', '--exact'], { encoding: 'utf8' }).split('\n')) {
    const m = /^(TCP|UDP|SCTP|FWM|  ->)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/.exec(line);
    if (m) out.set(`${m[1].trim()} ${m[2]}`, m.slice(3).map(BigInt));
  }
  return out;
}

describe('traffic: ipvs exporter', function () {
  this.timeout(300_000);
  let topo: Topology;
  let handle: ipvs.IpvsHandle;
  let exporter: ChildProcess | undefined;
  const vip = '198.18.62.1';

  useTrafficNetwork({ backends: 2 }, (t, h) => {
    topo = t;
    handle = h;
  });
  after(() => {
    if (exporter?.exitCode === null) exporter.kill('SIGKILL');
  });

  it('serves per-destination counters equal to ipvsadm --stats --exact, on 127.0.0.1:9494 by default', async () => {
    await topo.addVip(vip);
    const service = { protocol: 'tcp', address: vip, port: 80 } as const;
    await handle.addService({ ...service, scheduler: 'rr' });
    for (const b of topo.backends) await handle.addDestination(service, { address: b.ipv4, forwarding: 'masq', weight: 7 });
    await handle.addService({ fwmark: 7, family: 'ipv6', scheduler: 'mh' });
    await handle.addDestination({ fwmark: 7, family: 'ipv6' }, { address: topo.backends[0].ipv6, port: 80, forwarding: 'masq', weight: 3 });

    // the installed bin, no options: the defaults are what is tested
    exporter = spawn(process.execPath, [BIN, 'exporter'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    exporter.stdout!.on('data', (c) => (said += c));
    exporter.stderr!.on('data', (c) => (said += c));
    await eventually(async () => /serving/.test(said), 'the exporter to listen', 60_000);
    assert.equal(said.trim(), 'ipvs exporter: serving http://127.0.0.1:9494/metrics');
    // bound to loopback only: the director's other addresses refuse
    await assert.rejects(get('http://198.18.0.1:9494/metrics'), /ECONNREFUSED/);
    const url = 'http://127.0.0.1:9494/metrics';

    const first = await get(url);
    assert.equal(first.status, 200);
    assert.match(first.type, /^text\/plain; version=0\.0\.4/);
    assert.match(first.body, /^# TYPE ipvs_destination_incoming_bytes_total counter$/m);
    assert.match(first.body, /^# TYPE ipvs_destination_active_connections gauge$/m);
    const s0 = samples(first.body);
    const b1 = `destination="${topo.backends[0].ipv4}:80",family="ipv4",protocol="tcp",service="${vip}:80"`;
    const b2 = `destination="${topo.backends[1].ipv4}:80",family="ipv4",protocol="tcp",service="${vip}:80"`;
    assert.equal(s0.get('ipvs_up'), 1);
    assert.equal(s0.get('ipvs_services'), 2);
    assert.equal(s0.get(`ipvs_destination_weight{${b1}}`), 7);
    assert.equal(s0.get(`ipvs_service_destinations{family="ipv4",protocol="tcp",service="${vip}:80"}`), 2);
    assert.equal(s0.get(`ipvs_destination_weight{destination="[${topo.backends[0].ipv6}]:80",family="ipv6",protocol="fwmark",service="7"}`), 3);
    assert.equal(s0.get(`ipvs_service_connections_total{family="ipv6",protocol="fwmark",service="7"}`), 0);

    // traffic, scraped as it flows: the byte counter only grows, and grows
    const seen: number[] = [s0.get(`ipvs_destination_incoming_bytes_total{${b1}}`)!];
    let flowing = true;
    const traffic = (async () => {
      const until = Date.now() + 40_000;
      let sent = 0;
      while (flowing && Date.now() < until) sent += (await topo.requests(vip, 80, 4)).length;
      return sent;
    })();
    try {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && seen[seen.length - 1] <= seen[0]) {
        await new Promise((r) => setTimeout(r, 1500));
        seen.push(samples((await get(url)).body).get(`ipvs_destination_incoming_bytes_total{${b1}}`)!);
      }
    } finally {
      flowing = false;
    }
    const sent = await traffic;
    note(`${sent} requests; backend1 incoming bytes as scraped: ${seen.join(' ')}`);
    assert.ok(seen[seen.length - 1] > seen[0], 'the counter rose while traffic flowed');
    assert.deepEqual([...seen].sort((a, b) => a - b), seen, 'a counter never goes down');

    // settled: two ipvsadm reads 2.5 s apart agree (the kernel folds every 2 s)
    let settled = ipvsadmStats();
    await eventually(async () => {
      await new Promise((r) => setTimeout(r, 2500));
      const now = ipvsadmStats();
      const same = JSON.stringify([...now], (_, v) => (typeof v === 'bigint' ? String(v) : v)) === JSON.stringify([...settled], (_, v) => (typeof v === 'bigint' ? String(v) : v));
      settled = now;
      return same;
    }, 'the counters to settle', 30_000);
    const scraped = samples((await get(url)).body);
    assert.deepEqual(ipvsadmStats(), settled, 'unchanged while scraping');
    const names = ['connections', 'incoming_packets', 'outgoing_packets', 'incoming_bytes', 'outgoing_bytes'];
    for (const [row, labels, scope] of [
      [`TCP ${vip}:80`, `family="ipv4",protocol="tcp",service="${vip}:80"`, 'service'],
      [`-> ${topo.backends[0].ipv4}:80`, b1, 'destination'],
      [`-> ${topo.backends[1].ipv4}:80`, b2, 'destination'],
    ]) {
      const expected = settled.get(row);
      assert.ok(expected, `ipvsadm lists ${row}`);
      const got = names.map((n) => scraped.get(`ipvs_${scope}_${n}_total{${labels}}`));
      assert.deepEqual(got.map((v) => BigInt(v!)), expected, `${row}: ${names.join(', ')}`);
    }
    const inBytes = scraped.get(`ipvs_destination_incoming_bytes_total{${b1}}`)!;
    assert.ok(inBytes > 0);
    note(`settled: backend1 in ${inBytes} bytes, out ${scraped.get(`ipvs_destination_outgoing_bytes_total{${b1}}`)} bytes, as ipvsadm --exact`);

    // a clean stop on SIGTERM
    const exited = new Promise<number | null>((resolve) => exporter!.on('exit', (code) => resolve(code)));
    exporter.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
