// Property tests (fast-check) of the TypeScript parsers, on the host: the
// /proc/net/ip_vs_conn parser, the rules format, and address
// canonicalisation. FC_SEED fixes the seed (printed on failure), FC_RUNS
// scales the runs (scripts/property-check runs many more).
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as net from 'net';
import fc from 'fast-check';
import type { Connection, Destination, Service } from '../../lib';
import { addressVersion, canonicalAddress, ipv6Text, ipv6Words } from '../../lib/address';
import { connectionsOf, parseConnections } from '../../lib/connections';
import { toDestination, toService } from '../../lib/convert';
import { formatRules, parseRules, rulesToTable, RulesError } from '../../lib/rules';
import { asListed } from './listed';

const RUNS = Number(process.env.FC_RUNS ?? 100);
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const params = (scale = 1): fc.Parameters<unknown> => ({ numRuns: Math.max(1, Math.round(RUNS * scale)), ...(SEED === undefined ? {} : { seed: SEED }) });

// --- /proc/net/ip_vs_conn ------------------------------------------------------------

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
const word = fc.integer({ min: 0, max: 0xffff });
const words8 = fc.array(word, { minLength: 8, maxLength: 8 });
const v4 = fc.integer({ min: 0, max: 0xffffffff });
/** An address as the kernel prints it (%08X or %pI6) and what it means. */
const procAddress = fc.oneof(
  v4.map((n) => ({ text: hex(n, 8), address: `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}` })),
  words8.map((w) => ({ text: w.map((x) => x.toString(16).padStart(4, '0')).join(':'), address: referenceIpv6(w) })),
);
const procPort = word.map((p) => ({ text: hex(p, 4), port: p }));
const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'IP', 'ICMP', 'ICMPv6', 'IP_47'];
const STATES = ['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK', 'NONE', 'UDP', 'INIT1', 'COOKIE_ECHOED', 'ERR!'];
const CONN_HEADER = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData';
const SYNC_HEADER = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires';
const connection = fc.record({
  protocol: fc.constantFrom(...PROTOCOLS),
  client: fc.tuple(procAddress, procPort),
  virtual: fc.tuple(procAddress, procPort),
  destination: fc.tuple(procAddress, procPort),
  state: fc.constantFrom(...STATES),
  expires: fc.integer({ min: 0, max: 0xffffffff }),
  pe: fc.option(fc.tuple(fc.constantFrom('sip', 'x'), fc.stringMatching(/^[!-~]{1,20}$/)), { nil: undefined }),
  origin: fc.constantFrom('SYNC', 'LOCAL'),
});
type GenConnection = typeof connection extends fc.Arbitrary<infer T> ? T : never;

/** One line as the kernel's seq_printf writes it ("%-3s ... %-11s %7u%s"). */
function procLine(c: GenConnection, sync: boolean): string {
  const a = (x: [{ text: string }, { text: string }]) => `${x[0].text} ${x[1].text}`;
  const head = `${c.protocol.padEnd(3)} ${a(c.client)} ${a(c.virtual)} ${a(c.destination)} ${c.state.padEnd(11)}`;
  if (sync) return `${head} ${c.origin.padEnd(6)} ${String(c.expires).padStart(7)}`;
  return `${head} ${String(c.expires).padStart(7)}${c.pe ? ` ${c.pe[0]} ${c.pe[1]}` : ''}`;
}

