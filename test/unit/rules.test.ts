// The rules format (lib/rules): ipvsadm's own -S outputs parse and format
// back to the same bytes; bad lines are errors with line and column; a
// generated table survives format -> parse -> fold.
import assert from 'assert/strict';
import type { Service } from '../../lib';
import {
  argvWords,
  formatRules,
  parseHostsFile,
  parseIpvsadmCommand,
  parseRules,
  parseServicesFile,
  rulesToSteps,
  rulesToTable,
  RulesError,
} from '../../lib/rules';
import { asListed } from './listed';

// `ipvsadm -Sn` (ipvsadm 1.31, kernel 6.12) for a table using every option -S writes.
const SAVED_NUMERIC = `-A -t 1.1.1.1:80 -s sh -p 300 -M 255.255.0.0 --pe sip -b sh-fallback,sh-port
-A -t 1.1.1.1:81 -s rr
-a -t 1.1.1.1:81 -r 198.18.0.1:81 -g -w 1
-a -t 1.1.1.1:81 -r 2.2.2.2:81 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum
-a -t 1.1.1.1:81 -r 2.2.2.3:81 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 1.1.1.1:81 -r 2.2.2.4:81 -i -w 0 --tun-type gre --tun-csum
-a -t 1.1.1.1:81 -r 2.2.2.5:81 -i -w 1 --tun-type gre --tun-nocsum
-a -t 1.1.1.1:81 -r 2.2.2.6:8080 -m -w 3
-a -t 1.1.1.1:81 -r 127.0.0.1:81 -m -w 1
-A -t 1.1.1.3:0 -s wlc -p 360
-A -t 127.0.0.1:22 -s wlc -p 60 -M 255.255.255.0
-A -u 1.1.1.1:5060 -s rr -p 360 --pe sip -o
-A --sctp-service 1.1.1.2:9 -s wrr
-A -t [2001:db8::1]:80 -s mh -p 10 -M 48 -b mh-fallback
-a -t [2001:db8::1]:80 -r [2001:db8::20]:80 -m -w 4
-A -t [2001:db8:1234:5678:9abc:def0:1234:5678]:80 -s wlc
-a -t [2001:db8:1234:5678:9abc:def0:1234:5678]:80 -r [2001:db8:1234:5678:9abc:def0:1234:5679]:80 -m -w 4
-A -f 1 -s rr -b flag-3
-A -f 1 -6 -s lc
`;

// The same table by `ipvsadm -S` (names from /etc/services and /etc/hosts).
const SAVED_NAMES = `-A -t 1.1.1.1:http -s sh -p 300 -M 255.255.0.0 --pe sip -b sh-fallback,sh-port
-A -t 1.1.1.1:81 -s rr
-a -t 1.1.1.1:81 -r 198.18.0.1:81 -g -w 1
-a -t 1.1.1.1:81 -r 2.2.2.2:81 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum
-a -t 1.1.1.1:81 -r 2.2.2.3:81 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 1.1.1.1:81 -r 2.2.2.4:81 -i -w 0 --tun-type gre --tun-csum
-a -t 1.1.1.1:81 -r 2.2.2.5:81 -i -w 1 --tun-type gre --tun-nocsum
-a -t 1.1.1.1:81 -r 2.2.2.6:http-alt -m -w 3
-a -t 1.1.1.1:81 -r localhost:81 -m -w 1
-A -t 1.1.1.3:0 -s wlc -p 360
-A -t localhost:ssh -s wlc -p 60 -M 255.255.255.0
-A -u 1.1.1.1:sip -s rr -p 360 --pe sip -o
-A --sctp-service 1.1.1.2:9 -s wrr
-A -t [2001:db8::1]:http -s mh -p 10 -M 48 -b mh-fallback
-a -t [2001:db8::1]:http -r [2001:db8::20]:http -m -w 4
-A -t [2001:db8:1234:5678:9abc:def0:1234:5678]:http -s wlc
-a -t [2001:db8:1234:5678:9abc:def0:1234:5678]:http -r [2001:db8:1234:5678:9abc:def0:1234:5679]:http -m -w 4
-A -f 1 -s rr -b flag-3
-A -f 1 -6 -s lc
`;

