// The raw addon against a real IPVS, checked with ipvsadm: batches and their
// per-request outcomes, the JSON listing, the socket after trouble, open() and
// close() in every state. IPVS_NATIVE_BENCH=1 adds the 20,000 x 10 benchmark
// (run it with --mem 4096).
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { monitorEventLoopDelay } from 'perf_hooks';
import { addon } from '../../lib/addon';
import { RequestQueue, SLICE } from '../../lib/queue';
import type { RawFailure, RawHandle, RawListing, RawRequest, RawServiceKey } from '../../lib/addon';
import { assertSandbox, resetTable, savedRules, sh } from './helpers';

const C = addon.constants;
const AF_INET = 2;
const AF_INET6 = 10;
const TCP = 6;
const EEXIST = 17;
const ESRCH = 3;
const EINVAL = 22;
const EMSGSIZE = 90;
const EBADMSG = 74;
const ENOBUFS = 105;
const FORWARDING_FLAG = ['-m', '', '-i', '-g'];

function service(address: string, port: number, scheduler = 'rr', family = AF_INET) {
  return { family, protocol: TCP, address, port, fwmark: 0, scheduler, flags: 0, timeout: 0, netmask: family === AF_INET ? 0xffffffff : 128, persistenceEngine: '' };
}
function destination(address: string, port: number, weight = 1, forwarding = 0, family = AF_INET) {
  return { family, address, port, forwarding, weight, upperThreshold: 0, lowerThreshold: 0 };
}
const addService = (s: ReturnType<typeof service>): RawRequest => ({ command: C.IPVS_CMD_NEW_SERVICE, service: s });
const addDestination = (s: RawServiceKey, d: ReturnType<typeof destination>): RawRequest => ({ command: C.IPVS_CMD_NEW_DEST, service: s, destination: d });