describe('unit: property tests of the parsers (fast-check)', function () {
  this.timeout(120000);

  describe('/proc/net/ip_vs_conn', () => {
    it('random valid tables round-trip every field (ip_vs_conn and ip_vs_conn_sync layouts)', () => {
      fc.assert(
        fc.property(fc.array(connection, { maxLength: 8 }), fc.boolean(), (conns, sync) => {
          const text = [sync ? SYNC_HEADER : CONN_HEADER, ...conns.map((c) => procLine(c, sync))].join('\n') + '\n';
          const parsed = parseConnections(text);
          assert.equal(parsed.length, conns.length);
          conns.forEach((c, i) => {
            const p = parsed[i];
            assert.equal(p.protocol, c.protocol.toLowerCase());
            assert.deepEqual(p.client, { address: c.client[0].address, port: c.client[1].port });
            assert.deepEqual(p.virtual, { address: c.virtual[0].address, port: c.virtual[1].port });
            assert.deepEqual(p.destination, { address: c.destination[0].address, port: c.destination[1].port });
            assert.equal(p.state, c.state);
            assert.equal(p.expires, c.expires);
            if (sync) assert.equal(p.origin, c.origin);
            else {
              assert.equal(p.persistenceEngine, c.pe?.[0]);
              assert.equal(p.persistenceData, c.pe?.[1]);
            }
          });
        }),
        params(),
      );
    });

    it('random garbage gives connections or a SyntaxError naming the line, never anything else', () => {
      const validText = fc.array(connection, { minLength: 1, maxLength: 4 }).map((cs) => [CONN_HEADER, ...cs.map((c) => procLine(c, false))].join('\n'));
      const mutated = fc.tuple(validText, fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 3, unit: 'binary' }), fc.nat({ max: 3 })), { maxLength: 4 })).map(([t, edits]) => {
        let s = t;
        for (const [at, insert, cut] of edits) {
          const i = at % (s.length + 1);
          s = s.slice(0, i) + insert + s.slice(i + cut);
        }
        return s;
      });
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: 'binary' }), mutated), (text) => {
          let parsed;
          try {
            parsed = parseConnections(text);
          } catch (error) {
            assert.ok(error instanceof SyntaxError, `not a SyntaxError: ${String(error)}`);
            assert.match(error.message, /^\/proc\/net\/ip_vs_conn line \d+: /);
            return;
          }
          // What parses is well formed: no NaN, addresses valid, ports in range.
          for (const c of parsed) {
            for (const end of [c.client, c.virtual, c.destination]) {
              assert.ok(net.isIP(end.address) !== 0, end.address);
              assert.ok(Number.isInteger(end.port) && end.port >= 0 && end.port <= 0xffff, String(end.port));
            }
            assert.ok(Number.isInteger(c.expires) && c.expires >= 0, String(c.expires));
            assert.ok(c.state.length > 0 && c.protocol.length > 0);
          }
        }),
        params(3),
      );
    });

    it('read in blocks from the bytes (listConnections), the same connections or the same SyntaxError', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(connection, { maxLength: 12 }), fc.boolean(), fc.integer({ min: 1, max: 200 }), fc.option(fc.nat()), async (conns, sync, block, broken) => {
          const lines = [sync ? SYNC_HEADER : CONN_HEADER, ...conns.map((c) => procLine(c, sync)), ''];
          if (broken !== null && conns.length) lines[1 + (broken % conns.length)] = '# ' + lines[1 + (broken % conns.length)];
          const text = lines.join('\n');
          let expected: Connection[] | Error;
          try {
            expected = parseConnections(text);
          } catch (error) {
            expected = error as Error;
          }
          let actual: Connection[] | Error;
          try {
            actual = await connectionsOf(Buffer.from(text), block);
          } catch (error) {
            actual = error as Error;
          }
          if (expected instanceof Error) {
            assert.ok(actual instanceof SyntaxError);
            assert.equal(actual.message, expected.message);
          } else assert.deepEqual(actual, expected);
        }),
        params(),
      );
    });

    it('refuses what is not text with a TypeError', () => {
      assert.throws(() => parseConnections(undefined as unknown as string), TypeError);
    });
  });

  // --- Addresses ---------------------------------------------------------------------

  describe('addresses', () => {
    /** Random spellings of eight words: case, leading zeros, '::' anywhere it may go, an IPv4 tail. */
    const spelling = fc
      .record({
        w: words8,
        upper: fc.boolean(),
        pad: fc.boolean(),
        zeroRun: fc.option(fc.tuple(fc.nat({ max: 8 }), fc.nat({ max: 8 })), { nil: undefined }),
        v4tail: fc.boolean(),
      })
      .map(({ w, upper, pad, zeroRun, v4tail }) => {
        const groups = w.map((x) => {
          const t = pad ? x.toString(16).padStart(4, '0') : x.toString(16);
          return upper ? t.toUpperCase() : t;
        });
        let tail: string[] = [];
        let head = groups;
        if (v4tail) {
          tail = [`${w[6] >> 8}.${w[6] & 255}.${w[7] >> 8}.${w[7] & 255}`];
          head = groups.slice(0, 6);
        }
        const all = [...head, ...tail];
        if (zeroRun) {
          // Compress a run of zero groups [start, end) of the 16-bit groups into '::'.
          const [a, b] = zeroRun;
          const start = Math.min(a, head.length);
          let end = start;
          while (end < head.length && end - start < b + 1 && w[end] === 0) end++;
          if (end > start) {
            const left = all.slice(0, start).join(':');
            const right = all.slice(end).join(':');
            return { text: `${left}::${right}`, w };
          }
        }
        return { text: all.join(':'), w };
      });

    it('canonicalAddress refuses what is not a string with a TypeError', () => {
      fc.assert(
        fc.property(fc.anything({ withBigInt: true, withMap: true, withNullPrototype: true }), (x) => {
          fc.pre(typeof x !== 'string');
          assert.throws(() => canonicalAddress(x as string, 6), TypeError);
        }),
        params(),
      );
    });

    it('every spelling net.isIP accepts has the words it spells, and the canonical text is inet_ntop\'s', () => {
      const samples = fc.sample(spelling, { numRuns: Math.max(RUNS * 4, 200), ...(SEED === undefined ? {} : { seed: SEED }) });
      const reference = inetNtop(samples.map((s) => s.w));
      samples.forEach((s, i) => {
        assert.equal(net.isIP(s.text), 6, s.text);
        assert.equal(addressVersion(s.text), 6, s.text);
        assert.deepEqual(ipv6Words(s.text), s.w, s.text);
        const canonical = canonicalAddress(s.text, 6);
        if (reference) assert.equal(canonical, reference[i], s.text);
        else assert.equal(canonical, referenceIpv6(s.w), s.text);
        // Canonical text is a fixed point and names the same address.
        assert.equal(canonicalAddress(canonical, 6), canonical);
        assert.deepEqual(ipv6Words(canonical), s.w);
      });
    });

    it('random text: addressVersion agrees with net.isIP (no zone ids), and whatever it accepts canonicalises without throwing', () => {
      const chars = fc.constantFrom(...'0123456789abcdefABCDEF:.%:::'.split(''));
      const text = fc.oneof(fc.string({ unit: chars, maxLength: 45 }), fc.string({ maxLength: 45 }), spelling.map((s) => s.text + '%eth0'));
      fc.assert(
        fc.property(text, (t) => {
          const v = addressVersion(t);
          assert.equal(v, t.includes('%') ? 0 : net.isIP(t));
          // The public canonicalAddress refuses exactly what is not an address (of the version asked).
          for (const asked of [undefined, 4, 6] as const) {
            if (v !== 0 && (asked === undefined || asked === v)) assert.equal(canonicalAddress(t, asked), canonicalAddress(t, v));
            else assert.throws(() => canonicalAddress(t, asked), (e: Error) => e instanceof RangeError && /for address but received/.test(e.message) && e.message.length < 200);
          }
          if (v === 0) return;
          const c = canonicalAddress(t, v);
          assert.equal(net.isIP(c), v, `${t} -> ${c}`);
          assert.equal(canonicalAddress(c, v), c, `${t} -> ${c}`);
          if (v === 6) {
            const w = ipv6Words(t);
            assert.ok(w.length === 8 && w.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff), `${t}: ${w}`);
            assert.equal(c, ipv6Text(w));
          }
        }),
        params(10),
      );
    });
  });

  // --- The rules format ----------------------------------------------------------------

  describe('rules format', () => {
    it('format(parse(x)) is stable for random tables written in random spellings', () => {
      fc.assert(
        fc.property(table, fc.infiniteStream(fc.nat()), (services, choices) => {
          const text = formatRules(services, { thresholds: true });
          const spelled = respell(text, choices);
          let back: Service[];
          try {
            back = asListed(rulesToTable(parseRules(spelled)));
          } catch (error) {
            throw new Error(`${(error as Error).message} in ${JSON.stringify(spelled)}`);
          }
          // In the order read (ipvsadm's sort is not idempotent: its
          // comparators wrap at 2^31, so sorting its own output can reorder).
          assert.equal(formatRules(back, { thresholds: true, noSort: true }), text, spelled);
          // And each parsed rule is valid input to the facade.
          for (const s of rulesToTable(parseRules(spelled))) {
            const checked = toService(s);
            for (const d of s.destinations ?? []) toDestination(d, checked);
          }
        }),
        params(),
      );
    });

    it('random mutations give a line-numbered RulesError or a valid parse, never a crash', () => {
      const mutated = fc.tuple(table, fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(' ', '-', '--', ':', '[', ']', '0', '99999999999', '-w', '-6', '#', '\n', '-x 5', '--tun-type', 'gue', 'é', '\0', '::'), fc.string({ maxLength: 4 })), fc.nat({ max: 4 })), { minLength: 1, maxLength: 5 })).map(([services, edits]) => {
        let s = formatRules(services, { thresholds: true });
        for (const [at, insert, cut] of edits) {
          const i = at % (s.length + 1);
          s = s.slice(0, i) + insert + s.slice(i + cut);
        }
        return s;
      });
      fc.assert(
        fc.property(fc.oneof(mutated, fc.string({ maxLength: 80 })), (text) => {
          let rules;
          try {
            rules = parseRules(text);
          } catch (error) {
            assert.ok(error instanceof RulesError, `not a RulesError: ${String(error)}`);
            assert.match(error.message, /^line \d+(, column \d+)?: \S/);
            const line = Number(/^line (\d+)/.exec(error.message)![1]);
            assert.ok(line >= 1 && line <= text.split('\n').length);
            return;
          }
          // A parse that succeeds yields rules in the facade's own terms.
          for (const r of rules) {
            if ('service' in r && r.service && (r.command === 'add-service' || r.command === 'edit-service')) toService(r.service);
            if (r.command === 'add-server' || r.command === 'edit-server') toDestination(r.destination, toService({ ...r.service, persistence: {} }));
          }
        }),
        params(5),
      );
    });
  });
});