const portNames = parseServicesFile('http 80/tcp www\nhttp-alt 8080/tcp\nssh 22/tcp\nsip 5060/tcp\nsip 5060/udp\n');
const hostNames = parseHostsFile('127.0.0.1 localhost\n::1 localhost ip6-localhost\n');


function rulesError(fn: () => unknown): RulesError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof RulesError, String(error));
    return error;
  }
  assert.fail('expected a RulesError');
}

describe('unit: rules format', () => {
  it('parses ipvsadm -Sn output and formats it back byte for byte', () => {
    const table = rulesToTable(parseRules(SAVED_NUMERIC));
    assert.equal(formatRules(asListed(table)), SAVED_NUMERIC);
  });

  it('reads ipvsadm -S output with port and host names as the same table', () => {
    const named = rulesToTable(parseRules(SAVED_NAMES, { portNames, hostNames }));
    assert.deepEqual(named, rulesToTable(parseRules(SAVED_NUMERIC)));
    // and writes names back when given them
    const names = { host: (a: string) => (a === '127.0.0.1' ? 'localhost' : undefined), port: (p: number, proto?: string) => portNames.name(p, proto ?? '') };
    assert.equal(formatRules(asListed(named), { names }), SAVED_NAMES);
  });

  it('reads every option into the typed shape, with ipvsadm defaults', () => {
    const rules = parseRules(SAVED_NUMERIC);
    assert.deepEqual(rules[0], {
      command: 'add-service',
      line: 1,
      service: {
        protocol: 'tcp', address: '1.1.1.1', port: 80, family: 'ipv4', scheduler: 'sh',
        persistence: { timeout: 300, netmask: 16 }, persistenceEngine: 'sip', onePacket: false,
        schedulerFlags: { fallback: true, port: true, flag3: false },
      },
    });
    assert.deepEqual(rules[3], {
      command: 'add-server',
      line: 4,
      service: { protocol: 'tcp', address: '1.1.1.1', port: 81, family: 'ipv4' },
      destination: {
        address: '2.2.2.2', port: 81, weight: 2, forwarding: 'tunnel', upperThreshold: 0, lowerThreshold: 0,
        tunnel: { type: 'gue', port: 6080, checksum: 'checksum' },
      },
    });
    const [svc, dst] = parseRules('-A -t 1.1.1.1:80\n-a -t 1.1.1.1:80 -r 2.2.2.2:8080\n');
    assert.deepEqual(svc, {
      command: 'add-service', line: 1,
      service: { protocol: 'tcp', address: '1.1.1.1', port: 80, family: 'ipv4', scheduler: 'wlc', persistence: null, persistenceEngine: null, onePacket: false, schedulerFlags: { fallback: false, port: false, flag3: false } },
    });
    // -g by default, so the port is the service's; weight 1
    assert.deepEqual(dst, {
      command: 'add-server', line: 2, service: { protocol: 'tcp', address: '1.1.1.1', port: 80, family: 'ipv4' },
      destination: { address: '2.2.2.2', port: 80, weight: 1, forwarding: 'route', upperThreshold: 0, lowerThreshold: 0 },
    });
    const [p] = parseRules('-A -u [2001:DB8:0::1]:53 -p -M 64');
    assert.deepEqual((p as { service: unknown }).service, {
      protocol: 'udp', address: '2001:db8::1', port: 53, family: 'ipv6', scheduler: 'wlc', persistence: { timeout: 360, netmask: 64 },
      persistenceEngine: null, onePacket: false, schedulerFlags: { fallback: false, port: false, flag3: false },
    });
  });

  it('takes popt spellings: bundles, attached values, long options with =', () => {
    const a = parseRules('-At 1.1.1.1:80 -srr -p300\n-a --tcp-service=1.1.1.1:80 --real-server 2.2.2.2:90 -mw5 -x 10 -y 5\n');
    assert.equal((a[0] as { service: { scheduler: string } }).service.scheduler, 'rr');
    assert.deepEqual((a[0] as { service: { persistence: unknown } }).service.persistence, { timeout: 300, netmask: 32 });
    assert.deepEqual((a[1] as { destination: unknown }).destination, {
      address: '2.2.2.2', port: 90, weight: 5, forwarding: 'masq', upperThreshold: 10, lowerThreshold: 5,
    });
  });

  it('tolerates blank lines, comments, CRLF and a leading ipvsadm word', () => {
    const rules = parseRules('\n# saved by hand\nipvsadm -A -t 1.1.1.1:80 # web\r\n\n   \n/sbin/ipvsadm -C\n');
    assert.deepEqual(rules.map((r) => [r.command, r.line]), [['add-service', 3], ['clear', 6]]);
  });

  it('refuses bad lines with ipvsadm messages, line and column', () => {
    const cases: Array<[string, number, number | undefined, RegExp]> = [
      ['-A -t 1.1.1.1:80 -w 3', 1, 18, /Illegal 'weight' option with the 'add-service' command/],
      ['-a -t 1.1.1.1:80 -r 2.2.2.2 -w 70000', 1, 32, /illegal weight specified/],
      ['-A -t 1.1.1.1:99999', 1, 7, /illegal virtual server address\[:port\] specified/],
      ['-A -t 1.1.1.1', 1, 1, /Zero port specified for non-persistent service/],
      ['-A', 1, 1, /You need to supply the 'service-address' option for the 'add-service' command/],
      ['-a -t 1.1.1.1:80 -r 2.2.2.2 -i --tun-type gue', 1, 1, /You need to supply the 'tun-port' option for the 'gue' tunnel type/],
      ['-a -t 1.1.1.1:80 -r 2.2.2.2 -m --tun-type gre', 1, 29, /Tunnel options conflict with forward method/],
      ['-a -t 1.1.1.1:80 -r [2001:db8::5]:80 -m', 1, 18, /Different address family is allowed only for tunneling servers/],
      ['-a -t 1.1.1.1:80 -r [2001:db8::5]', 1, 21, /illegal real server address/],
      ['-A -t 1.1.1.1:80 -s sh -b mh-port', 1, 27, /incompatible scheduler flag `mh-port'/],
      ['-A -t 1.1.1.1:80 -o', 1, 18, /One-Packet Scheduling is only for UDP virtual services/],
      ['-A -t 1.1.1.1:80 -A', 1, 18, /multiple commands specified/],
      ['-A -t 1.1.1.1:80 -s rr -s lc', 1, 24, /multiple 'scheduler' options specified/],
      ['-A -t 1.1.1.1:80 extra', 1, 18, /unexpected argument extra/],
      ['-A -t 1.1.1.1:80 --bogus', 1, 18, /unknown option '--bogus'/],
      ['-L -n', 1, 1, /'-L' is not a rule/],
      ['-A -f 0', 1, 7, /invalid fwmark value `0' specified/],
      ['-A -f -2147483649', 1, 7, /invalid fwmark value `-2147483649' specified/],
      ['-A -f 4294967296', 1, 7, /invalid fwmark value `4294967296' specified/],
      ['-A -t 1.1.1.1:80 -p 0', 1, 21, /invalid timeout value `0' specified/],
    ];
    for (const [line, number, column, message] of cases) {
      const e = rulesError(() => parseRules(`-A -t 9.9.9.9:1\n\n${line}\n`));
      assert.equal(e.line, number + 2, line);
      assert.equal(e.column, column, line);
      assert.match(e.message, message);
      assert.match(e.message, new RegExp(`^line ${number + 2}`));
    }
    const named = rulesError(() => parseRules('-A -t 1.1.1.1:80 -w 3', { source: 'rules.txt' }));
    assert.equal(named.message, "rules.txt:1:18: Illegal 'weight' option with the 'add-service' command");
  });

  it("reads the negative marks ipvsadm -S writes for marks above 2^31 - 1 (its %d), and writes them unsigned", () => {
    const table = rulesToTable(parseRules('-A -f -1 -s rr\n-A -f -2147483648 -6 -s rr\n-A -f 2147483647 -s rr\n'));
    assert.deepEqual(table.map((s) => [s.fwmark, s.family]), [[0xffffffff, 'ipv4'], [0x80000000, 'ipv6'], [0x7fffffff, 'ipv4']]);
    assert.equal(formatRules(asListed(table), { noSort: true }), '-A -f 4294967295 -s rr\n-A -f 2147483648 -6 -s rr\n-A -f 2147483647 -s rr\n');
  });

  it('never throws anything but a RulesError on mutated lines', () => {
    const lines = SAVED_NUMERIC.trim().split('\n');
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = '-:[]., 0123456789abcdefxyzAEDaedtufrsmgiwpMbo6#';
    for (let i = 0; i < 3000; i++) {
      const chars = [...lines[random(lines.length)]];
      for (let k = random(4) + 1; k > 0; k--) {
        const at = random(chars.length + 1);
        const op = random(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[random(alphabet.length)]);
        else chars[at] = alphabet[random(alphabet.length)];
      }
      try {
        parseRules(chars.join(''), { portNames, hostNames });
      } catch (error) {
        assert.ok(error instanceof RulesError, `${chars.join('')}: ${error}`);
        assert.equal(error.line, 1);
      }
    }
  });

  it('folds rules into a table, refusing what cannot apply in order', () => {
    const table = rulesToTable(parseRules('-A -t 1.1.1.1:80\n-a -t 1.1.1.1:80 -r 2.2.2.2\n-e -t 1.1.1.1:80 -r 2.2.2.2 -w 5\n-A -f 3\n-D -f 3\n'));
    assert.equal(table.length, 1);
    assert.equal(table[0].destinations?.[0].weight, 5);
    assert.deepEqual(rulesToTable(parseRules('-A -t 1.1.1.1:80\n-C\n-A -t 1.1.1.2:80\n')).map((s) => s.address), ['1.1.1.2']);
    assert.match(rulesError(() => rulesToTable(parseRules('-A -t 1.1.1.1:80\n-A -t 1.1.1.1:80\n'))).message, /^line 2: service tcp 1.1.1.1:80 already exists/);
    assert.match(rulesError(() => rulesToTable(parseRules('-a -t 1.1.1.1:80 -r 2.2.2.2\n'))).message, /^line 1: service tcp 1.1.1.1:80 does not exist/);
    assert.match(
      rulesError(() => rulesToTable(parseRules('-A -t 1.1.1.1:80\n-d -t 1.1.1.1:80 -r 2.2.2.2\n'))).message,
      /^line 2: destination 2.2.2.2:80 does not exist in service tcp 1.1.1.1:80/,
    );
  });

  it('turns rules into batch steps split at -C and -Z', () => {
    const steps = rulesToSteps(parseRules('-A -t 1.1.1.1:80\n-a -t 1.1.1.1:80 -r 2.2.2.2 -m\n-C\n-Z\n-E -t 1.1.1.1:80 -s rr\n'));
    assert.deepEqual(steps.map((s) => s.kind), ['batch', 'clear', 'zero', 'batch']);
    const first = steps[0] as Extract<(typeof steps)[0], { kind: 'batch' }>;
    assert.deepEqual(first.lines, [1, 2]);
    assert.deepEqual(first.operations.map((o) => o.operation), ['addService', 'addDestination']);
  });

  it('writes thresholds only when asked (ipvsadm -S drops them)', () => {
    const table = asListed(rulesToTable(parseRules('-A -t 1.1.1.1:80\n-a -t 1.1.1.1:80 -r 2.2.2.2 -m -x 10 -y 5\n')));
    assert.equal(formatRules(table), '-A -t 1.1.1.1:80 -s wlc\n-a -t 1.1.1.1:80 -r 2.2.2.2:80 -m -w 1\n');
    const kept = formatRules(table, { thresholds: true });
    assert.equal(kept, '-A -t 1.1.1.1:80 -s wlc\n-a -t 1.1.1.1:80 -r 2.2.2.2:80 -m -w 1 -x 10 -y 5\n');
    assert.deepEqual(rulesToTable(parseRules(kept)), rulesToTable(parseRules('-A -t 1.1.1.1:80\n-a -t 1.1.1.1:80 -r 2.2.2.2 -m -x 10 -y 5\n')));
  });

  it('round-trips generated tables: format -> parse -> fold gives the same table', () => {
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[random(xs.length)];
    const schedulers = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'mh', 'twos'];
    for (let round = 0; round < 200; round++) {
      const services = new Map<string, Record<string, unknown>>();
      for (let i = random(6); i > 0; i--) {
        const fwmark = random(4) === 0;
        const v6 = random(3) === 0;
        const protocol = pick(['tcp', 'udp', 'sctp'] as const);
        const scheduler = pick(schedulers);
        const persistent = random(2) === 0;
        const key = fwmark
          ? { fwmark: random(5) + 1, family: v6 ? 'ipv6' : 'ipv4' }
          : { protocol, address: v6 ? `2001:db8::${(random(200) + 1).toString(16)}` : `10.0.${random(3)}.${random(250)}`, port: persistent ? random(3) * 80 : random(65535) + 1, family: v6 ? 'ipv6' : 'ipv4' };
        const named = scheduler === 'sh' || scheduler === 'mh';
        const service = {
          ...key,
          scheduler,
          persistence: persistent ? { timeout: random(10000) + 1, netmask: v6 ? random(128) + 1 : random(33) } : null,
          persistenceEngine: persistent && random(3) === 0 ? 'sip' : null,
          onePacket: !fwmark && protocol === 'udp' && random(2) === 0,
          schedulerFlags: { fallback: random(2) === 0, port: random(2) === 0, flag3: !named && random(3) === 0 },
          stats: null,
          destinations: [] as unknown[],
        };
        const dests = new Map<string, unknown>();
        for (let j = random(5); j > 0; j--) {
          const forwarding = pick(['masq', 'route', 'tunnel'] as const);
          const dv6 = forwarding === 'tunnel' && random(3) === 0 ? !v6 : v6;
          const address = dv6 ? `2001:db8:1::${(random(300) + 1).toString(16)}` : `192.0.2.${random(250)}`;
          const port = fwmark || forwarding === 'masq' ? random(65536) : (key as { port: number }).port;
          const type = pick(['ipip', 'gue', 'gre'] as const);
          const tunnel =
            forwarding !== 'tunnel' ? null
              : type === 'gue' ? { type, port: random(65535) + 1, checksum: pick(['none', 'checksum', 'remote'] as const) }
                : type === 'gre' ? { type, checksum: pick(['none', 'checksum'] as const) } : { type, checksum: 'none' };
          const upper = random(3) === 0 ? random(1000) : 0;
          dests.set(`${address} ${port}`, {
            address, family: dv6 ? 'ipv6' : 'ipv4', port, weight: random(65536), forwarding,
            upperThreshold: upper, lowerThreshold: upper ? random(upper + 1) : 0, tunnel,
            activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: null,
          });
        }
        service.destinations = [...dests.values()];
        const id = fwmark ? `f${key.fwmark}${key.family}` : `${protocol}${(key as { address: string }).address}${(key as { port: number }).port}`;
        services.set(id, service);
      }
      const table = [...services.values()] as unknown as Service[];
      const text = formatRules(table, { thresholds: true });
      const back = asListed(rulesToTable(parseRules(text)));
      // Same table: formatting the fold gives the same text, and the same services field for field.
      assert.equal(formatRules(back, { thresholds: true }), text);
      const norm = (ss: Service[]) =>
        JSON.stringify(
          ss.map((s) => ({ ...s, persistence: s.persistence && { ...s.persistence }, destinations: [...s.destinations].sort((a, b) => (a.address + a.port < b.address + b.port ? -1 : 1)) })).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)),
          Object.keys({ ...table[0], ...(table[0]?.destinations[0] ?? {}), timeout: 0, netmask: 0, type: 0, checksum: 0 }).sort(),
        );
      assert.equal(norm(back), norm(table), text);
    }
  });

  it('reads whole ipvsadm command lines (the ipvs command uses the same parser)', () => {
    assert.deepEqual(parseIpvsadmCommand(argvWords(['-Ln', '--stats', '--exact'])), {
      command: 'list', show: 'services',
      format: { numeric: true, stats: true, rate: false, thresholds: false, persistentConn: false, tunInfo: false, noSort: false, exact: true },
    });
    assert.deepEqual(parseIpvsadmCommand(argvWords(['--set', '100', '20', '30'])), { command: 'set', timeouts: { tcp: 100, tcpFin: 20, udp: 30 } });
    assert.deepEqual(parseIpvsadmCommand(argvWords(['--start-daemon', 'master', '--mcast-interface', 'lo', '--syncid', '7'])), {
      command: 'start-daemon', daemon: { state: 'master', interface: 'lo', syncId: 7 },
    });
    assert.equal(rulesError(() => parseIpvsadmCommand(argvWords(['-L', '-c', '--stats']))).message, 'options conflicts in the list command');
    assert.equal(rulesError(() => parseIpvsadmCommand(argvWords(['-Ln', '-6']))).message, '-6 used before -f');
    assert.equal(rulesError(() => parseIpvsadmCommand(argvWords(['-X']))).status, 255);
  });
});
