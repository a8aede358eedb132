// Differential tests against ipvsadm, both ways: what the library writes,
// ipvsadm reads back identically; what ipvsadm writes with every option it
// has, the library reads back with every field right.
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as ipvs from '../../lib';
import { formatRules, parseRules, rulesToTable } from '../../lib/rules';
import type { Context } from '../../lib/cli/context';
import { LISTING_BATCH, printListing, printRules } from '../../lib/cli/listing';
import { main } from '../../lib/cli/main';
import type { ListFormat } from '../../lib/rules';
import { assertSandbox, ipvsadm, resetTable, savedRules, sh } from './helpers';

const t80 = { protocol: 'tcp', address: '1.1.1.1', port: 80 } as const;
const t81 = { protocol: 'tcp', address: '1.1.1.1', port: 81 } as const;
const u5060 = { protocol: 'udp', address: '1.1.1.1', port: 5060 } as const;
const t6 = { protocol: 'tcp', address: '2001:db8::1', port: 80 } as const;

// The same table, as ipvsadm -Sn prints it and as ipvsadm commands write it.
const RULES = [
  '-A -t 1.1.1.1:80 -s sh -p 300 -M 255.255.0.0 --pe sip -b sh-fallback,sh-port',
  '-A -t 1.1.1.1:81 -s rr',
  '-a -t 1.1.1.1:81 -r 198.18.0.1:81 -g -w 1',
  '-a -t 1.1.1.1:81 -r 2.2.2.2:81 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum',
  '-a -t 1.1.1.1:81 -r 2.2.2.3:81 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum',
  '-a -t 1.1.1.1:81 -r 2.2.2.4:81 -i -w 0 --tun-type gre --tun-csum',
  '-a -t 1.1.1.1:81 -r 2.2.2.5:81 -i -w 1 --tun-type gre --tun-nocsum',
  '-a -t 1.1.1.1:81 -r 2.2.2.6:8080 -m -w 3',
  '-a -t 1.1.1.1:81 -r [2001:db8::5]:81 -i -w 1 --tun-type ipip',
  '-A -u 1.1.1.1:5060 -s rr -p 300 --pe sip -o',
  '-A -t [2001:db8::1]:80 -s mh -p 10 -M 48 -b mh-fallback',
  '-a -t [2001:db8::1]:80 -r [2001:db8::20]:80 -m -w 4',
  '-A -f 1 -s rr -b flag-3',
  '-A -f 1 -6 -s lc',
  '-A --sctp-service 1.1.1.2:9 -s wrr',
];