async function run(handle: RawHandle, requests: RawRequest[]): Promise<RawFailure[]> {
  return handle.executeJson(JSON.stringify(requests));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function parse(listing: RawListing): any[] {
  return listing.chunks.flatMap((chunk) => JSON.parse(chunk.toString(listing.ascii ? 'latin1' : 'utf8')));
}

function hostPort(family: number, address: string, port: number): string {
  return family === AF_INET6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A listing as `ipvsadm -Sn` prints it, for the plain services these tests make. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function asRules(services: any[]): string[] {
  const lines: string[] = [];
  for (const s of services) {
    const id = s.fwmark ? `-f ${s.fwmark}` : `-t ${hostPort(s.family, s.address, s.port)}`;
    lines.push(`-A ${id}${s.fwmark && s.family === AF_INET6 ? ' -6' : ''} -s ${s.scheduler}`);
    for (const d of s.destinations ?? []) {
      let tunnel = '';
      if (d.forwarding === 2) {
        tunnel = ` --tun-type ${['ipip', 'gue', 'gre'][d.tunnel.type]}`;
        if (d.tunnel.type === 1) tunnel += ` --tun-port ${d.tunnel.port}`;
        if (d.tunnel.type !== 0) tunnel += ` --tun-${['nocsum', 'csum', 'remcsum'][d.tunnel.flags]}`;
      }
      lines.push(`-a ${id}${s.fwmark && s.family === AF_INET6 ? ' -6' : ''} -r ${hostPort(d.family, d.address, d.port)} ${FORWARDING_FLAG[d.forwarding]} -w ${d.weight}${tunnel}`);
    }
  }
  return lines.sort();
}

/** Services 10.a.b.c:80 (and their destinations) loaded by ipvsadm -R, fast. */
function restore(count: number, destinationsEach: number, scheduler: (i: number) => string | null, netns?: string): void {
  const lines: string[] = [];
  for (let i = 0; i < count; ++i) {
    const s = scheduler(i);
    if (s === null) continue;
    const vip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:80`;
    lines.push(`-A -t ${vip} -s ${s}`);
    for (let j = 0; j < destinationsEach; ++j) lines.push(`-a -t ${vip} -r 198.18.${1 + j}.${1 + (i % 250)}:${8000 + (i >> 8)} -m -w 1`);
  }
  const file = `/tmp/ipvs-native-${process.pid}.rules`;
  fs.writeFileSync(file, lines.join('\n') + '\n');
  sh(`${netns ? `ip netns exec ${netns} ` : ''}ipvsadm -R < ${file}`);
  fs.unlinkSync(file);
}
const vipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

describe('native: executeJson() outcomes', function () {
  let handle: RawHandle;
  before(async function () {
    assertSandbox();
    handle = new addon.Handle();
    await handle.open();
  });
  after(() => handle?.close());
  beforeEach(resetTable);

  it('applies every request not listed; refused and invalid ones are listed in index order', async () => {
    const web = service('1.1.1.1', 80);
    const failures = await run(handle, [
      addService(web),
      addService({ ...web, address: 'not-an-address' }),
      addService(web),
      addDestination(web, destination('198.18.0.2', 8080, 3)),
      addService({ ...service('1.1.1.2', 80), scheduler: 'x'.repeat(2000) }),
      addService(service('1.1.1.3', 80, 'wlc')),
      addDestination(service('1.1.1.9', 80), destination('198.18.0.2', 8080)),
    ]);
    assert.deepEqual(
      failures.map((f) => [f.index, f.errno, f.outcome]),
      [[1, EINVAL, 'invalid'], [2, EEXIST, 'refused'], [4, EMSGSIZE, 'invalid'], [6, ESRCH, 'refused']],
    );
    for (const f of failures) {
      if (f.outcome === 'invalid') {
        assert.equal(f.kernelMessage, undefined);
        assert.match(f.message!, f.errno === EINVAL ? /address/ : /does not fit/);
      } else {
        assert.equal(f.message, undefined);
      }
    }
    assert.deepEqual(savedRules().sort(), ['-A -t 1.1.1.1:80 -s rr', '-A -t 1.1.1.3:80 -s wlc', '-a -t 1.1.1.1:80 -r 198.18.0.2:8080 -m -w 3'].sort());
  });

  it('a batch of several send buffers (1,500 requests) reports the failures of each', async () => {
    const requests: RawRequest[] = [];
    for (let i = 0; i < 1500; ++i) requests.push(addService(service(vipOf(i % 1000), 80)));
    const failures = await run(handle, requests);
    assert.deepEqual(failures.map((f) => f.index), requests.map((_, i) => i).filter((i) => i >= 1000));
    assert.ok(failures.every((f) => f.errno === EEXIST && f.outcome === 'refused'));
    assert.equal(savedRules().length, 1000);
  });

  it('daemon and destination fields use the public names', async () => {
    sh('ip link add ipvsnat0 type dummy && ip link set ipvsnat0 multicast on up && ip addr add 198.19.0.1/24 dev ipvsnat0');
    try {
      const failures = await run(handle, [
        { command: C.IPVS_CMD_NEW_DAEMON, daemon: { state: 1, interface: 'ipvsnat0', syncId: 7, maxLength: 1400, group: '224.0.0.81', port: 8850, ttl: 2 } },
      ]);
      assert.deepEqual(failures, []);
      assert.match(sh('ipvsadm -L --daemon'), /master sync daemon \(mcast=ipvsnat0, syncid=7, maxlen=1400, group=224\.0\.0\.81, port=8850, ttl=2\)/);
      assert.deepEqual(await handle.getDaemons(), [{ state: 1, interface: 'ipvsnat0', syncId: 7, maxLength: 1400, group: '224.0.0.81', port: 8850, ttl: 2 }]);
    } finally {
      sh('ipvsadm --stop-daemon master; ip link del ipvsnat0');
    }
  });
});

describe('native: executeJson()', function () {
  let handle: RawHandle;
  before(async function () {
    assertSandbox();
    handle = new addon.Handle();
    await handle.open();
  });
  after(() => handle?.close());
  beforeEach(resetTable);

  const json = (requests: unknown[]) => handle.executeJson(JSON.stringify(requests));
  const outcomes = (failures: RawFailure[]) => failures.map((f) => [f.index, f.errno, f.outcome]);

  /** Adds, edits and deletes of every kind, with refusals and invalid requests among them. */
  function mixed(): RawRequest[] {
    const web = service('1.1.1.1', 80);
    const v6 = service('2001:db8::1', 443, 'wlc', AF_INET6);
    const mark = { ...service('', 0, 'sh'), fwmark: 9, protocol: 0, address: '' };
    const gone = service('1.1.1.2', 80);
    return [
      addService(web), addService(v6), addService(mark), addService(gone),
      addService(web),                                                     // 4: EEXIST
      addService({ ...web, address: '1.1.1.300' }),                        // 5: invalid address
      addDestination(web, destination('198.18.0.2', 8080, 3)),
      addDestination(web, destination('198.18.0.3', 8080, 0, 3)),
      addDestination(v6, destination('2001:db8::2', 443, 1, 0, AF_INET6)),
      addDestination(mark, { ...destination('198.18.0.4', 0, 2, 2), tunnelType: 1, tunnelPort: 6080, tunnelFlags: 1 } as never),
      addDestination(service('1.1.1.9', 80), destination('198.18.0.2', 8080)), // 10: ESRCH
      { command: C.IPVS_CMD_SET_DEST, service: web, destination: destination('198.18.0.2', 8080, 7) },
      { command: C.IPVS_CMD_SET_SERVICE, service: { ...web, scheduler: 'wrr', flags: 1, timeout: 300 } },
      addService({ ...service('1.1.1.3', 80), scheduler: 'x'.repeat(2000) }),  // 13: EMSGSIZE
      null as unknown as RawRequest,                                        // 14: not an object
      { command: C.IPVS_CMD_DEL_DEST, service: web, destination: destination('198.18.0.3', 8080) },
      { command: C.IPVS_CMD_DEL_SERVICE, service: gone, keyOnly: true },
      { command: C.IPVS_CMD_DEL_SERVICE, service: gone, keyOnly: true },    // 17: ESRCH
      addService({ ...service('1.1.1.4', 80), persistenceEngine: 'sip', flags: 1, timeout: 60 }),
    ];
  }
  const MIXED_OUTCOMES = [[4, EEXIST, 'refused'], [5, EINVAL, 'invalid'], [10, ESRCH, 'refused'], [13, EMSGSIZE, 'invalid'], [14, EINVAL, 'invalid'], [17, ESRCH, 'refused']];

  it('a mixed batch: each outcome, and the table ipvsadm -Sn shows', async () => {
    // Equal, outcomes and rules, to what prepare()/execute() gave for the same
    // batch before executeJson replaced them.
    assert.deepEqual(outcomes(await json(mixed())), MIXED_OUTCOMES);
    assert.deepEqual(savedRules().sort(), [
      '-A -t 1.1.1.1:80 -s wrr -p 300',
      '-a -t 1.1.1.1:80 -r 198.18.0.2:8080 -m -w 7',
      '-A -t [2001:db8::1]:443 -s wlc',
      '-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -m -w 1',
      '-A -f 9 -s sh',
      '-a -f 9 -r 198.18.0.4:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum',
      '-A -t 1.1.1.4:80 -s rr -p 60 --pe sip',
    ].sort());
  });

  it('malformed requests are invalid alone, with the field named; the others are applied', async () => {
    const web = service('1.1.1.1', 80);
    const good = (i: number) => addService(service(`1.1.2.${i}`, 80));
    const requests = [
      good(0),
      addDestination(web, { ...destination('198.18.0.2', 80), weight: 1.5 }),
      addDestination(web, { ...destination('198.18.0.2', 80), port: 70000 }),
      addDestination(web, { ...destination('198.18.0.2', 80), weight: NaN }),
      addService({ ...service('1.1.1.5', 80), family: 'two' as never }),
      addService({ ...service('1.1.1.5', 80), timeout: -1 }),
      addService({ ...service('1.1.1.5', 80), netmask: 2 ** 32 }),
      { command: C.IPVS_CMD_DEL_SERVICE, service: web, keyOnly: 'yes' as never },
      addDestination(web, { ...destination('198.18.0.2', 80), tunnelType: 256 } as never),
      { command: C.IPVS_CMD_NEW_SERVICE, service: 5 as never },
      addService({ ...service('1.1.1.5', 80), scheduler: 'r\u0000r' }),
      [addService(web)] as never,
      good(1),
    ];
    const failures = await json(requests);
    assert.deepEqual(outcomes(failures), requests.slice(1, -1).map((_, i) => [i + 1, EINVAL, 'invalid']));
    assert.deepEqual(failures.map((f) => f.message!.split(':')[0]), ['weight', 'port', 'weight', 'family', 'timeout', 'netmask', 'keyOnly', 'tunnelType', 'service', 'scheduler', 'a request must be an object']);
    assert.ok(failures.every((f) => f.kernelMessage === undefined));
    assert.deepEqual(savedRules().sort(), ['-A -t 1.1.2.0:80 -s rr', '-A -t 1.1.2.1:80 -s rr']);
    // Escapes and unknown keys are JSON's business, not the request's.
    assert.deepEqual(await handle.executeJson('[{"command":1,"comment":{"a":[1,{"b":null}]},"service":{"family":2,"protocol":6,"address":"\\u0031.1.1.9","port":80,"scheduler":"\\u0072r"}}]'), []);
    assert.ok(savedRules().includes('-A -t 1.1.1.9:80 -s rr'));
  });

  it('a text that is not one well-formed JSON array rejects with EINVAL and sends nothing', async () => {
    const good = JSON.stringify(addService(service('1.1.1.1', 80)));
    for (const text of ['', '{}', 'null', `${good}`, `[${good},`, `[${good},]`, `[${good}] x`, `[${good},{"command":1,"service":{"address":"a\\u12"}}]`, '['.repeat(40) + ']'.repeat(40)]) {
      await assert.rejects(handle.executeJson(text), (e: { errno: number; message: string }) => {
        assert.equal(e.errno, EINVAL, text);
        assert.match(e.message, /not a well-formed JSON array/);
        return true;
      });
    }
    assert.throws(() => handle.executeJson([] as never), TypeError);
    assert.deepEqual(savedRules(), []);
    assert.deepEqual(await handle.executeJson(' [ ] '), []);
  });

});

describe('native: list() and listDestinations()', function () {
  let handle: RawHandle;
  before(async function () {
    assertSandbox();
    handle = new addon.Handle();
    await handle.open();
  });
  after(() => handle?.close());
  beforeEach(resetTable);

  it('JSON entries with the documented keys, in order, equal to ipvsadm -Sn', async () => {
    const web = service('1.1.1.1', 80);
    const v6 = service('2001:db8::1', 443, 'wlc', AF_INET6);
    const mark = { ...service('', 0, 'sh'), fwmark: 9, protocol: 0, address: '' };
    assert.deepEqual(await run(handle, [
      addService(web), addService(v6), addService(mark),
      addDestination(web, destination('198.18.0.2', 8080, 3)),
      addDestination(web, destination('198.18.0.3', 8080, 0, 3)),
      addDestination(v6, destination('2001:db8::2', 443, 1, 0, AF_INET6)),
      addDestination(mark, { ...destination('198.18.0.4', 0, 2, 2), tunnelType: 1, tunnelPort: 6080 } as never),
    ]), []);
    const listing = await handle.list({ destinations: true, stats: true });
    const services = parse(listing);
    assert.deepEqual(asRules(services), savedRules().sort());
    const first = services.find((s) => s.address === '1.1.1.1');
    assert.deepEqual(Object.keys(first), ['family', 'protocol', 'address', 'port', 'fwmark', 'scheduler', 'flags', 'timeout', 'netmask', 'persistenceEngine', 'stats', 'destinations']);
    assert.deepEqual({ ...first, stats: 0, destinations: [] }, { family: 2, protocol: 6, address: '1.1.1.1', port: 80, fwmark: 0, scheduler: 'rr', flags: 0, timeout: 0, netmask: 4294967295, persistenceEngine: '', stats: 0, destinations: [] });
    assert.deepEqual(Object.keys(first.destinations[0]), ['address', 'family', 'port', 'weight', 'forwarding', 'upperThreshold', 'lowerThreshold', 'tunnel', 'activeConnections', 'inactiveConnections', 'persistentConnections', 'stats']);
    const marked = services.find((s) => s.fwmark === 9);
    assert.equal(marked.address, '0.0.0.0');
    assert.deepEqual(marked.destinations[0].tunnel, { type: 1, port: 6080, flags: 0 });
    assert.equal(services.find((s) => s.family === AF_INET6).netmask, 128);
    // Every entry has its own stats slot, 10 counters each.
    const indices = services.flatMap((s) => [s.stats, ...s.destinations.map((d: { stats: number }) => d.stats)]);
    assert.deepEqual([...indices].sort((a, b) => a - b), indices.map((_, i) => i));
    assert.ok(listing.stats instanceof BigUint64Array);
    assert.equal(listing.stats!.length, indices.length * 10);
  });

  it('without stats or destinations: stats null everywhere, no destinations key', async () => {
    const web = service('1.1.1.1', 80);
    await run(handle, [addService(web), addDestination(web, destination('198.18.0.2', 80))]);
    const bare = await handle.list({ destinations: false, stats: false });
    assert.equal(bare.stats, null);
    assert.deepEqual(parse(bare).map((s) => [s.stats, 'destinations' in s]), [[null, false]]);
    const noStats = parse(await handle.list({ destinations: true, stats: false }));
    assert.equal(noStats[0].destinations[0].stats, null);
  });

  it('one service: the entry, or ESRCH; listDestinations of an absent service is empty', async () => {
    const web = service('1.1.1.1', 80);
    await run(handle, [addService(web), addService(service('1.1.1.2', 80)), addDestination(web, destination('198.18.0.2', 80, 5))]);
    const one = parse(await handle.list({ service: web, destinations: true, stats: false }));
    assert.equal(one.length, 1);
    assert.equal(one[0].destinations[0].weight, 5);
    await assert.rejects(handle.list({ service: service('1.1.1.3', 80), destinations: false, stats: false }), (e: { errno: number; kernelMessage?: string }) => e.errno === ESRCH);
    const destinations = await handle.listDestinations(web, { stats: true });
    assert.deepEqual(parse(destinations).map((d) => [d.address, d.weight, d.stats]), [['198.18.0.2', 5, 0]]);
    assert.equal(destinations.stats!.length, 10);
    assert.deepEqual(await handle.listDestinations(service('1.1.1.3', 80), { stats: false }), { chunks: [], ascii: true, stats: null });
  });

  it('a large table comes in chunks of about 32 KiB, cut at service boundaries', async () => {
    restore(2000, 2, () => 'rr');
    const listing = await handle.list({ destinations: true, stats: true });
    assert.ok(listing.chunks.length > 5);
    assert.ok(listing.ascii);
    for (const chunk of listing.chunks.slice(0, -1)) assert.ok(Buffer.isBuffer(chunk) && chunk.length >= 32 * 1024 && chunk.length < 40 * 1024);
    assert.deepEqual(asRules(parse(listing)), savedRules().sort());
  });
});

describe('native: the socket after trouble', function () {
  let handle: RawHandle;
  before(async function () {
    assertSandbox();
    handle = new addon.Handle();
    await handle.open();
  });
  after(() => handle?.close());
  beforeEach(resetTable);

  it('a reply that does not parse mid-dump is EBADMSG, and the next dump works (no EBUSY)', async () => {
    restore(2000, 0, () => 'rr');
    await handle._testFault({ failDumpAfterMessages: 300 });
    await assert.rejects(handle.list({ destinations: false, stats: false }), (e: { errno: number; kernelMessage?: string }) => {
      assert.equal(e.errno, EBADMSG);
      assert.equal(e.kernelMessage, undefined);
      return true;
    });
    assert.deepEqual(asRules(parse(await handle.list({ destinations: false, stats: false }))), savedRules().sort());
    // Mid destination dump too.
    restore(50, 3, () => 'rr');
    await handle._testFault({ failDumpAfterMessages: 100 });
    await assert.rejects(handle.list({ destinations: true, stats: false }), (e: { errno: number }) => e.errno === EBADMSG);
    assert.deepEqual(asRules(parse(await handle.list({ destinations: true, stats: true }))), savedRules().sort());
  });

  it('an overflowing receive queue: each request applied, refused, unknown or unsent, never guessed', async () => {
    // The adds that collide with existing services (wlc) are refused, the new
    // ones (rr) applied: 90% collide in the first half (their answers overflow
    // the tiny queue), 0.5% in the second (theirs fit).
    const exists = (i: number) => (i < 2500 ? i % 10 !== 0 : i % 200 === 0);
    restore(5000, 0, (i) => (exists(i) ? 'wlc' : null));
    await handle._testFault({ receiveBufferBytes: 4096 });
    let failures: RawFailure[];
    try {
      const requests: RawRequest[] = [];
      for (let i = 0; i < 5000; ++i) requests.push(addService(service(vipOf(i), 80, 'rr')));
      failures = await run(handle, requests);
    } finally {
      await handle._testFault({});
    }
    const byIndex = new Map(failures.map((f) => [f.index, f]));
    const table = new Map(savedRules().map((line) => {
      const m = /^-A -t ([\d.]+):80 -s (\w+)$/.exec(line)!;
      return [m[1], m[2]];
    }));
    const counts = { applied: 0, refused: 0, unknown: 0, unsent: 0, invalid: 0 };
    for (let i = 0; i < 5000; ++i) {
      const f = byIndex.get(i);
      const now = table.get(vipOf(i));
      if (!f) {
        counts.applied++;
        assert.equal(now, 'rr', `request ${i} reported applied`);
      } else if (f.outcome === 'refused') {
        counts.refused++;
        assert.equal(f.errno, EEXIST);
        assert.ok(exists(i) && now === 'wlc', `request ${i} reported refused`);
      } else if (f.outcome === 'unknown') {
        counts.unknown++;
        assert.equal(f.errno, ENOBUFS);
        assert.equal(f.kernelMessage, undefined);
        assert.match(f.message!, /ENOBUFS/);
        assert.ok(now === (exists(i) ? 'wlc' : 'rr'), `request ${i}: the kernel's real outcome`);
      } else {
        counts[f.outcome]++;
      }
    }
    console.log(`      outcomes: ${JSON.stringify(counts)}`);
    assert.equal(counts.unsent + counts.invalid, 0);
    assert.ok(counts.unknown > 0, 'the queue overflowed');
    assert.ok(counts.refused > 0 && counts.applied > 0, JSON.stringify(counts));
    // The socket is fine afterwards.
    assert.equal(parse(await handle.list({ destinations: false, stats: false })).length, 5000);
  });
});

