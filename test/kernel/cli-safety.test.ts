// The ipvs command's promises that a table is never left half-changed or
// wrongly reported (issue 16): restore --atomic is all or nothing, and refuses
// what it could not undo; `ipvs apply --drain S` honours S across runs (each a
// process of its own) through its state file; -R stays ipvsadm's -R on a table
// another netlink tool made. Every check is the kernel's table (ipvsadm -Sn).
import assert from 'assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { addon } from '../../lib/addon';
import { ipvs } from './cli-run';
import { assertSandbox, ipvsadm, resetTable, sh } from './helpers';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'ipvs.js');

/** `ipvs ARGS` as a process of its own (what a cron job or a deploy script runs). */
function ipvsProcess(args: string[]): { status: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const TABLE = [
  '-A -t 198.18.0.10:80 -s rr',
  '-a -t 198.18.0.10:80 -r 198.19.0.2:80 -m -w 1',
  '-A -t 198.18.0.30:80 -s wlc',
  '-a -t 198.18.0.30:80 -r 198.19.0.5:80 -m -w 2',
  '-a -t 198.18.0.30:80 -r 198.19.0.6:8080 -m -w 3',
];

function load(rules: string[]): void {
  for (const rule of rules) sh(`ipvsadm ${rule}`);
}

describe('kernel: ipvs restore --atomic, apply --drain across runs, -R on tables other tools made', function () {
  this.timeout(300000);
  before(assertSandbox);
  beforeEach(resetTable);
  after(resetTable);

  it('restore --atomic: a 3rd line adding an existing service undoes every line applied (exit 255, the table exactly as before)', async () => {
    load(TABLE);
    const before = ipvsadm('-Sn');
    const text = [
      '-D -t 198.18.0.30:80', // an existing service with two destinations: re-added with both
      '-e -t 198.18.0.10:80 -r 198.19.0.2:80 -m -w 7', // an edit: set back
      '-A -t 198.18.0.10:80 -s wlc', // exists: 'already', which --atomic counts as a failure
      '-A -t 198.18.0.20:80 -s rr',
      '-a -t 198.18.0.20:80 -r 198.19.0.3:80 -m -w 2',
    ].join('\n');
    const r = await ipvs(['restore', '--atomic'], text);
    assert.equal(r.status, 255, r.err);
    assert.match(r.err, /^stdin:3: /m);
    assert.equal(ipvsadm('-Sn'), before);
    // The same text without --atomic applies every other line, as ipvsadm -R does.
    const plain = await ipvs(['restore'], text);
    assert.equal(plain.status, 255);
    assert.notEqual(ipvsadm('-Sn'), before);
  });

  it('restore --atomic: all of it when every line takes', async () => {
    load(TABLE.slice(0, 2));
    const r = await ipvs(['restore', '--atomic'], '-A -t 198.18.0.20:80 -s rr\n-a -t 198.18.0.20:80 -r 198.19.0.3:80 -m -w 2\n-d -t 198.18.0.10:80 -r 198.19.0.2:80\n');
    assert.equal(r.status, 0, r.err);
    assert.equal(ipvsadm('-Sn'), '-A -t 198.18.0.10:80 -s rr\n-A -t 198.18.0.20:80 -s rr\n-a -t 198.18.0.20:80 -r 198.19.0.3:80 -m -w 2\n');
  });

  it('restore --atomic refuses -C and -Z, which it could not undo: exit 2, nothing sent', async () => {
    load(TABLE);
    const before = ipvsadm('-Sn');
    for (const [text, line, what] of [
      ['-A -t 198.18.0.20:80 -s rr\n-C\n-A -t 198.18.0.21:80\n', 2, '-C'],
      ['-A -t 198.18.0.20:80 -s rr\n-D -t 198.18.0.10:80\n-Z\n', 3, '-Z'],
    ] as const) {
      const r = await ipvs(['restore', '--atomic'], text);
      assert.equal(r.status, 2, text);
      assert.equal(r.err, `stdin:${line}: --atomic cannot undo ${what} (${what === '-C' ? 'clear the table' : 'zero counters'}); nothing was applied\n`);
      assert.equal(ipvsadm('-Sn'), before, text);
    }
  });

  it('ipvsadm -Sn | ipvs -R gives what ipvsadm -Sn | ipvsadm -R gives, with a direct-routing destination on another port than its service (made over netlink)', async () => {
    load(['-A -t 198.18.0.40:80 -s rr', '-a -t 198.18.0.40:80 -r 198.19.0.8:80 -m -w 1']);
    // ipvsadm cannot make it (it rewrites a DR destination's port to the service's); keepalived and other netlink tools can.
    const raw = new addon.Handle();
    await raw.open();
    try {
      const C = addon.constants;
      const service = { family: 2, protocol: 6, address: '198.18.0.40', port: 80, fwmark: 0 };
      const failures = await raw.executeJson(
        JSON.stringify([
          { command: C.IPVS_CMD_NEW_DEST, service, destination: { family: 2, address: '198.19.0.9', port: 8080, forwarding: 3, weight: 4, upperThreshold: 0, lowerThreshold: 0 } },
        ]),
      );
      assert.deepEqual(failures, []);
    } finally {
      await raw.close();
    }
    const saved = ipvsadm('-Sn');
    assert.match(saved, /^-a -t 198\.18\.0\.40:80 -r 198\.19\.0\.9:8080 -g -w 4$/m);
    resetTable();
    const theirs = spawnSync('ipvsadm', ['-R'], { encoding: 'utf8', input: saved });
    const theirTable = ipvsadm('-Sn');
    resetTable();
    const ours = await ipvs(['-R'], saved);
    assert.equal(ours.status, theirs.status, ours.err);
    assert.equal(ipvsadm('-Sn'), theirTable);
  });

  it('apply --drain S removes a draining destination that still has connections once S has passed, in a later run (a process of its own)', async () => {
    load(TABLE.slice(0, 2));
    // A connection to the destination that will leave: a local client's SYN to the VIP is scheduled by IPVS
    // (to 198.19.0.2, the only destination) and, unanswered, stays in the table as an inactive connection.
    // Active plus inactive connections of 198.19.0.2, as ipvsadm -Ln shows them.
    const connections = () => {
      const m = /198\.19\.0\.2:80\s+Masq\s+\d+\s+(\d+)\s+(\d+)/.exec(ipvsadm('-Ln'));
      return m ? Number(m[1]) + Number(m[2]) : 0;
    };
    const client = net.connect({ host: '198.18.0.10', port: 80 });
    client.on('error', () => undefined);
    for (let tries = 0; connections() === 0 && tries < 100; tries++) await new Promise((resolve) => setTimeout(resolve, 100));
    client.destroy(); // a socket still connecting closes without a packet: the kernel's entry stays
    ipvsadm('-a', '-t', '198.18.0.10:80', '-r', '198.19.0.3:80', '-m', '-w', '1');
    assert.ok(connections() > 0, ipvsadm('-Ln'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-drain-'));
    const doc = path.join(dir, 'table.json');
    fs.writeFileSync(doc, JSON.stringify([{ protocol: 'tcp', address: '198.18.0.10', port: 80, scheduler: 'rr', destinations: [{ address: '198.19.0.3', forwarding: 'masq' }] }]));
    const state = path.join(dir, 'state', 'drains.json');
    const args = ['apply', doc, '--drain', '2', '--drain-state', state];
    const first = ipvsProcess(args);
    assert.equal(first.status, 0, first.err);
    assert.match(ipvsadm('-Sn'), /^-a -t 198\.18\.0\.10:80 -r 198\.19\.0\.2:80 -m -w 0$/m);
    assert.ok(fs.existsSync(state));
    execFileSync('sleep', ['3']); // past S
    assert.ok(connections() > 0, 'the connection is still there: only S can remove the destination');
    const second = ipvsProcess(args);
    assert.equal(second.status, 0, second.err);
    assert.equal(ipvsadm('-Sn'), '-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.19.0.3:80 -m -w 1\n');
    // A corrupt state file is an error, not a silent reset.
    fs.writeFileSync(state, '{"not": "a clock"');
    const corrupt = ipvsProcess(args);
    assert.equal(corrupt.status, 2);
    assert.match(corrupt.err, /drain state/);
    fs.rmSync(dir, { recursive: true });
  });
});
