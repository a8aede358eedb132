// The raw addon's listing cursor, fingerprints and verify() against a real
// IPVS, checked with ipvsadm: a cursor's batches are list(); the fingerprint
// lib/fingerprint.ts computes from the request shapes is the one the addon
// computes from the kernel's dump; verify() reports exactly the services an
// ipvsadm change touched.
import assert from 'assert/strict';
import * as fs from 'fs';
import { addon } from '../../lib/addon';
import type { RawDestinationEntry, RawFingerprints, RawHandle, RawListing, RawServiceEntry } from '../../lib/addon';
import { serviceId, toDestination, toService } from '../../lib/convert';
import { fingerprint } from '../../lib/fingerprint';
import { destinationSettings, serviceSpecOf } from '../../lib/listing';
import { assertSandbox, ipvsadm, resetTable, savedRules, sh } from './helpers';

// Every kind of service and destination the fingerprint covers: tcp, udp,
// fwmark (IPv4 and IPv6 on one mark), IPv6; masq, route, tunnel (ipip, gue
// with port and checksum flags); thresholds; persistence with a netmask and
// an engine; scheduler flags; a service without destinations.
const TABLE = [
  '-A -t 198.18.100.1:80 -s rr',
  '-a -t 198.18.100.1:80 -r 198.18.1.1:8080 -m -w 3',
  '-a -t 198.18.100.1:80 -r 198.18.1.2:80 -g -w 1 -x 100 -y 10',
  '-a -t 198.18.100.1:80 -r 198.18.1.3:80 -i -w 2',
  '-A -t 198.18.100.2:443 -s wlc',
  '-a -t 198.18.100.2:443 -r 198.18.1.4:443 -i -w 5 --tun-type gue --tun-port 6080 --tun-csum',
  '-a -t 198.18.100.2:443 -r 198.18.1.5:443 -i -w 5 --tun-type gue --tun-port 6081 --tun-remcsum',
  '-a -t 198.18.100.2:443 -r [2001:db8::7]:443 -i -w 1 --tun-type ipip',
  '-A -u 198.18.100.3:5060 -s rr -p 360 -M 255.255.255.0 --pe sip -o',
  '-a -u 198.18.100.3:5060 -r 198.18.1.6:5060 -m -w 1',
  '-A -t 198.18.100.4:22 -s sh -b sh-fallback,sh-port -p 60',
  '-a -t 198.18.100.4:22 -r 198.18.1.7:22 -g -w 0',
  '-A -f 5 -s rr',
  '-a -f 5 -r 198.18.1.8:0 -g -w 1',
  '-A -f 5 -6 -s mh -b mh-port',
  '-a -f 5 -6 -r [2001:db8::5]:0 -g -w 1',
  '-A -t [2001:db8::1]:80 -s wlc -p 10 -M 48',
  '-a -t [2001:db8::1]:80 -r [2001:db8::20]:8080 -m -w 4',
  '-a -t [2001:db8::1]:80 -r [2001:db8::21]:80 -g -w 4',
  '-A -t 198.18.100.5:80 -s rr',
];

function load(lines: string[]): void {
  const file = `/tmp/ipvs-native-stream-${process.pid}.rules`;
  fs.writeFileSync(file, lines.join('\n') + '\n');
  try {
    sh(`ipvsadm -R < ${file}`);
  } finally {
    fs.unlinkSync(file);
  }
}

function entries<T>(listing: RawListing): T[] {
  return listing.chunks.flatMap((chunk) => JSON.parse(chunk.toString(listing.ascii ? 'latin1' : 'utf8')) as T[]);
}

async function listed(handle: RawHandle): Promise<RawServiceEntry[]> {
  return entries<RawServiceEntry>(await handle.list({ destinations: true, stats: false }));
}

/** The service as the library's requests carry it: the listed entry made a spec, then checked as apply() checks one. */
function requestShapes(s: RawServiceEntry) {
  const service = toService(serviceSpecOf(s));
  const destinations = (s.destinations ?? []).map((d: RawDestinationEntry) => toDestination(destinationSettings(d), service).raw);
  return { id: service.id, service: service.raw, destinations };
}

/** Expected fingerprints of a listing, computed in JS. */
function expectedOf(services: RawServiceEntry[]): RawFingerprints {
  const expected = new addon.Fingerprints();
  for (const s of services) {
    const r = requestShapes(s);
    expected.set(r.id, fingerprint(r.service, r.destinations));
  }
  return expected;
}

const idOf = (s: RawServiceEntry) => serviceId(s);