// --- Generators and references ---------------------------------------------------------

/** RFC 5952 text of eight words, as glibc's inet_ntop writes it (an independent implementation). */
function referenceIpv6(w: number[]): string {
  // Longest run of >= 2 zero words, first on a tie.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
  }
  const hexes = w.map((x) => x.toString(16));
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
    const v4 = `${w[6] >> 8}.${w[6] & 255}.${w[7] >> 8}.${w[7] & 255}`;
    return bestLen === 6 ? `::${v4}` : `::ffff:${v4}`;
  }
  if (best < 0) return hexes.join(':');
  return `${hexes.slice(0, best).join(':')}::${hexes.slice(best + bestLen).join(':')}`;
}

/** glibc's own inet_ntop through python3's socket module, when python3 is there (null otherwise). */
function inetNtop(all: number[][]): string[] | null {
  const input = all.map((w) => w.map((x) => x.toString(16).padStart(4, '0')).join('')).join('\n');
  try {
    const out = execFileSync('python3', ['-c', 'import sys,socket\nfor l in sys.stdin.read().split():\n print(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(l)))'], {
      input,
      encoding: 'utf8',
    });
    const lines = out.split('\n').filter((l) => l.length > 0);
    return lines.length === all.length ? lines : null;
  } catch {
    return null;
  }
}

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
const ipv4Addr = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.integer({ min: 1, max: 254 })).map((p) => p.join('.'));
const ipv6Addr = fc.array(word, { minLength: 8, maxLength: 8 }).map((w) => referenceIpv6([0x2001, 0xdb8, ...w.slice(2)]));

