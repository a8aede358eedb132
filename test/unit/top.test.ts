// ipvs top's pure parts: rates from two samples, compact numbers, columns
// fitted to a width (the sorted one kept), sorting, the frame's size, and
// its command line. The kernel suite drives the real thing in tmux.
import assert from 'assert/strict';
import type { Service } from '../../lib';
import { compactNumber, RateHistory, rateBetween, ratesOf, type Counters } from '../../lib/cli/rates';
import { topOptions } from '../../lib/cli/top';
import { addCounters, cut, fitColumns, groupsOf, renderFrame, sampleOf, setRates, sortGroups } from '../../lib/cli/topview';
import { CliError } from '../../lib/cli/context';

const stats = (n: bigint) => ({ conns: n, inpkts: n * 10n, outpkts: n * 9n, inbytes: n * 1000n, outbytes: n * 900n, cps: 0n, inpps: 0n, outpps: 0n, inbps: 0n, outbps: 0n });

function service(address: string, n: bigint, destinations: Array<[string, bigint, number]>): Service {
  return {
    family: address.includes(':') ? 'ipv6' : 'ipv4', protocol: 'tcp', address, port: 80, scheduler: 'rr', persistence: null, persistenceEngine: null,
    onePacket: false, schedulerFlags: { fallback: false, port: false, flag3: false } as Service['schedulerFlags'], stats: stats(n),
    destinations: destinations.map(([a, dn, active]) => ({
      address: a, family: 'ipv4', port: 80, weight: 1, forwarding: 'masq', upperThreshold: 0, lowerThreshold: 0, tunnel: null,
      activeConnections: active, inactiveConnections: 0, persistentConnections: 0, stats: stats(dn),
    })),
  } as Service;
}

