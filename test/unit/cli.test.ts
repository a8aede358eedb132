// The ipvs command without a kernel: what it refuses before opening IPVS
// (bad command lines, bad rules files: nothing is touched), help, and plans
// printed as rules. The kernel suite (test/kernel/cli.test.ts) runs the rest
// side by side with ipvsadm.
import assert from 'assert/strict';
import type { Context, GlobalOptions, Io } from '../../lib/cli/context';
import { main, takeGlobalOptions } from '../../lib/cli/main';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliError } from '../../lib/cli/context';
import { readDrainClock, writeDrainClock } from '../../lib/cli/drains';
import { describeOperation, printApplyResult } from '../../lib/cli/report';
import { DrainClock, IpvsError, NOT_SENT, type BatchResult, type ChangeStatus } from '../../lib';
import { parseFlags } from '../../lib/cli/flags';

async function run(
  args: string[],
  stdin = '',
  files: Record<string, string> = {},
): Promise<{ status: number; out: string; err: string; opened: number; global: GlobalOptions }> {
  let out = '';
  let err = '';
  let opened = 0;
  let global: GlobalOptions = {};
  const io: Io = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stdin: async () => stdin,
    readFile: async (p) => {
      if (!(p in files)) throw new Error(`ENOENT: no such file '${p}'`);
      return files[p];
    },
  };
  const context = (g: GlobalOptions = {}): Context => {
    global = g;
    return {
      io,
      ...g,
      program: 'ipvs',
      open: async () => {
        opened++;
        throw new Error('no IPVS in unit tests');
      },
    };
  };
  const status = await main(args, io, context);
  return { status, out, err, opened, global };
}