const destination = (family: 'ipv4' | 'ipv6', servicePort: number, fwmark: boolean) =>
  fc
    .record({
      address: family === 'ipv6' ? ipv6Addr : ipv4Addr,
      port: fc.nat({ max: 65535 }),
      weight: fc.nat({ max: 65535 }),
      forwarding: fc.constantFrom('masq', 'route', 'tunnel', 'local', 'bypass'),
      upper: fc.nat({ max: 2 ** 31 - 1 }),
      lower: fc.nat({ max: 2 ** 31 - 1 }),
      tunnel: fc.oneof(
        fc.constant({ type: 'ipip' as const, checksum: 'none' as const }),
        fc.record({ type: fc.constant('gre' as const), checksum: fc.constantFrom('none' as const, 'checksum' as const) }),
        fc.record({ type: fc.constant('gue' as const), port: fc.integer({ min: 1, max: 65535 }), checksum: fc.constantFrom('none' as const, 'checksum' as const, 'remote' as const) }),
      ),
    })
    .map((d): Destination => {
      // local and bypass read back as -g (route) in rules text: only route.
      const forwarding = d.forwarding === 'local' || d.forwarding === 'bypass' ? 'route' : d.forwarding;
      const upper = Math.max(d.upper, d.lower);
      return {
        address: d.address,
        family,
        port: forwarding === 'masq' || fwmark ? d.port : servicePort,
        weight: d.weight,
        forwarding,
        upperThreshold: upper,
        lowerThreshold: Math.min(d.upper, d.lower),
        tunnel: forwarding === 'tunnel' ? d.tunnel : null,
        activeConnections: 0,
        inactiveConnections: 0,
        persistentConnections: 0,
        stats: null,
      };
    });