describe('unit: ipvs top', () => {
  it('computes rates from the change of counters over the time between reads', () => {
    const r = rateBetween(stats(10n), stats(30n), 2)!;
    assert.deepEqual(r, { cps: 10, inpps: 100, outpps: 90, inbps: 10000, outbps: 9000 });
    assert.equal(rateBetween(undefined, stats(1n), 2), undefined, 'no earlier read: no rate');
    assert.equal(rateBetween(stats(30n), stats(10n), 2), undefined, 'zeroed counters: no rate');
    assert.equal(rateBetween(stats(1n), stats(2n), 0), undefined);
    // 64-bit counters near the top still subtract exactly
    const big = { ...stats(0n), inbytes: 2n ** 64n - 1n };
    assert.equal(rateBetween({ ...big, inbytes: 2n ** 64n - 2001n }, big, 2)!.inbps, 1000);
    const a = sampleOf([service('198.18.0.1', 1n, [['198.19.0.1', 1n, 0]])], 1000);
    const b = sampleOf([service('198.18.0.1', 5n, [['198.19.0.1', 3n, 0]]), service('198.18.0.2', 5n, [])], 3000);
    const rates = ratesOf(a, b);
    assert.equal(rates.get('tcp/198.18.0.1:80')!.cps, 2);
    assert.equal(rates.get('tcp/198.18.0.1:80 198.19.0.1:80')!.inpps, 10);
    assert.equal(rates.get('tcp/198.18.0.2:80'), undefined, 'a new service has no rate yet');
  });

  it('takes rates over 2 s at least, whatever the refresh interval (the kernel folds counters every 2 s)', () => {
    const history = new RateHistory();
    const key = 'tcp/198.18.0.1:80';
    // 1 s refreshes; the counters move only at each fold (every other read)
    const reads = [0n, 100n, 100n, 300n, 300n, 500n].map((n, i) => sampleOf([service('198.18.0.1', n, [])], i * 1000));
    const cps = reads.map((r) => history.add(r).get(key)?.cps);
    assert.deepEqual(cps, [undefined, 100, 50, 100, 100, 100]);
  });

  it('writes numbers in at most 5 characters', () => {
    const cases: Array<[number, string]> = [[0, '0'], [0.5, '0.5'], [7, '7'], [999, '999'], [999.6, '1.0K'], [1500, '1.5K'], [12_345, '12K'], [123_456, '123K'], [1_234_567, '1.2M'], [5e18, '5.0E'], [Infinity, '-']];
    for (const [n, text] of cases) assert.equal(compactNumber(n), text, String(n));
    for (let n = 1; n < 1e20; n *= 3.7) assert.ok(compactNumber(n).length <= 5, `${n} -> ${compactNumber(n)}`);
  });

  it('fits columns to the width, dropping the least useful first but never the sorted one', () => {
    const ids = (w: number, sort: Parameters<typeof fitColumns>[1]) => fitColumns(w, sort, 22).map((c) => c.id);
    assert.deepEqual(ids(120, 'packets'), ['name', 'forwarding', 'weight', 'active', 'inactive', 'cps', 'inpps', 'outpps', 'inbps', 'outbps']);
    assert.deepEqual(ids(80, 'packets'), ['name', 'active', 'inactive', 'cps', 'inpps', 'outpps', 'inbps', 'outbps']);
    assert.ok(ids(80, 'weight').includes('weight'), 'the sorted column stays');
    assert.deepEqual(ids(40, 'packets'), ['name', 'active', 'inpps', 'outpps'], 'both packet columns show the sort');
    assert.deepEqual(ids(40, 'active'), ['name', 'active', 'inpps']);
    for (const w of [60, 80, 100, 200]) {
      const columns = fitColumns(w, 'bytes', 30);
      assert.ok(columns.reduce((n, c) => n + c.width + 1, -1) <= w, `width ${w}`);
    }
    assert.equal(cut('TCP  198.18.0.1:80 rr', 10), 'TCP  198.~');
  });

  it('sorts services, then each service\'s destinations, by the key', () => {
    const services = [
      service('198.18.0.10', 1n, [['198.19.0.2', 1n, 5], ['198.19.0.1', 1n, 1]]),
      service('198.18.0.9', 1n, [['198.19.0.3', 1n, 0]]),
    ];
    const before = sampleOf(services, 0);
    services[0].stats = stats(100n);
    const groups = groupsOf(services, ratesOf(before, sampleOf(services, 1000)));
    const order = (g: ReturnType<typeof sortGroups>) => g.flatMap((x) => [x.service.name.trim(), ...x.destinations.map((d) => d.name.trim())]);
    assert.deepEqual(order(sortGroups(groups, 'packets')), ['TCP  198.18.0.10:80 rr', '-> 198.19.0.1:80', '-> 198.19.0.2:80', 'TCP  198.18.0.9:80 rr', '-> 198.19.0.3:80']);
    // by name: address order (9 before 10), not text order
    assert.deepEqual(order(sortGroups(groups, 'name')), ['TCP  198.18.0.9:80 rr', '-> 198.19.0.3:80', 'TCP  198.18.0.10:80 rr', '-> 198.19.0.1:80', '-> 198.19.0.2:80']);
    assert.deepEqual(order(sortGroups(groups, 'active')).slice(0, 3), ['TCP  198.18.0.10:80 rr', '-> 198.19.0.2:80', '-> 198.19.0.1:80']);
    assert.deepEqual(order(sortGroups(groups, 'active', true))[0], 'TCP  198.18.0.9:80 rr');
  });

  it('a table read a batch at a time makes the rows and rates of the table read at once', () => {
    const services = [
      service('198.18.0.10', 1n, [['198.19.0.2', 1n, 5], ['198.19.0.1', 1n, 1]]),
      service('198.18.0.9', 4n, [['198.19.0.3', 2n, 0]]),
      service('198.18.0.8', 2n, []),
    ];
    const before = sampleOf(services, 0);
    const later = services.map((s, i) => ({ ...s, stats: stats(BigInt(10 * (i + 1))), destinations: s.destinations.map((d) => ({ ...d, stats: stats(7n) })) }));
    const whole = groupsOf(later, ratesOf(before, sampleOf(later, 2000)));
    const counters = new Map<string, Counters>();
    const rows = [];
    for (const batch of [later.slice(0, 1), later.slice(1)]) {
      addCounters(counters, batch);
      rows.push(...groupsOf(batch, new Map()));
    }
    assert.equal(rows[0].service.rates, undefined);
    setRates(rows, ratesOf(before, { at: 2000, counters }));
    assert.deepEqual(rows, whole);
    assert.equal(rows[1].destinations[0].rates?.inpps, 25);
  });

  it('renders a frame no wider and no taller than the terminal', () => {
    const services = Array.from({ length: 30 }, (_, i) => service(`2001:db8:ffff:ffff:ffff:ffff:ffff:${i + 1}`, 1n, [['198.19.0.1', 1n, 0]]));
    const groups = groupsOf(services, ratesOf(undefined, sampleOf(services, 0)));
    for (const [width, height] of [[80, 24], [40, 10], [200, 60]]) {
      const frame = renderFrame(groups, { width, height, sort: 'packets', reverse: false, interval: 2, time: new Date(0), error: undefined });
      assert.ok(frame.lines.length <= height, `${frame.lines.length} lines in ${height}`);
      for (const l of frame.lines) assert.ok(l.length <= width, `${l.length} > ${width}: ${l}`);
      assert.match(frame.lines[frame.lines.length - 1], /^ {2}\.\.\. \d+ more rows/);
      const h = frame.highlight!;
      assert.equal(frame.lines[h.line].slice(h.start, h.end), 'PKTIN/S');
    }
  });

  it('reads its options, refusing bad ones by name', () => {
    assert.deepEqual(topOptions([]), { interval: 2, sort: 'packets', reverse: false, count: undefined });
    assert.deepEqual(topOptions(['--interval', '0.5', '--sort=bytes', '--reverse', '--count', '3']), { interval: 0.5, sort: 'bytes', reverse: true, count: 3 });
    assert.equal(topOptions(['--help']), 'help');
    for (const [args, message] of [
      [['--interval', '0'], /--interval needs seconds from 0\.1 to 3600, not '0'/],
      [['--interval', 'fast'], /not 'fast'/],
      [['--sort', 'speed'], /--sort needs one of name, active, inactive, conns, packets, bytes, weight, not 'speed'/],
      [['--count', '0'], /--count needs a whole number above 0/],
      [['extra'], /unexpected argument extra/],
    ] as Array<[string[], RegExp]>) {
      assert.throws(() => topOptions(args), (e: Error) => e instanceof CliError && message.test(e.message), args.join(' '));
    }
  });
});