describe('unit: ipvs command', () => {
  it('refuses bad ipvsadm command lines as ipvsadm does, before opening IPVS', async () => {
    const cases: Array<[string[], number, string]> = [
      [['-A', '-t', '1.1.1.1:80', '-w', '3'], 2, "Illegal 'weight' option with the 'add-service' command\n"],
      [['-A'], 2, "You need to supply the 'service-address' option for the 'add-service' command\n"],
      [['-a', '-t', '1.1.1.1:80', '-r', '2.2.2.2', '-w', 'x'], 2, 'illegal weight specified\n'],
      [['--bogus'], 255, "unknown option '--bogus'\nTry `ipvs -h' or 'ipvs --help' for more information.\n"],
      [['-L', '-c', '--stats'], 2, 'options conflicts in the list command\n'],
      [['--set', '1', '2'], 2, '--set option requires 3 timeout values\n'],
      [['--start-daemon', 'primary'], 2, 'illegal start-daemon parameter specified\n'],
    ];
    for (const [args, status, err] of cases) {
      const r = await run(args);
      assert.deepEqual([r.status, r.err, r.opened], [status, err, 0], args.join(' '));
    }
  });

  it('reports a failed open as ipvsadm does (status 2)', async () => {
    const r = await run(['-Ln']);
    assert.equal(r.status, 2);
    assert.equal(r.err, "Can't initialize ipvs: no IPVS in unit tests\n");
  });

  it('parses a whole rules file before touching IPVS: a bad line is an error with line and column', async () => {
    const text = '# saved\n-A -t 1.1.1.1:80\n\n-a -t 1.1.1.1:80 -r 2.2.2.2 -m -w 100000\n';
    for (const args of [['-R'], ['restore'], ['restore', '--replace']]) {
      const r = await run(args, text);
      assert.deepEqual([r.status, r.err, r.opened], [2, 'stdin:4:35: illegal weight specified; nothing was applied\n', 0], args.join(' '));
    }
    const file = await run(['restore', 'rules.txt'], '', { 'rules.txt': '-A -t 1.1.1.1:80\n-A -t 1.1.1.1:80 -s\n' });
    assert.equal(file.err, "rules.txt:2:18: option '-s' needs a value; nothing was applied\n");
    // --replace also refuses rules that cannot apply in order
    const dup = await run(['restore', '--replace'], '-A -t 1.1.1.1:80\n-A -t 1.1.1.1:80\n');
    assert.deepEqual([dup.status, dup.err, dup.opened], [2, 'stdin:2:1: service tcp 1.1.1.1:80 already exists; nothing was applied\n', 0]);
    const missing = await run(['restore', 'nope.txt']);
    assert.equal(missing.status, 2);
    assert.match(missing.err, /^cannot read nope\.txt: /);
  });

  it('restore --atomic refuses rules it could not undo (-C, -Z) before opening IPVS', async () => {
    for (const [text, err] of [
      ['-A -t 1.1.1.1:80\n-a -t 1.1.1.1:80 -r 2.2.2.2\n-C\n', 'stdin:3: --atomic cannot undo -C (clear the table); nothing was applied\n'],
      ['-A -t 1.1.1.1:80\n# counters\n-Z -t 1.1.1.1:80\n', 'stdin:3: --atomic cannot undo -Z (zero counters); nothing was applied\n'],
    ]) {
      for (const args of [['restore', '--atomic'], ['restore', '--atomic', '--dry-run']]) {
        const r = await run(args, text);
        assert.deepEqual([r.status, r.err, r.opened], [2, err, 0], `${args.join(' ')}: ${text}`);
      }
    }
    // Without --atomic (and with --replace, where they only shape the table built) they are taken.
    for (const args of [['restore'], ['restore', '--replace'], ['restore', '--atomic', '--replace'], ['-R']]) {
      const r = await run(args, '-A -t 1.1.1.1:80\n-C\n');
      assert.deepEqual([r.status, r.opened], [2, 1], args.join(' ')); // reached the (failing) open
    }
  });

  it('checks readable subcommands before opening IPVS', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['service', 'add', 'tcp'], /ADDRESS:PORT is needed/],
      [['service', 'add', 'icmp', '1.1.1.1:80'], /unknown service kind 'icmp'/],
      [['service', 'add', 'tcp', '1.1.1.1:80', '--scheduler'], /option '--scheduler' needs a value/],
      [['service', 'add', 'tcp', '1.1.1.1:80', '--bogus'], /unknown option '--bogus'/],
      [['service', 'add', 'tcp', '1.1.1.1:80', '--sched-flags', 'sh-port'], /incompatible scheduler flag `sh-port'/],
      [['service', 'frob', 'tcp', '1.1.1.1:80'], /unknown action 'frob'/],
      [['destination', 'add', 'tcp', '1.1.1.1:80'], /a destination ADDRESS\[:PORT\] is needed/],
      [['destination', 'add', 'tcp', '1.1.1.1:80', '2.2.2.2', '--masq', '--tunnel'], /--masq conflicts with --tunnel/],
      [['destination', 'add', 'tcp', '1.1.1.1:80', '2.2.2.2', '--weight', '-1'], /illegal weight specified/],
      [['apply'], /one FILE\.json or FILE\.yaml is needed/],
      [['apply', 'table.yaml'], /^table\.yaml: expected a list of services/],
      [['apply', 'bad.yml'], /^bad\.yml:2:3: not valid YAML: Map keys must be unique/],
      [['apply', 'bad.json'], /bad\.json: not JSON/],
      [['apply', 'obj.json'], /expected an array of services/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args, '', { 'table.yaml': 'x: 1', 'bad.yml': '- port: 80\n  port: 81\n', 'bad.json': '{', 'obj.json': '{"x":1}' });
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.err, message, args.join(' '));
      assert.equal(r.opened, 0, args.join(' '));
    }
  });

  it('prints help for ipvsadm options and for each subcommand', async () => {
    const h = await run(['-h']);
    assert.equal(h.status, 0);
    assert.match(h.out, /^ipvs v\S+ \(ipvsadm v1\.31 compatible/);
    assert.match(h.out, /  ipvs -A\|E virtual-service \[-s scheduler\]/);
    assert.match(h.out, /Readable commands/);
    for (const sub of ['service', 'destination', 'list', 'save', 'restore', 'apply', 'connections', 'timeouts', 'daemons']) {
      const r = await run([sub, '--help']);
      assert.equal(r.status, 0, sub);
      assert.match(r.out, new RegExp(`^Usage: ipvs ${sub}`), sub);
      assert.equal(r.opened, 0);
    }
    assert.match((await run(['completion', 'bash'])).out, /complete -F _ipvs ipvs/);
  });

  it('takes --netns and --worker-nice anywhere', () => {
    assert.deepEqual(takeGlobalOptions(['-Ln', '--netns', 'blue']), { netns: 'blue', rest: ['-Ln'] });
    assert.deepEqual(takeGlobalOptions(['--netns=/proc/1/ns/net', 'list']), { netns: '/proc/1/ns/net', rest: ['list'] });
    assert.deepEqual(takeGlobalOptions(['-Ln', '--worker-nice', '0', '--netns=blue']), { netns: 'blue', workerNice: 0, rest: ['-Ln'] });
    assert.deepEqual(takeGlobalOptions(['--worker-nice=19', 'save']), { workerNice: 19, rest: ['save'] });
  });

  it('hands --worker-nice to the handle it opens, and refuses a bad one before opening IPVS, naming it', async () => {
    const r = await run(['list', '--worker-nice', '5']);
    assert.deepEqual([r.global, r.opened, r.status], [{ workerNice: 5 }, 1, 2]);
    for (const bad of ['20', '-1', '2.5', 'x', '']) {
      const b = await run(['-Ln', `--worker-nice=${bad}`]);
      assert.deepEqual([b.status, b.opened], [2, 0], bad);
      assert.equal(b.err, `option '--worker-nice' expects an integer from 0 to 19, not '${bad}'\n`);
    }
    const missing = await run(['-Ln', '--worker-nice']);
    assert.deepEqual([missing.status, missing.err], [2, "option '--worker-nice' needs a value: an integer from 0 to 19\n"]);
  });

  it('reads subcommand flags: values, =, optional values, aliases', () => {
    const p = parseFlags(['tcp', '--persistent', '--weight=5', '-w', '7', 'x'], { persistent: 'optional', weight: 'value', w2: 'value' }, { w: 'w2' });
    assert.deepEqual([...p.flags], [['persistent', true], ['weight', '5'], ['w2', '7']]);
    assert.deepEqual(p.positionals, ['tcp', 'x']);
    assert.deepEqual([...parseFlags(['--persistent', '300'], { persistent: 'optional' }).flags], [['persistent', '300']]);
  });

  it('describes plan operations as the ipvsadm rules that do them', () => {
    const svc = { protocol: 'tcp', address: '1.1.1.1', port: 80 } as const;
    assert.equal(describeOperation({ operation: 'addService', service: { ...svc, scheduler: 'lc' } }), '-A -t 1.1.1.1:80 -s lc');
    assert.equal(describeOperation({ operation: 'editService', service: { ...svc, persistence: {} } }), '-E -t 1.1.1.1:80 -s wlc -p 360');
    assert.equal(describeOperation({ operation: 'deleteService', service: { fwmark: 3, family: 'ipv6' } }), '-D -f 3 -6');
    assert.equal(
      describeOperation({ operation: 'addDestination', service: svc, destination: { address: '2.2.2.2', forwarding: 'masq', weight: 100, upperThreshold: 9 } }),
      '-a -t 1.1.1.1:80 -r 2.2.2.2:80 -m -w 100 -x 9 -y 0',
    );
    assert.equal(describeOperation({ operation: 'drainDestination', service: svc, destination: { address: '2.2.2.2', forwarding: 'masq', weight: 0 } }), '-e -t 1.1.1.1:80 -r 2.2.2.2:80 -m -w 0  # drain');
    assert.equal(describeOperation({ operation: 'deleteDestination', service: svc, destination: { address: '2001:db8::2', port: 80 } }), '-d -t 1.1.1.1:80 -r [2001:db8::2]:80');
  });

  it('counts never-sent changes as failures, with their cause, and says when an existing object differs', () => {
    const svc = { protocol: 'tcp', address: '1.1.1.1', port: 80 } as const;
    const counts = (statuses: ChangeStatus[]) => {
      const c = { applied: 0, already: 0, failed: 0, unknown: 0, unsent: 0, skipped: 0 };
      for (const st of statuses) c[st]++;
      return c;
    };
    const print = (result: BatchResult, options: { quiet?: boolean; strict?: boolean } = {}) => {
      let out = '';
      let err = '';
      const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), stdin: async () => '', readFile: async () => '' };
      const status = printApplyResult({ io, program: 'ipvs', open: async () => Promise.reject(new Error('unused')) }, result, options);
      return { status, out, err };
    };
    const unsent = new IpvsError('addService service tcp 1.1.1.2:80: not sent, an earlier failure stopped the batch (ENOBUFS: No buffer space available)', { code: NOT_SENT, errno: 105, operation: 'addService', object: 'service tcp 1.1.1.2:80' });
    const r1 = print({
      changes: [
        { operation: { operation: 'addService', service: svc }, status: 'applied' },
        { operation: { operation: 'addService', service: { ...svc, address: '1.1.1.2' } }, status: 'unsent', error: unsent },
      ],
      counts: counts(['applied', 'unsent']),
    }, { quiet: true });
    assert.equal(r1.status, 255);
    assert.equal(r1.err, `unsent   -A -t 1.1.1.2:80 -s wlc: ${unsent.message}\n`);
    const exists = new IpvsError('service tcp 1.1.1.1:80 already exists', { code: 'EEXIST', errno: 17, operation: 'addService', object: 'service tcp 1.1.1.1:80' });
    const already = { changes: [{ operation: { operation: 'addService', service: { ...svc, scheduler: 'rr' } }, status: 'already', error: exists, differs: true }], counts: counts(['already']) } as BatchResult;
    const r2 = print(already, { quiet: true });
    assert.equal(r2.status, 0); // apply: the kernel already holds the object; the difference is said, not a failure
    assert.equal(r2.err, 'already  -A -t 1.1.1.1:80 -s rr: service tcp 1.1.1.1:80 already exists with other settings\n');
    assert.equal(print(already, { quiet: true, strict: true }).status, 255); // restore --atomic --replace
  });

  it('keeps the drain state in a file: made with its directory, replaced whole, a corrupt one an error', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-drains-'));
    try {
      const file = path.join(dir, 'run', 'ipvs', 'drains.json');
      assert.equal((await readDrainClock(file)).size, 0); // no file yet: no drains
      const clock = DrainClock.from({ version: 1, starts: { 'a|b': 1700000000000 } });
      await writeDrainClock(file, clock);
      assert.deepEqual(fs.readdirSync(path.dirname(file)), ['drains.json']); // no temporary file left
      assert.deepEqual((await readDrainClock(file)).toJSON(), clock.toJSON());
      for (const text of ['{"version": 1, "starts": {"a|b": "soon"}}', '{"version": 1', '[]']) {
        fs.writeFileSync(file, text);
        await assert.rejects(readDrainClock(file), (e: Error) => e instanceof CliError && e.status === 2 && e.message.startsWith(`the drain state ${file} is not one (`), text);
      }
      // A directory where the file should be: the write fails by name, and leaves no temporary file.
      const blocked = path.join(dir, 'blocked');
      fs.mkdirSync(blocked);
      await assert.rejects(writeDrainClock(blocked, clock), (e: Error) => e instanceof CliError && e.status === 255 && e.message.startsWith(`cannot save the drain state ${blocked}:`));
      assert.deepEqual(fs.readdirSync(dir).sort(), ['blocked', 'run']);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('apply: --drain-state goes with --drain', async () => {
    const r = await run(['apply', 't.json', '--drain-state', '/tmp/x.json'], '', { 't.json': '[]' });
    assert.deepEqual([r.status, r.err, r.opened], [2, '--drain-state goes with --drain\n', 0]);
    assert.match((await run(['apply', '--help'])).out, /--drain-state FILE/);
  });
});