const service = fc
  .record({
    kind: fc.constantFrom('tcp', 'udp', 'sctp', 'fwmark'),
    family: fc.constantFrom('ipv4' as const, 'ipv6' as const),
    fwmark: fc.integer({ min: 1, max: 0xffffffff }),
    port: fc.nat({ max: 65535 }),
    scheduler: fc.constantFrom(...SCHEDULERS),
    persistence: fc.option(fc.record({ timeout: fc.integer({ min: 1, max: 86400 * 31 }), prefix: fc.nat({ max: 128 }) }), { nil: null }),
    pe: fc.boolean(),
    onePacket: fc.boolean(),
    flags: fc.record({ fallback: fc.boolean(), port: fc.boolean(), flag3: fc.boolean() }),
  })
  .chain((s) => {
    const v6 = s.family === 'ipv6';
    const fwmark = s.kind === 'fwmark';
    return fc.tuple(v6 ? ipv6Addr : ipv4Addr, fc.uniqueArray(destination(s.family, s.port, fwmark), { maxLength: 4, selector: (d) => `${d.address} ${d.port}` })).map(([address, destinations]) => {
      const persistence = s.persistence ?? (!fwmark && s.port === 0 ? { timeout: 360, prefix: 128 } : null);
      const key = fwmark ? { fwmark: s.fwmark } : { protocol: s.kind as 'tcp', address, port: s.port };
      return {
        ...key,
        family: s.family,
        scheduler: s.scheduler,
        persistence: persistence && { timeout: persistence.timeout, netmask: v6 ? Math.max(1, persistence.prefix) : Math.min(32, persistence.prefix) },
        persistenceEngine: persistence && s.pe ? 'sip' : null,
        onePacket: s.onePacket && (fwmark || s.kind === 'udp'),
        schedulerFlags: s.flags,
        stats: null,
        destinations: destinations.map((d) => (fwmark ? d : { ...d, port: d.forwarding === 'masq' ? d.port : s.port })),
      } as unknown as Service;
    });
  });

const table = fc.uniqueArray(service, {
  maxLength: 5,
  selector: (s) => (s.fwmark !== undefined ? `f${s.fwmark}${s.family}` : `${s.protocol}${s.address}${s.port}`),
});


const LONG: Record<string, string> = {
  '-A': '--add-service', '-a': '--add-server', '-t': '--tcp-service', '-u': '--udp-service', '-f': '--fwmark-service',
  '-s': '--scheduler', '-p': '--persistent', '-M': '--netmask', '-r': '--real-server', '-m': '--masquerading',
  '-i': '--ipip', '-g': '--gatewaying', '-w': '--weight', '-x': '--u-threshold', '-y': '--l-threshold', '-o': '--ops',
  '-b': '--sched-flags', '-6': '--ipv6',
};

/** The same rules in another spelling: options in another order, long names, `--opt=value`, `-w5`, comments, CRLF, a leading `ipvsadm`. */
function respell(text: string, choices: fc.Stream<number>): string {
  const pick = (n: number) => choices.next().value % n;
  return text
    .split('\n')
    .map((line) => {
      if (line === '') return line;
      // Group words into option + value units.
      const w = line.split(' ');
      const units: string[][] = [];
      for (let i = 0; i < w.length; i++) {
        if (w[i].startsWith('-') && i + 1 < w.length && !w[i + 1].startsWith('-')) units.push([w[i], w[++i]]);
        else units.push([w[i]]);
      }
      // Shuffle the units (popt reads options in any order).
      for (let i = units.length - 1; i > 0; i--) {
        const j = pick(i + 1);
        [units[i], units[j]] = [units[j], units[i]];
      }
      const out = units.map(([opt, value]) => {
        const long = LONG[opt] ?? (opt.startsWith('--') ? opt : undefined);
        switch (pick(4)) {
          case 0:
            return value === undefined ? opt : `${opt} ${value}`;
          case 1:
            return long ? (value === undefined ? long : `${long} ${value}`) : value === undefined ? opt : `${opt} ${value}`;
          case 2:
            return long && value !== undefined ? `${long}=${value}` : value === undefined ? opt : `${opt} ${value}`;
          default:
            return value !== undefined && !opt.startsWith('--') && opt !== '-p' ? `${opt}${value}` : value === undefined ? opt : `${opt} ${value}`;
        }
      });
      const spaced = out.join(' '.repeat(1 + pick(3)));
      const prefix = pick(5) === 0 ? 'ipvsadm ' : '';
      const comment = pick(5) === 0 ? '   # a comment' : '';
      const cr = pick(5) === 0 ? '\r' : '';
      return prefix + spaced + comment + cr;
    })
    .join('\n');
}
