// The ipvs command against a real IPVS, side by side with ipvsadm in the same
// guest: the same listings byte for byte, the same commands making the same
// table, save/restore round trips both ways (thresholds kept), bad rules
// files changing nothing. The command runs in-process through main() (the
// guest runs JS slowly; starting node per call would dominate), and once as
// the installed bin.
import assert from 'assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ipvs } from './cli-run';
import { assertSandbox, ipvsadm, resetTable, sh } from './helpers';

/** ipvsadm ARGS with its exit status and both outputs. */
function ipvsadmRun(args: string[], input = ''): { status: number; out: string; err: string } {
  const r = spawnSync('ipvsadm', args, { encoding: 'utf8', input });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function savedNumeric(): string {
  return ipvsadm('-Sn');
}

// A table using every option ipvsadm has (thresholds too, which -S drops).
const RULES = [
  '-A -t 1.1.1.1:80 -s sh -p 300 -M 255.255.0.0 --pe sip -b sh-fallback,sh-port',
  '-A -t 1.1.1.1:81 -s rr',
  '-a -t 1.1.1.1:81 -r 198.18.0.1:81 -g -w 1',
  '-a -t 1.1.1.1:81 -r 2.2.2.2:81 -i -w 2 -x 10 -y 5 --tun-type gue --tun-port 6080 --tun-csum',
  '-a -t 1.1.1.1:81 -r 2.2.2.3:81 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum',
  '-a -t 1.1.1.1:81 -r 2.2.2.4:81 -i -w 0 --tun-type gre --tun-csum',
  '-a -t 1.1.1.1:81 -r 2.2.2.5:81 -i -w 1 --tun-type gre --tun-nocsum',
  '-a -t 1.1.1.1:81 -r 2.2.2.6:8080 -m -w 3 -x 100 -y 0',
  '-a -t 1.1.1.1:81 -r 127.0.0.1:81 -m -w 1',
  '-a -t 1.1.1.1:81 -r [2001:db8::5]:81 -i -w 1 --tun-type ipip',
  '-A -t 1.1.1.3:0 -s wlc -p 360',
  '-A -t 127.0.0.1:22 -s wlc -p 60 -M 255.255.255.0',
  '-A -u 1.1.1.1:5060 -s rr -p 360 --pe sip -o',
  '-A --sctp-service 1.1.1.2:9 -s wrr',
  '-A -t [2001:db8::1]:80 -s mh -p 10 -M 48 -b mh-fallback',
  '-a -t [2001:db8::1]:80 -r [2001:db8::20]:80 -m -w 4',
  '-A -t [2001:db8:1234:5678:9abc:def0:1234:5678]:80 -s wlc',
  '-a -t [2001:db8:1234:5678:9abc:def0:1234:5678]:80 -r [2001:db8:1234:5678:9abc:def0:1234:5679]:80 -m -w 4',
  '-A -f 1 -s rr -b flag-3',
  '-A -f 1 -6 -s lc',
];

/** Connection listings equal but for each entry's expire (mm:ss), which must lie between the two ipvsadm reads around ours. */
function assertConnectionsBetween(got: string, before: string, after: string, what: string): void {
  const expire = /^(\S+\s+)(\d\d):(\d\d)(.*)$/;
  const split = (text: string) => text.split('\n').map((line) => {
    const m = expire.exec(line);
    return m ? { rest: m[1] + '#' + m[4], seconds: Number(m[2]) * 60 + Number(m[3]) } : { rest: line, seconds: -1 };
  });
  const [ours, first, last] = [split(got), split(before), split(after)];
  assert.deepEqual(ours.map((l) => l.rest), first.map((l) => l.rest), what);
  assert.deepEqual(last.map((l) => l.rest), first.map((l) => l.rest), `${what}: ipvsadm's two reads`);
  ours.forEach((line, i) => {
    const within = line.seconds <= first[i].seconds && line.seconds >= last[i].seconds;
    assert.ok(within, `${what}: line ${i} expires in ${line.seconds} s, ipvsadm said ${first[i].seconds} s then ${last[i].seconds} s`);
  });
}

function loadWithIpvsadm(rules = RULES): void {
  for (const rule of rules) sh(`ipvsadm ${rule}`);
}

describe('kernel: the ipvs command against ipvsadm', function () {
  this.timeout(600000);
  before(() => {
    assertSandbox();
    sh('modprobe ip_vs_pe_sip');
  });
  beforeEach(resetTable);
  after(() => {
    resetTable();
    spawnSync('ipvsadm', ['--stop-daemon', 'master']);
    spawnSync('ipvsadm', ['--stop-daemon', 'backup']);
  });

  it('prints every listing byte-identical to ipvsadm', async () => {
    ipvsadm('--set', '100', '20', '30');
    // Sync daemons need a multicast interface with an address.
    sh('ip link add ipvscli0 type dummy && ip link set ipvscli0 multicast on up && ip addr add 198.19.1.1/24 dev ipvscli0');
    const started = await ipvs(['--start-daemon', 'master', '--mcast-interface', 'ipvscli0', '--syncid', '7']);
    assert.equal(started.status, 0, started.err);
    ipvsadm('--start-daemon', 'backup', '--mcast-interface', 'ipvscli0', '--mcast-group', '239.1.2.3', '--mcast-port', '9000', '--mcast-ttl', '3', '--sync-maxlen', '1400');
    for (const args of [['-L', '--daemon'], ['-L', '--daemon', '--json']]) {
      if (args.includes('--json')) assert.equal(JSON.parse((await ipvs(args)).out)[1].port, 9000);
      else assert.equal((await ipvs(args)).out, ipvsadm(...args));
    }
    assert.equal((await ipvs(['daemons'])).out, ipvsadm('-L', '--daemon'));
    assert.equal((await ipvs(['--stop-daemon', 'master'])).status, 0);
    ipvsadm('--stop-daemon', 'backup');
    sh('ip link del ipvscli0');
    // The kernel refuses a sync daemon while a destination's family differs from its service's, and the reverse.
    loadWithIpvsadm();
    const listings = [
      ['-Ln'], ['-ln'], ['-L', '-n', '--stats'], ['-L', '-n', '--rate'], ['-L', '-n', '--thresholds'], ['-L', '-n', '--persistent-conn'],
      ['-L', '-n', '--tun-info'], ['-L', '-n', '--stats', '--exact'], ['-L', '-n', '--rate', '--exact'], ['-L', '-n', '--nosort'],
      ['-L', '-n', '--sort'], ['-L', '-n', '--nosort', '--stats'], ['-Ln', '-t', '1.1.1.1:81'], ['-Ln', '-t', '1.1.1.1:81', '--thresholds'],
      ['-Ln', '-f', '1'], ['-Ln', '-f', '1', '-6'], ['-Ln', '--sctp-service', '1.1.1.2:9', '--stats'], ['-L', '--timeout'],
      ['-Lnc'], ['-Lnc', '--persistent-conn'], ['-Sn'], ['--save', '--numeric'],
    ];
    for (const args of listings) {
      const want = ipvsadmRun(args);
      const got = await ipvs(args);
      if (args[0] === '-Lnc') {
        // A connection's expire counts down each second: ours must lie between ipvsadm's before and after it.
        assertConnectionsBetween(got.out, want.out, ipvsadmRun(args).out, `ipvs ${args.join(' ')}`);
      } else {
        assert.equal(got.out, want.out, `ipvs ${args.join(' ')}`);
      }
      assert.equal(got.status, want.status, `ipvs ${args.join(' ')} status`);
    }
    assert.equal((await ipvs(['save', '--ipvsadm'])).out, savedNumeric());
    // list (readable) is -Ln
    assert.equal((await ipvs(['list'])).out, ipvsadm('-Ln'));
    assert.equal((await ipvs(['list', '--stats', '--exact'])).out, ipvsadm('-Ln', '--stats', '--exact'));
    assert.equal((await ipvs(['list', 'tcp', '1.1.1.1:81', '--thresholds'])).out, ipvsadm('-Ln', '-t', '1.1.1.1:81', '--thresholds'));
    assert.equal((await ipvs(['timeouts'])).out, ipvsadm('-L', '--timeout'));
  });

  it('prints names as ipvsadm does without -n (hosts and services files)', async () => {
    // Only names /etc/hosts knows: other addresses would wait on DNS in the guest.
    loadWithIpvsadm(['-A -t 127.0.0.1:22 -s rr', '-a -t 127.0.0.1:22 -r 127.0.0.1:80 -m', '-A -u 127.0.0.1:53 -s rr -p']);
    for (const args of [['-L'], ['-L', '--stats'], ['-S'], []]) assert.equal((await ipvs(args)).out, ipvsadmRun(args).out, `ipvs ${args.join(' ')}`);
  });

  it('makes the same table as ipvsadm from the same commands', async () => {
    loadWithIpvsadm();
    sh('ipvsadm -E -t 1.1.1.1:80 -s rr');
    sh('ipvsadm -e -t 1.1.1.1:81 -r 2.2.2.6:8080 -m -w 7');
    sh('ipvsadm -d -t 1.1.1.1:81 -r 2.2.2.5');
    sh('ipvsadm -D -t 1.1.1.3:0');
    const byIpvsadm = ipvsadm('-Ln', '--thresholds') + savedNumeric();
    resetTable();
    for (const rule of [
      ...RULES,
      '-E -t 1.1.1.1:80 -s rr',
      '-e -t 1.1.1.1:81 -r 2.2.2.6:8080 -m -w 7',
      '-d -t 1.1.1.1:81 -r 2.2.2.5',
      '-D -t 1.1.1.3:0',
    ]) {
      const r = await ipvs(rule.split(' '));
      assert.equal(r.status, 0, `${rule}: ${r.err}`);
    }
    assert.equal(ipvsadm('-Ln', '--thresholds') + savedNumeric(), byIpvsadm);
  });

  it('fails as ipvsadm does: one line naming the object, ipvsadm exit statuses', async () => {
    loadWithIpvsadm(['-A -t 1.1.1.1:80', '-a -t 1.1.1.1:80 -r 2.2.2.2']);
    const cases: Array<[string[], RegExp]> = [
      [['-A', '-t', '1.1.1.1:80'], /^service tcp 1\.1\.1\.1:80 already exists\n$/],
      [['-D', '-t', '9.9.9.9:80'], /^service tcp 9\.9\.9\.9:80 does not exist\n$/],
      [['-a', '-t', '9.9.9.9:80', '-r', '2.2.2.2'], /^service tcp 9\.9\.9\.9:80 does not exist\n$/],
      [['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2'], /^destination 2\.2\.2\.2:80 in service tcp 1\.1\.1\.1:80 already exists\n$/],
      [['-d', '-t', '1.1.1.1:80', '-r', '9.9.9.9'], /^destination 9\.9\.9\.9:80 does not exist in service tcp 1\.1\.1\.1:80\n$/],
      [['-A', '-t', '1.1.1.9:80', '-s', 'nosuch'], /^addService service tcp 1\.1\.1\.9:80: the kernel does not know the scheduler "nosuch"/],
      [['-Ln', '-t', '9.9.9.9:1'], /^service tcp 9\.9\.9\.9:1 does not exist\n$/],
      [['-Z', '-t', '9.9.9.9:80'], /does not exist\n$/],
      [['-A', '-t', '1.1.1.9:80', '-w', '3'], /^Illegal 'weight' option with the 'add-service' command\n$/],
      [['-A'], /^You need to supply the 'service-address' option for the 'add-service' command\n$/],
      [['-A', '-t', '1.1.1.9:80', 'extra'], /^unexpected argument extra\n$/],
      [['--bogus'], /Try `ipvs -h' or 'ipvs --help' for more information\.\n$/],
      [['--stop-daemon', 'master'], /sync daemon master/],
    ];
    for (const [args, message] of cases) {
      const want = ipvsadmRun(args);
      const got = await ipvs(args);
      assert.equal(got.status, want.status, `ipvs ${args.join(' ')}: ${got.err}`);
      assert.match(got.err, message, `ipvs ${args.join(' ')}`);
      assert.equal(got.err.trimEnd().split('\n').length, args[0] === '--bogus' ? 2 : 1);
    }
  });

  it('round-trips rules both ways with ipvsadm, and keeps thresholds through ipvs save | ipvs restore', async () => {
    loadWithIpvsadm();
    const saved = savedNumeric();
    const thresholds = ipvsadm('-Ln', '--thresholds');
    // ipvsadm -Sn | ipvs -R
    resetTable();
    const r1 = await ipvs(['-R'], saved);
    assert.equal(r1.status, 0, r1.err);
    assert.equal(savedNumeric(), saved);
    // ipvs -S | ipvsadm -R
    const ours = (await ipvs(['-S', '-n'])).out;
    resetTable();
    assert.equal(ipvsadmRun(['-R'], ours).status, 0);
    assert.equal(savedNumeric(), saved);
    // ipvs save | ipvs restore: ipvsadm -S would lose the thresholds; ours are kept
    resetTable();
    loadWithIpvsadm();
    const full = (await ipvs(['save'])).out;
    assert.match(full, / -x 10 -y 5\n/);
    resetTable();
    const r2 = await ipvs(['restore'], full);
    assert.equal(r2.status, 0, r2.err);
    assert.equal(ipvsadm('-Ln', '--thresholds'), thresholds);
    assert.equal(savedNumeric(), saved);
    // and ipvsadm -R reads our text too
    resetTable();
    assert.equal(ipvsadmRun(['-R'], full).status, 0);
    assert.equal(ipvsadm('-Ln', '--thresholds'), thresholds);
  });

  it('restore --replace makes the table equal the file by a diff', async () => {
    loadWithIpvsadm();
    const full = (await ipvs(['save'])).out;
    const thresholds = ipvsadm('-Ln', '--thresholds');
    ipvsadm('-A', '-t', '5.5.5.5:80');
    ipvsadm('-e', '-t', '1.1.1.1:81', '-r', '2.2.2.6:8080', '-m', '-w', '9');
    ipvsadm('-d', '-t', '1.1.1.1:81', '-r', '2.2.2.2');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-cli-'));
    const file = path.join(dir, 'rules');
    fs.writeFileSync(file, `# the whole table\n${full}`);
    const dry = await ipvs(['restore', '--replace', '--dry-run', file]);
    assert.equal(dry.status, 0, dry.err);
    assert.match(dry.out, /^-D -t 5\.5\.5\.5:80$/m);
    assert.match(dry.out, /^-a -t 1\.1\.1\.1:81 -r 2\.2\.2\.2:81 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum -x 10 -y 5$/m);
    assert.match(dry.out, /^-e -t 1\.1\.1\.1:81 -r 2\.2\.2\.6:8080 -m -w 3 -x 100 -y 0$/m);
    assert.equal(dry.out.trimEnd().split('\n').length, 4); // three changes and the summary
    const r = await ipvs(['restore', '--replace', file]);
    assert.equal(r.status, 0, r.err);
    assert.equal(ipvsadm('-Ln', '--thresholds'), thresholds);
  });

  it('refuses malformed and mutated rules files with a line-numbered error, the table unchanged', async () => {
    loadWithIpvsadm();
    const before = savedNumeric();
    const good = (await ipvs(['save'])).out.split('\n').filter(Boolean);
    const bad = [
      '-A -t 9.9.9.9:80\n-a -t 9.9.9.9:80 -r 2.2.2.2 -w 99999\n',
      '-A -t 9.9.9.9:80 -s rr\n\n# fine so far\n-A -t 9.9.9.9\n',
      '-A -t 9.9.9.9:80\n-L -n\n',
      'garbage\n',
    ];
    let seed = 11;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    while (bad.length < 40) {
      const lines = ['-A -t 9.9.9.9:80', ...good.slice(0, 1 + random(good.length))];
      const at = random(lines.length);
      const chars = [...lines[at]];
      for (let k = random(3) + 1; k > 0; k--) chars.splice(random(chars.length + 1), random(2), '-:[]x9 '[random(7)]);
      lines[at] = chars.join('');
      const text = lines.join('\n') + '\n';
      // Only texts the parser refuses are malformed; a mutation may still be valid.
      if ((await ipvs(['restore', '--dry-run'], text)).status === 2) bad.push(text);
    }
    for (const text of bad) {
      for (const args of [['restore'], ['restore', '--replace'], ['-R']]) {
        const r = await ipvs(args, text);
        assert.equal(r.status, 2, `${args.join(' ')}: ${text}`);
        assert.match(r.err, /^stdin:\d+:\d+: .*; nothing was applied\n$/);
        assert.equal(savedNumeric(), before, text);
      }
    }
  });

  it('readable subcommands do what the ipvsadm commands do', async () => {
    // The source document's example, in ipvsadm's words and in ours.
    sh('ipvsadm -A -t 1.1.1.1:80 -s lc');
    sh('ipvsadm -a -t 1.1.1.1:80 -r 2.2.2.2 -m -w 100');
    sh('ipvsadm -a -t 1.1.1.1:80 -r 3.3.3.3 -m -w 100');
    const want = ipvsadm('-Ln');
    assert.match(want, /TCP {2}1\.1\.1\.1:80 lc\n {2}-> 2\.2\.2\.2:80 +Masq +100 +0 +0/);
    resetTable();
    for (const args of [
      ['service', 'add', 'tcp', '1.1.1.1:80', '--scheduler', 'lc'],
      ['destination', 'add', 'tcp', '1.1.1.1:80', '2.2.2.2', '--masq', '--weight', '100'],
      ['destination', 'add', 'tcp', '1.1.1.1:80', '3.3.3.3', '--masq', '--weight', '100'],
    ]) {
      const r = await ipvs(args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.err}`);
    }
    assert.equal((await ipvs(['list'])).out, want);
    // edit changes only what is given
    assert.equal((await ipvs(['service', 'edit', 'tcp', '1.1.1.1:80', '--persistent', '600'])).status, 0);
    assert.equal((await ipvs(['destination', 'edit', 'tcp', '1.1.1.1:80', '2.2.2.2', '--weight', '5', '--upper-threshold', '50'])).status, 0);
    assert.match(savedNumeric(), /^-A -t 1\.1\.1\.1:80 -s lc -p 600$/m);
    assert.match(savedNumeric(), /^-a -t 1\.1\.1\.1:80 -r 2\.2\.2\.2:80 -m -w 5$/m);
    assert.match(ipvsadm('-Ln', '--thresholds'), /-> 2\.2\.2\.2:80 +50 +0 /);
    assert.equal((await ipvs(['destination', 'delete', 'tcp', '1.1.1.1:80', '3.3.3.3'])).status, 0);
    assert.equal((await ipvs(['service', 'add', 'fwmark', '7', '--ipv6', '--scheduler', 'mh', '--sched-flags', 'mh-port'])).status, 0);
    assert.match(savedNumeric(), /^-A -f 7 -6 -s mh -b mh-port$/m);
    const dup = await ipvs(['service', 'add', 'tcp', '1.1.1.1:80']);
    assert.equal(dup.status, 255);
    assert.equal(dup.err, 'service tcp 1.1.1.1:80 already exists\n');
    assert.equal((await ipvs(['service', 'delete', 'fwmark', '7', '--ipv6'])).status, 0);
    assert.equal((await ipvs(['service', 'delete', 'tcp', '1.1.1.1:80'])).status, 0);
    assert.equal(savedNumeric(), '');
  });

  it('list --json is the document apply takes: ipvs apply FILE.json rebuilds the table', async () => {
    loadWithIpvsadm();
    const thresholds = ipvsadm('-Ln', '--thresholds');
    const document = (await ipvs(['list', '--json'])).out;
    const parsed = JSON.parse(document);
    assert.equal(typeof parsed[0].stats.inbytes, 'string');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-cli-'));
    const file = path.join(dir, 'table.json');
    fs.writeFileSync(file, document);
    resetTable();
    ipvsadm('-A', '-t', '5.5.5.5:80');
    const dry = await ipvs(['apply', file, '--prune', '--dry-run']);
    assert.equal(dry.status, 0, dry.err);
    assert.match(dry.out, /^-A -t 1\.1\.1\.1:81 -s rr$/m);
    assert.match(dry.out, /^-D -t 5\.5\.5\.5:80$/m);
    const refused = await ipvs(['apply', file, '--prune', '--max-deletes', '0']);
    assert.equal(refused.status, 255);
    assert.match(refused.err, /more than maxDeletes \(0\); nothing was sent/);
    const r = await ipvs(['apply', file, '--prune']);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /^applied +-A -t 1\.1\.1\.1:81 -s rr$/m);
    assert.equal(ipvsadm('-Ln', '--thresholds'), thresholds);
    // a second apply changes nothing
    assert.match((await ipvs(['apply', file, '--prune'])).out, /^# no changes$/m);
  });

  it('works as the installed bin, in another network namespace with --netns', () => {
    loadWithIpvsadm(['-A -t 1.1.1.1:80 -s rr', '-a -t 1.1.1.1:80 -r 2.2.2.2 -m']);
    const bin = path.join(__dirname, '..', '..', '..', 'bin', 'ipvs.js');
    assert.equal(execFileSync(process.execPath, [bin, '-Ln'], { encoding: 'utf8' }), ipvsadm('-Ln'));
    sh('ip netns add ipvs-cli-test');
    try {
      execFileSync(process.execPath, [bin, '--netns', 'ipvs-cli-test', 'service', 'add', 'udp', '1.1.1.2:53'], { encoding: 'utf8' });
      assert.equal(sh('ip netns exec ipvs-cli-test ipvsadm -Sn'), '-A -u 1.1.1.2:53 -s wlc\n');
      assert.doesNotMatch(savedNumeric(), /1\.1\.1\.2/);
    } finally {
      sh('ip netns del ipvs-cli-test');
    }
  });
});