describe('native: open() and close() in every state', function () {
  before(assertSandbox);
  beforeEach(resetTable);

  it('open() of a FIFO, a device or a file is EINVAL at once; a missing path is ENOENT', async () => {
    const fifo = `/tmp/ipvs-native-fifo-${process.pid}`;
    execFileSync('mkfifo', [fifo]);
    try {
      for (const path of [fifo, '/dev/zero', '/etc/hostname']) {
        const handle = new addon.Handle();
        const started = Date.now();
        await assert.rejects(handle.open(path), (e: { errno: number; message: string }) => {
          assert.equal(e.errno, EINVAL, path);
          assert.match(e.message, /not a network namespace/);
          return true;
        });
        assert.ok(Date.now() - started < 5000);
        await handle.close();
      }
      await assert.rejects(new addon.Handle().open('/nonexistent/netns'), (e: { errno: number }) => e.errno === 2);
      // Another namespace type is refused too.
      await assert.rejects(new addon.Handle().open('/proc/self/ns/uts'), (e: { errno: number }) => e.errno === EINVAL);
    } finally {
      fs.unlinkSync(fifo);
    }
  });

  it('a handle in another namespace lists and changes that one', async () => {
    execFileSync('ip', ['netns', 'add', 'ipvs-native']);
    const handle = new addon.Handle();
    try {
      await handle.open('/run/netns/ipvs-native');
      assert.deepEqual(await run(handle, [addService(service('1.1.1.1', 80, 'lc'))]), []);
      assert.deepEqual(savedRules('ipvs-native'), ['-A -t 1.1.1.1:80 -s lc']);
      assert.deepEqual(savedRules(), []);
      assert.equal(parse(await handle.list({ destinations: true, stats: false })).length, 1);
    } finally {
      await handle.close();
      execFileSync('ip', ['netns', 'del', 'ipvs-native']);
    }
  });

  it('close() resolves never opened, after a failed open, twice, and with calls in flight', async () => {
    await new addon.Handle().close();
    const failed = new addon.Handle();
    await assert.rejects(failed.open('/dev/null'));
    await failed.close();
    await failed.close();
    const busy = new addon.Handle();
    await busy.open();
    const inFlight = busy.list({ destinations: true, stats: true });
    await busy.close();
    await inFlight;
    await assert.rejects(busy.list({ destinations: false, stats: false }), (e: { closed?: boolean }) => e.closed === true);
    await assert.rejects(busy.executeJson('[]'), (e: { closed?: boolean }) => e.closed === true);
  });

  it('calls on one handle run in the order they were made, close() last, however many are in flight', async () => {
    // Each call is its own job on the thread pool (4 threads); without turns
    // they took the session's lock in any order, so a list made after an add
    // could miss it, and a close made after a list could fail it.
    for (let round = 0; round < 5; ++round) {
      resetTable();
      const handle = new addon.Handle();
      await handle.open();
      const adds: Promise<RawFailure[]>[] = [];
      const lists: Promise<RawListing>[] = [];
      for (let i = 0; i < 12; ++i) {
        adds.push(handle.executeJson(JSON.stringify([addService(service(`198.18.7.${i + 1}`, 80))])));
        lists.push(handle.list({ destinations: false, stats: false }));
      }
      const closed = handle.close();
      assert.deepEqual(await Promise.all(adds), adds.map(() => []));
      const seen = (await Promise.all(lists)).map((listing) => parse(listing).length);
      assert.deepEqual(seen, lists.map((_, i) => i + 1), `round ${round}: services each list saw`);
      await closed;
    }
  });
});