describe('native: listing cursor, fingerprints and verify()', function () {
  let handle: RawHandle;
  before(async function () {
    assertSandbox();
    handle = new addon.Handle();
    await handle.open();
  });
  after(() => handle?.close());
  beforeEach(() => {
    resetTable();
    load(TABLE);
  });

  it('the table is what the rules say (ipvsadm -Sn)', () => {
    // -R applies each line; a line the kernel refused would be missing here.
    assert.equal(savedRules().length, TABLE.length);
  });

  it("a cursor's batches, concatenated, are list()'s entries (batchSize 1, 3, larger than the table)", async () => {
    const all = await listed(handle);
    assert.equal(all.length, savedRules().filter((l) => l.startsWith('-A')).length);
    for (const batchSize of [1, 3, 1000]) {
      const cursor = handle.listCursor({ destinations: true, stats: false, batchSize });
      const got: RawServiceEntry[] = [];
      const sizes: number[] = [];
      for (let batch = await cursor.next(); batch !== null; batch = await cursor.next()) {
        assert.equal(batch.stats, null);
        const part = entries<RawServiceEntry>(batch);
        sizes.push(part.length);
        got.push(...part);
      }
      assert.deepEqual(got, all, `batchSize ${batchSize}`);
      // Full batches but the last.
      for (let i = 0; i < sizes.length; i++)
        assert.ok(i === sizes.length - 1 ? sizes[i] >= 1 && sizes[i] <= batchSize : sizes[i] === batchSize, `batchSize ${batchSize}: ${sizes}`);
      assert.equal(await cursor.next(), null, 'still null after the end');
    }
  });

  it('a cursor with stats gives each batch its own counters; without destinations, the services only', async () => {
    const cursor = handle.listCursor({ destinations: true, stats: true, batchSize: 4 });
    let services = 0;
    for (let batch = await cursor.next(); batch !== null; batch = await cursor.next()) {
      const part = entries<RawServiceEntry>(batch);
      const indices = part.flatMap((s) => [s.stats, ...(s.destinations ?? []).map((d) => d.stats)]);
      assert.deepEqual(indices, indices.map((_, i) => i), 'stats indices count from 0 in each batch');
      assert.equal(batch.stats!.length, 10 * indices.length);
      services += part.length;
    }
    assert.equal(services, (await listed(handle)).length);

    const plain = entries<RawServiceEntry>(await handle.list({ destinations: false, stats: false }));
    const keys = handle.listCursor({ destinations: false, stats: false, batchSize: 2 });
    const got: RawServiceEntry[] = [];
    for (let batch = await keys.next(); batch !== null; batch = await keys.next()) got.push(...entries<RawServiceEntry>(batch));
    assert.deepEqual(got, plain);
    assert.ok(got.every((s) => s.destinations === undefined));
  });

  it('skips a service deleted after the first batch; close() ends it early', async () => {
    const all = await listed(handle);
    const cursor = handle.listCursor({ destinations: true, stats: false, batchSize: 1 });
    const first = entries<RawServiceEntry>((await cursor.next())!);
    assert.deepEqual(first, [all[0]]);
    const gone = all[3];
    ipvsadm('-D', ...(gone.fwmark ? ['-f', String(gone.fwmark), ...(gone.family === 10 ? ['-6'] : [])] : [gone.protocol === 17 ? '-u' : '-t', gone.family === 10 ? `[${gone.address}]:${gone.port}` : `${gone.address}:${gone.port}`]));
    const rest: RawServiceEntry[] = [];
    for (let batch = await cursor.next(); batch !== null; batch = await cursor.next()) rest.push(...entries<RawServiceEntry>(batch));
    assert.deepEqual(rest, all.slice(1).filter((s) => s !== gone));

    const early = handle.listCursor({ destinations: true, stats: false, batchSize: 2 });
    assert.notEqual(await early.next(), null);
    await early.close();
    assert.equal(await early.next(), null);
  });

  it('the JS fingerprint of every listed service equals the native one', async () => {
    const all = await listed(handle);
    const result = await handle.verify(new addon.Fingerprints(), { fingerprints: true });
    const native = result.fingerprints!;
    assert.equal(Object.keys(native).length, all.length);
    for (const s of all) {
      const r = requestShapes(s);
      assert.equal(r.id, idOf(s), 'serviceId of the request shape is the listed one');
      assert.match(native[r.id], /^[0-9a-f]{16}$/);
      assert.equal(fingerprint(r.service, r.destinations), native[r.id], r.id);
      // A listed service entry is a RawService too: a fwmark service's listed
      // protocol and zero address do not count.
      assert.equal(fingerprint(s, r.destinations), native[r.id], `${r.id} from the entry itself`);
    }
    // The value test/unit/fingerprint.test.ts pins for this service.
    assert.equal(native['6 198.18.100.5 80'], '20aa4de4923b54f6');
    // Every service differs from every other (the table has no two alike).
    assert.equal(new Set(Object.values(native)).size, all.length);
    // With an empty expected table, everything is unexpected and nothing differs.
    assert.deepEqual(entries(result.unexpected), all);
    assert.deepEqual(result.differing.chunks, []);
    assert.deepEqual(result.missing, []);
  });

  it('verify() with the table itself expected reports nothing; after ipvsadm changes, exactly those', async () => {
    const all = await listed(handle);
    const expected = expectedOf(all);
    assert.equal(expected.size, all.length);
    const same = await handle.verify(expected);
    assert.deepEqual([same.differing.chunks, same.unexpected.chunks, same.missing], [[], [], []]);

    ipvsadm('-e', '-t', '198.18.100.1:80', '-r', '198.18.1.1:8080', '-m', '-w', '7');
    ipvsadm('-d', '-t', '198.18.100.2:443', '-r', '198.18.1.5:443');
    ipvsadm('-A', '-t', '198.18.100.9:80', '-s', 'rr');
    ipvsadm('-a', '-t', '198.18.100.9:80', '-r', '198.18.1.9:80', '-g');
    ipvsadm('-D', '-t', '[2001:db8::1]:80');
    const after = await handle.verify(expected);
    const now = await listed(handle);
    const byId = new Map(now.map((s) => [idOf(s), s]));
    const differing = entries<RawServiceEntry>(after.differing);
    assert.deepEqual(differing.map(idOf).sort(), ['6 198.18.100.1 80', '6 198.18.100.2 443']);
    // What they hold is the kernel's state now, as list() gives it.
    for (const s of differing) assert.deepEqual(s, byId.get(idOf(s)));
    assert.equal(differing.find((s) => s.port === 80)!.destinations!.find((d) => d.port === 8080)!.weight, 7);
    assert.ok(!differing.find((s) => s.port === 443)!.destinations!.some((d) => d.address === '198.18.1.5'));
    assert.deepEqual(entries(after.unexpected), [byId.get('6 198.18.100.9 80')]);
    assert.deepEqual(after.missing, ['6 2001:db8::1 80']);
    assert.equal(after.differing.stats, null);
    assert.equal(after.unexpected.stats, null);

    // Updating the expected table to the kernel's state settles it.
    for (const s of differing) {
      const r = requestShapes(s);
      expected.set(r.id, fingerprint(r.service, r.destinations));
    }
    expected.set('6 198.18.100.9 80', fingerprint(requestShapes(byId.get('6 198.18.100.9 80')!).service, requestShapes(byId.get('6 198.18.100.9 80')!).destinations));
    assert.equal(expected.delete('6 2001:db8::1 80'), true);
    const settled = await handle.verify(expected);
    assert.deepEqual([settled.differing.chunks, settled.unexpected.chunks, settled.missing], [[], [], []]);
  });

  it('verify() compares with the table as it was when called (changes made meanwhile wait for the next)', async () => {
    const all = await listed(handle);
    const expected = expectedOf(all);
    const running = handle.verify(expected);
    const dropped = idOf(all[0]);
    expected.delete(dropped);
    expected.set('6 198.18.100.77 80', '0123456789abcdef');
    expected.set(idOf(all[1]), 'ffffffffffffffff');
    const first = await running;
    assert.deepEqual([first.differing.chunks, first.unexpected.chunks, first.missing], [[], [], []]);
    const second = await handle.verify(expected);
    assert.deepEqual(entries<RawServiceEntry>(second.unexpected).map(idOf), [dropped]);
    assert.deepEqual(entries<RawServiceEntry>(second.differing).map(idOf), [idOf(all[1])]);
    assert.deepEqual(second.missing, ['6 198.18.100.77 80']);
    expected.clear();
    assert.equal(expected.size, 0);
  });

  it('refuses bad arguments with TypeError', () => {
    for (const batchSize of [0, 65537, 1.5, '3', undefined, NaN])
      assert.throws(() => handle.listCursor({ destinations: true, stats: false, batchSize: batchSize as number }), TypeError);
    assert.throws(() => handle.verify({} as RawFingerprints), TypeError);
    const expected = new addon.Fingerprints();
    assert.throws(() => expected.set('6 1.1.1.1 80', 'xyz'), TypeError);
    assert.throws(() => expected.set('', '0123456789abcdef'), TypeError);
  });
});