describe('kernel: differential against ipvsadm', function () {
  let handle: ipvs.IpvsHandle;
  before(async function () {
    assertSandbox();
    sh('modprobe ip_vs_pe_sip');
    handle = await ipvs.open();
  });
  after(() => handle?.close());
  beforeEach(resetTable);

  it('a table written by the library is read back identically by ipvsadm -Sn', async () => {
    await handle.addService({
      ...t80,
      scheduler: 'sh',
      persistence: { timeout: 300, netmask: '255.255.0.0' },
      persistenceEngine: 'sip',
      schedulerFlags: { fallback: true, port: true },
    });
    await handle.addService({ ...t81, scheduler: 'rr' });
    await handle.addDestination(t81, { address: '198.18.0.1', forwarding: 'route' });
    await handle.addDestination(t81, {
      address: '2.2.2.2', forwarding: 'tunnel', weight: 2, upperThreshold: 10, lowerThreshold: 5,
      tunnel: { type: 'gue', port: 6080, checksum: 'checksum' },
    });
    await handle.addDestination(t81, { address: '2.2.2.3', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remote' } });
    await handle.addDestination(t81, { address: '2.2.2.4', forwarding: 'tunnel', weight: 0, tunnel: { type: 'gre', checksum: 'checksum' } });
    await handle.addDestination(t81, { address: '2.2.2.5', forwarding: 'tunnel', tunnel: { type: 'gre' } });
    await handle.addDestination(t81, { address: '2.2.2.6', port: 8080, forwarding: 'masq', weight: 3 });
    await handle.addDestination(t81, { address: '2001:db8::5', forwarding: 'tunnel' });
    await handle.addService({ ...u5060, scheduler: 'rr', persistence: { timeout: 300 }, persistenceEngine: 'sip', onePacket: true });
    await handle.addService({ ...t6, scheduler: 'mh', persistence: { timeout: 10, netmask: 48 }, schedulerFlags: { fallback: true } });
    await handle.addDestination(t6, { address: '2001:db8::20', forwarding: 'masq', weight: 4 });
    await handle.addService({ fwmark: 1, scheduler: 'rr', schedulerFlags: { flag3: true } });
    await handle.addService({ fwmark: 1, family: 'ipv6', scheduler: 'lc' });
    await handle.addService({ protocol: 'sctp', address: '1.1.1.2', port: 9, scheduler: 'wrr' });

    assert.deepEqual(savedRules().sort(), [...RULES].sort());
    assert.match(ipvsadm('-Ln', '--thresholds'), /-> 2\.2\.2\.2:81\s+10\s+5\s/);
  });

  it('a table written by ipvsadm with every option is read back with every field right', async () => {
    for (const rule of RULES) sh(`ipvsadm ${rule}`);
    ipvsadm('-e', '-t', '1.1.1.1:81', '-r', '2.2.2.2:81', '-i', '-w', '2', '-x', '10', '-y', '5', '--tun-type', 'gue', '--tun-port', '6080', '--tun-csum');
    const services = await handle.list();
    const find = (pred: (s: ipvs.Service) => boolean) => {
      const found = services.filter(pred);
      assert.equal(found.length, 1);
      return found[0];
    };
    const noFlags = { fallback: false, port: false, flag3: false };

    const s80 = find((s) => s.protocol === 'tcp' && s.address === '1.1.1.1' && s.port === 80);
    assert.deepEqual({ ...s80, stats: null }, {
      family: 'ipv4', protocol: 'tcp', address: '1.1.1.1', port: 80, scheduler: 'sh',
      persistence: { timeout: 300, netmask: 16 }, persistenceEngine: 'sip', onePacket: false,
      schedulerFlags: { fallback: true, port: true, flag3: false }, stats: null, destinations: [],
    });
    assert.equal(typeof s80.stats?.inbytes, 'bigint');

    const s81 = find((s) => s.port === 81);
    const dests = new Map(s81.destinations.map((d) => [d.address, { ...d, stats: null }]));
    const base = { family: 'ipv4', port: 81, weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: null,
      activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: null };
    assert.deepEqual(dests.get('198.18.0.1'), { ...base, address: '198.18.0.1', forwarding: 'route' });
    assert.deepEqual(dests.get('2.2.2.2'), { ...base, address: '2.2.2.2', forwarding: 'tunnel', weight: 2,
      upperThreshold: 10, lowerThreshold: 5, tunnel: { type: 'gue', port: 6080, checksum: 'checksum' } });
    assert.deepEqual(dests.get('2.2.2.3'), { ...base, address: '2.2.2.3', forwarding: 'tunnel',
      tunnel: { type: 'gue', port: 6081, checksum: 'remote' } });
    assert.deepEqual(dests.get('2.2.2.4'), { ...base, address: '2.2.2.4', forwarding: 'tunnel', weight: 0,
      tunnel: { type: 'gre', checksum: 'checksum' } });
    assert.deepEqual(dests.get('2.2.2.5'), { ...base, address: '2.2.2.5', forwarding: 'tunnel',
      tunnel: { type: 'gre', checksum: 'none' } });
    assert.deepEqual(dests.get('2.2.2.6'), { ...base, address: '2.2.2.6', port: 8080, forwarding: 'masq', weight: 3 });
    assert.deepEqual(dests.get('2001:db8::5'), { ...base, address: '2001:db8::5', family: 'ipv6', forwarding: 'tunnel',
      tunnel: { type: 'ipip', checksum: 'none' } });
    assert.equal(s81.destinations.length, 7);

    const udp = find((s) => s.protocol === 'udp');
    assert.deepEqual([udp.persistence, udp.persistenceEngine, udp.onePacket, udp.schedulerFlags],
      [{ timeout: 300, netmask: 32 }, 'sip', true, noFlags]);

    const v6 = find((s) => s.address === '2001:db8::1');
    assert.deepEqual([v6.family, v6.scheduler, v6.persistence, v6.schedulerFlags],
      ['ipv6', 'mh', { timeout: 10, netmask: 48 }, { fallback: true, port: false, flag3: false }]);
    assert.deepEqual(v6.destinations.map((d) => [d.address, d.family, d.port, d.forwarding, d.weight]), [['2001:db8::20', 'ipv6', 80, 'masq', 4]]);

    const mark4 = find((s) => s.fwmark === 1 && s.family === 'ipv4');
    assert.deepEqual([mark4.scheduler, mark4.schedulerFlags, mark4.address, mark4.protocol], ['rr', { fallback: false, port: false, flag3: true }, undefined, undefined]);
    const mark6 = find((s) => s.fwmark === 1 && s.family === 'ipv6');
    assert.deepEqual([mark6.scheduler, mark6.address], ['lc', undefined]);

    const sctp = find((s) => s.protocol === 'sctp');
    assert.deepEqual([sctp.address, sctp.port, sctp.scheduler], ['1.1.1.2', 9, 'wrr']);
    assert.equal(services.length, 7);

    // And the library's rendering of it is ipvsadm's, byte for byte.
    assert.equal(ipvs.formatIpvsadmList(services, await handle.info()), ipvsadm('-Ln'));
  });

  it("listings and rules in ipvsadm's order, quirks included: its comparators wrap at 2^31 and glibc's merge sort decides", async () => {
    // ipvsadm compares addresses as `int r = a - b`: 192.168.0.1 sorts before
    // 10.0.0.1, and addresses exactly 2^31 apart (12.15.0.1, 140.15.0.1) each
    // sort before the other, so the order depends on the kernel's listing
    // order and on glibc's algorithm. Several insertion orders, both families,
    // an IPv6 tunnel destination under an IPv4 service, fwmarks 2^31 apart.
    const v4 = ['10.0.0.1', '192.168.0.1', '140.15.0.1', '12.15.0.1', '200.1.1.1', '72.1.1.1', '1.2.3.4', '129.2.3.4', '255.0.0.1', '127.0.0.2'];
    const v6 = ['2001:db8::1', 'a001:db8::1', '2001:db8::2', 'efff::1', '6fff::1', '100::1'];
    let seed = 7;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const shuffled = <T>(xs: readonly T[]) => {
      const a = [...xs];
      for (let i = a.length - 1; i > 0; i--) {
        const j = next(i + 1);
        [a[i], a[j]] = [a[j], a[i]];
      }
      return a;
    };
    for (let round = 0; round < 3; round++) {
      await handle.apply([], { prune: true });
      for (const address of shuffled(v4)) {
        const key = { protocol: next(2) ? 'tcp' : 'udp', address, port: 80 } as const;
        await handle.addService({ ...key, scheduler: 'rr' });
        for (const d of shuffled(v4).slice(0, 3 + next(7))) await handle.addDestination(key, { address: d, port: 80 + next(2) * 0x8000, forwarding: 'masq' });
        if (next(2)) await handle.addDestination(key, { address: v6[next(v6.length)], forwarding: 'tunnel' });
      }
      for (const address of shuffled(v6)) {
        const key = { protocol: 'tcp', address, port: 443 } as const;
        await handle.addService({ ...key, scheduler: 'wlc' });
        for (const d of shuffled(v6).slice(0, 2 + next(4))) await handle.addDestination(key, { address: d, forwarding: 'masq' });
      }
      for (const fwmark of shuffled([1, 0x80000001, 5, 0x80000005, 0xffffffff])) await handle.addService({ fwmark, scheduler: 'rr' });
      const services = await handle.list();
      assert.equal(ipvs.formatIpvsadmList(services, await handle.info()), ipvsadm('-Ln'), `round ${round}`);
      // ipvsadm -S writes marks above 2^31 - 1 with %d, negative, and its -R
      // refuses them: formatRules writes them as they are, parseRules reads both.
      const saved = ipvsadm('-Sn');
      assert.match(saved, /^-A -f -1 -s rr$/m);
      assert.equal(formatRules(services), saved.replace(/-f (-\d+)/g, (_, mark: string) => `-f ${Number(mark) + 2 ** 32}`), `round ${round}`);
      assert.deepEqual(
        rulesToTable(parseRules(saved)).flatMap((s) => (s.fwmark === undefined ? [] : [s.fwmark])).sort((a, b) => a - b),
        [1, 5, 0x80000001, 0x80000005, 0xffffffff],
      );
    }
  });

  it("streamed listings: batches of services joined in ipvsadm's order, byte for byte, for every listing format", async () => {
    // 64 services read 7 at a time: ipvsadm's order (a sort over every
    // service, quirks included) must come out whole across batches.
    const rules: string[] = [];
    for (let i = 0; i < 60; i++) {
      // Addresses 2^31 apart and both sides of it, in an order the kernel's hash scatters.
      const address = `${[10, 192, 12, 140, 72, 200][i % 6]}.${i}.0.${1 + (i % 3)}`;
      const option = i % 4 === 3 ? '-u' : '-t';
      rules.push(`-A ${option} ${address}:${80 + (i % 2)} -s ${i % 5 ? 'rr' : 'wlc'}${i % 7 ? '' : ' -p 60'}`);
      for (let j = 0; j < i % 4; j++) {
        const target = `${j % 2 ? 198 : 140}.${j}.${i}.${7 - j}:${80 + (j % 2) * 0x8000}`;
        rules.push(`-a ${option} ${address}:${80 + (i % 2)} -r ${target} -m -w ${j} -x ${10 + j} -y ${j}`);
      }
    }
    rules.push('-A -t [2001:db8::9]:443 -s rr', '-a -t [2001:db8::9]:443 -r [2001:db8::20]:443 -m', '-A -f 1 -s rr', '-A -f 2147483653 -s rr', '-A -f 7 -6 -s lc');
    execFileSync('ipvsadm', ['-R'], { input: rules.join('\n') + '\n' });

    const printed = async (print: (ctx: Context) => Promise<void>) => {
      let out = '';
      const ctx: Context = { io: { out: (t) => void (out += t), err: () => undefined, stdin: async () => '', readFile: async () => '' }, open: async () => handle, program: 'ipvs' };
      await print(ctx);
      return out;
    };
    const plain: ListFormat = { numeric: true, stats: false, rate: false, thresholds: false, persistentConn: false, tunInfo: false, noSort: false, exact: false };
    for (const [extra, format] of [
      [[], {}],
      [['--stats', '--exact'], { stats: true, exact: true }],
      [['--rate'], { rate: true }],
      [['--thresholds'], { thresholds: true }],
      [['--persistent-conn'], { persistentConn: true }],
      [['--tun-info'], { tunInfo: true }],
      [['--nosort'], { noSort: true }],
    ] as Array<[string[], Partial<ListFormat>]>) {
      const got = await printed((ctx) => printListing(ctx, handle, { show: 'services', format: { ...plain, ...format }, json: false, batchSize: 7 }));
      assert.equal(got, ipvsadm('-Ln', ...extra), `-Ln ${extra.join(' ')}`);
    }
    const saved = ipvsadm('-Sn').replace(/-f (-\d+)/g, (_, mark: string) => `-f ${Number(mark) + 2 ** 32}`);
    assert.equal(await printed((ctx) => printRules(ctx, handle, { thresholds: false, numeric: true, json: false, batchSize: 7 })), saved);
    // The JSON document, streamed, is list()'s (stats left out: they are read at another time).
    const document = JSON.parse(await printed((ctx) => printRules(ctx, handle, { thresholds: false, numeric: true, json: true, batchSize: 7 }))) as ipvs.Service[];
    const strip = (services: ipvs.Service[]) => JSON.parse(JSON.stringify(services, (k, v: unknown) => (k === 'stats' ? null : ipvs.jsonReplacer(k, v)))) as unknown;
    assert.deepEqual(strip(document), strip(await handle.list()));
    assert.equal(document.length, 64);
  });

  it(`ipvs -Ln and -Sn of more services than one batch (${LISTING_BATCH}) are ipvsadm's`, async () => {
    const rules = ['-A -t 192.168.0.1:80 -s rr'];
    for (let i = 0; i < LISTING_BATCH + 40; i++) rules.push(`-A -${i % 2 ? 't' : 'u'} ${i % 3 ? 10 : 140}.${i >> 8}.${i & 255}.1:80 -s rr`, `-a -${i % 2 ? 't' : 'u'} ${i % 3 ? 10 : 140}.${i >> 8}.${i & 255}.1:80 -r 198.18.${i & 255}.2:80 -m`);
    execFileSync('ipvsadm', ['-R'], { input: rules.join('\n') + '\n' });
    const run = async (args: string[]) => {
      let out = '';
      const status = await main(args, { out: (t) => void (out += t), err: () => undefined, stdin: async () => '', readFile: async () => '' });
      assert.equal(status, 0);
      return out;
    };
    assert.equal(await run(['-Ln']), ipvsadm('-Ln'));
    assert.equal(await run(['-Sn']), ipvsadm('-Sn'));
  });

  it('every scheduler the kernel has', async () => {
    const twos = handle.features.schedulerHint('twos') === '';
    for (const scheduler of Object.values(ipvs.Scheduler)) {
      const key = { protocol: 'tcp', address: '1.1.1.9', port: 1000 + Object.values(ipvs.Scheduler).indexOf(scheduler) } as const;
      if (scheduler === 'twos' && !twos) {
        await assert.rejects(handle.addService({ ...key, scheduler }), (e: ipvs.IpvsError) => {
          assert.equal(e.code, 'ENOENT');
          assert.match(e.message, /twos needs Linux 6\.2 or later, this kernel is /);
          return true;
        });
        continue;
      }
      await handle.addService({ ...key, scheduler });
      assert.equal((await handle.getService(key)).scheduler, scheduler);
      assert.ok(savedRules().includes(`-A -t 1.1.1.9:${key.port} -s ${scheduler}`), scheduler);
    }
  });

  it('edits keep what they do not change, for every optional field', async () => {
    await handle.addService({ ...t81, scheduler: 'rr', persistence: { timeout: 60, netmask: 24 }, persistenceEngine: 'sip' });
    await handle.addDestination(t81, { address: '2.2.2.2', forwarding: 'tunnel', weight: 2, upperThreshold: 9, lowerThreshold: 4,
      tunnel: { type: 'gue', port: 6080, checksum: 'remote' } });
    await handle.editDestination(t81, { address: '2.2.2.2', weight: 7 });
    await handle.editService(t81, { scheduler: 'wrr' });
    assert.deepEqual(savedRules(), [
      '-A -t 1.1.1.1:81 -s wrr -p 60 -M 255.255.255.0 --pe sip',
      '-a -t 1.1.1.1:81 -r 2.2.2.2:81 -i -w 7 --tun-type gue --tun-port 6080 --tun-remcsum',
    ]);
    assert.match(ipvsadm('-Ln', '--thresholds'), /-> 2\.2\.2\.2:81\s+9\s+4\s/);
    // Turning persistence off is an edit too.
    await handle.editService(t81, { persistence: null, persistenceEngine: null });
    assert.equal(savedRules()[0], '-A -t 1.1.1.1:81 -s wrr');
  });
});