describe('native: benchmark (IPVS_NATIVE_BENCH=1)', function () {
  before(function () {
    if (!process.env.IPVS_NATIVE_BENCH) this.skip();
    assertSandbox();
  });
  this.timeout(1800 * 1000);

  /** Requests of the 20,000 x 10 table as lib/ makes them: each service, then its 10 destinations. */
  function table(services: number): RawRequest[] {
    const requests: RawRequest[] = [];
    for (let i = 0; i < services; ++i) {
      const s = service(vipOf(i), 80);
      requests.push(addService(s));
      const key = { family: s.family, protocol: s.protocol, address: s.address, port: s.port, fwmark: 0 };
      for (let j = 0; j < 10; ++j) requests.push(addDestination(key, destination(`198.18.${1 + j}.${1 + (i % 250)}`, 8000 + (i >> 8))));
    }
    return requests;
  }
  const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

  function freshNamespace(ns: string): void {
    execFileSync('ip', ['netns', 'add', ns]);
    // Destination adds need a route to their address.
    sh(`ip -n ${ns} link add dummy0 type dummy && ip -n ${ns} link set dummy0 up && ip -n ${ns} addr add 198.18.0.1/15 dev dummy0 && ip -n ${ns} route add default dev dummy0`);
  }

  // Measured before prepare()/execute(batch) were removed (6.12, one boot, 1 vCPU):
  // main thread per 1,000 requests, prepare() 35-75 ms vs JSON.stringify 10-18
  // ms + executeJson() 8-9 ms; 220,000 adds pipelined, prepare() slices of 512
  // 28.6 / 29.6 s vs executeJson() 17.8 / 21.6 s (512) and 21.4 / 18.0 s (256).
  it('main thread per 1,000 requests: JSON.stringify + executeJson()', async function () {
    const ns = 'ipvs-bench-sync';
    freshNamespace(ns);
    const handle = new addon.Handle();
    try {
      await handle.open(`/run/netns/${ns}`);
      const requests = table(91).slice(0, 1000);
      for (let round = 0; round < 3; ++round) {
        const stringify: number[] = [], call: number[] = [];
        for (let r = 0; r < 11; ++r) {
          let t = process.hrtime.bigint();
          const text = JSON.stringify(requests);
          stringify.push(ms(t));
          t = process.hrtime.bigint();
          const running = handle.executeJson(text);
          call.push(ms(t));
          await running;
        }
        console.log(`    per 1,000 requests, medians of 11: JSON.stringify ${median(stringify).toFixed(2)} ms + executeJson() call ${median(call).toFixed(2)} ms`);
      }
      for (const size of [SLICE, 2 * SLICE]) {
        const times: number[] = [];
        for (let r = 0; r < 11; ++r) {
          const t = process.hrtime.bigint();
          handle.executeJson(JSON.stringify(requests.slice(0, size))).catch(() => undefined);
          times.push(ms(t));
        }
        console.log(`    JSON.stringify + executeJson() of ${size} requests: median ${median(times).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms`);
      }
      await handle.executeJson('[]');
    } finally {
      await handle.close();
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  it('220,000 adds (20,000 services x 10 destinations) through RequestQueue.send()', async function () {
    const requests = table(20000);
    for (let round = 0; round < 3; ++round) {
      const ns = `ipvs-bench-send-${round}`;
      freshNamespace(ns);
      const handle = new addon.Handle();
      try {
        const ready = handle.open(`/run/netns/${ns}`);
        await ready;
        const queue = new RequestQueue(handle, ready);
        const delay = monitorEventLoopDelay({ resolution: 5 });
        delay.enable();
        const started = process.hrtime.bigint();
        const outcomes = await queue.send(requests);
        const total = ms(started);
        delay.disable();
        console.log(`    RequestQueue.send() of 220,000 adds, slices of ${SLICE}: ${(total / 1000).toFixed(2)} s; event loop delay p50 ${(delay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms`);
        assert.equal(outcomes.filter((o) => o !== undefined).length, 0);
        if (round === 0) assert.equal(Number(sh(`ip netns exec ${ns} ipvsadm -Sn | wc -l`)), requests.length);
      } finally {
        await handle.close();
        execFileSync('ip', ['netns', 'del', ns]);
      }
    }
  });

  it('list() of 20,000 services x 10 destinations vs ipvsadm -Sn', async () => {
    const ns = 'ipvs-bench';
    execFileSync('ip', ['netns', 'add', ns]);
    // Destination adds need a route to their address.
    sh(`ip -n ${ns} link add dummy0 type dummy && ip -n ${ns} link set dummy0 up && ip -n ${ns} addr add 198.18.0.1/15 dev dummy0 && ip -n ${ns} route add default dev dummy0`);
    const handle = new addon.Handle();
    try {
      let started = Date.now();
      restore(20000, 10, () => 'rr', ns);
      console.log(`    ipvsadm -R of 20,000 x 10: ${Date.now() - started} ms`);
      await handle.open(`/run/netns/${ns}`);
      for (let round = 0; round < 2; ++round) {
        started = Date.now();
        const listing = await handle.list({ destinations: true, stats: true });
        const listed = Date.now() - started;
        started = Date.now();
        const services = parse(listing);
        const parsed = Date.now() - started;
        started = Date.now();
        const saved = execFileSync('ip', ['netns', 'exec', ns, 'ipvsadm', '-Sn'], { encoding: 'utf8', maxBuffer: 1 << 30 });
        const ipvsadmMs = Date.now() - started;
        console.log(`    list() 20,000 x 10 with stats: ${listed} ms to resolution (${listing.chunks.length} chunks), JSON.parse of all chunks ${parsed} ms; ipvsadm -Sn ${ipvsadmMs} ms`);
        assert.equal(services.length, 20000);
        if (round === 0) assert.deepEqual(asRules(services), saved.split('\n').filter((l) => l).sort());
      }
    } finally {
      await handle.close();
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });
});
