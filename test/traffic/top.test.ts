// `ipvs top` in a real terminal: tmux runs the installed bin in an 80x24
// pane, the test types keys (send-keys) and reads the screen (capture-pane).
// A service's packets/s rise while real traffic flows through it, sorting
// by packets puts it first and 'n' (name) puts it after an idle one, and 'q'
// or Ctrl-C quits with status 0 and the terminal given back: main screen,
// cursor shown, cooked mode (icanon) again.
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as path from 'path';
import type * as ipvs from '../../lib';
import { Topology } from '../../lib/testing/topology';
import { eventually, note, useTrafficNetwork } from './helpers';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'ipvs.js');
/** A tmux server of this test's own (its own socket), so nothing else is touched. */
const SOCKET = `ipvs-top-test-${process.pid}`;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

function screen(session: string): string[] {
  return tmux('capture-pane', '-p', '-t', session).split('\n');
}

/** A compact number as top prints it (1.5K, 12, 0.5, -) back to a number; NaN for '-'. */
function parseCompact(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGTPE]?)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * 1000 ** ' KMGTPE'.indexOf(m[2] || ' ');
}

interface Row {
  index: number;
  active: number;
  inpps: number;
}

/** The service row whose name starts with `name`, read with the header's columns. */
function serviceRow(lines: string[], name: string): Row | undefined {
  const header = lines.findIndex((l) => l.startsWith('SERVICE / DESTINATION'));
  const index = lines.findIndex((l) => l.startsWith(name));
  if (header < 0 || index < 0) return undefined;
  const titles = lines[header].trim().split(/\s+/).slice(3); // after 'SERVICE / DESTINATION'
  const cells = lines[index].slice(lines[index].indexOf(' rr') + 3).trim().split(/\s+/);
  const at = (title: string) => parseCompact(cells[titles.indexOf(title)]);
  return { index, active: at('ACTIVE'), inpps: at('PKTIN/S') };
}

describe('traffic: ipvs top in a terminal (tmux)', function () {
  this.timeout(300_000);
  let topo: Topology;
  let handle: ipvs.IpvsHandle;
  const busy = '198.18.63.2';
  const idle = '198.18.63.1';

  useTrafficNetwork({ backends: 2 }, (t, h) => {
    topo = t;
    handle = h;
  });
  after(() => {
    try {
      tmux('kill-server');
    } catch {
      // no server left
    }
  });

  /** Starts `ipvs top ARGS` in a new 80x24 session; after it ends the pane shows its status and the tty mode. */
  function startTop(session: string, args: string): void {
    const after = 'echo top-exit=$?; stty -a | tr -s " ;" "\\n\\n" | grep -x -e -icanon -e icanon; sleep 300';
    tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', `${process.execPath} ${BIN} top ${args}; ${after}`);
  }

  function paneState(session: string): string {
    return tmux('display-message', '-p', '-t', session, '#{alternate_on} #{cursor_flag}').trim();
  }

  it('shows packets/s rising with traffic, sorts on a key, quits on q with the terminal restored', async () => {
    for (const vip of [idle, busy]) {
      await topo.addVip(vip);
      const service = { protocol: 'tcp', address: vip, port: 80 } as const;
      await handle.addService({ ...service, scheduler: 'rr' });
      for (const b of topo.backends) await handle.addDestination(service, { address: b.ipv4, forwarding: 'masq' });
    }
    startTop('top', '--interval 1');
    const quiet = await eventually(async () => {
      const lines = screen('top');
      return serviceRow(lines, `TCP  ${busy}:80`) && serviceRow(lines, `TCP  ${idle}:80`) && lines;
    }, 'top to show both services', 150_000);
    note(`before traffic:\n${quiet.slice(0, 9).join('\n')}`);
    assert.match(quiet[0], /^ipvs top - \d\d:\d\d:\d\d {2}2 services, 4 destinations {2}every 1s$/);
    assert.match(quiet[1], /^sort: packets /);
    assert.ok(quiet.every((l) => l.length <= 80), 'fits 80 columns');
    assert.equal(paneState('top'), '1 0', 'alternate screen on, cursor hidden');
    const before = serviceRow(quiet, `TCP  ${busy}:80`)!;
    assert.ok(!(before.inpps > 0), `no packets/s before traffic (${before.inpps})`);

    let flowing = true;
    const traffic = (async () => {
      const until = Date.now() + 60_000;
      while (flowing && Date.now() < until) await topo.requests(busy, 80, 4);
    })();
    let during: string[];
    try {
      during = await eventually(async () => {
        const lines = screen('top');
        const b = serviceRow(lines, `TCP  ${busy}:80`);
        return b && b.inpps > 0 && lines;
      }, 'packets/s of the busy service to rise', 45_000);
      note(`with traffic:\n${during.slice(0, 9).join('\n')}`);
      // sorted by packets/s: the busy service (and its destinations) first
      assert.ok(serviceRow(during, `TCP  ${busy}:80`)!.index < serviceRow(during, `TCP  ${idle}:80`)!.index, 'busy first by packets');
      tmux('send-keys', '-t', 'top', 'n');
      const byName = await eventually(async () => {
        const lines = screen('top');
        return /^sort: name /.test(lines[1]) && lines;
      }, 'the sort to change to name', 20_000);
      note(`after 'n':\n${byName.slice(0, 9).join('\n')}`);
      assert.ok(serviceRow(byName, `TCP  ${idle}:80`)!.index < serviceRow(byName, `TCP  ${busy}:80`)!.index, 'address order by name');
    } finally {
      flowing = false;
      await traffic;
    }

    tmux('send-keys', '-t', 'top', 'q');
    const done = await eventually(async () => {
      const lines = screen('top');
      return lines.some((l) => /^(-)?icanon$/.test(l)) && lines;
    }, 'top to quit', 30_000);
    assert.ok(done.includes('top-exit=0'), done.join('\n'));
    assert.ok(done.includes('icanon'), 'cooked mode restored (icanon)');
    assert.ok(!done.some((l) => l.startsWith('SERVICE / DESTINATION')), 'the main screen is back, without the view');
    assert.equal(paneState('top'), '0 1', 'main screen, cursor shown');
  });

  it('quits on Ctrl-C with status 0 and the terminal restored', async () => {
    startTop('ctrlc', '--interval 1 --sort active');
    await eventually(async () => screen('ctrlc').some((l) => l.startsWith('SERVICE / DESTINATION')), 'top to draw', 150_000).catch((e) => {
      let ps = '';
      try {
        ps = execFileSync('ps', ['-eo', 'pid,stat,etime,args'], { encoding: 'utf8' });
      } catch {
        // no ps
      }
      throw new Error(`${e.message}; the pane shows:\n${screen('ctrlc').join('\n').trim()}\nprocesses:\n${ps}`);
    });
    tmux('send-keys', '-t', 'ctrlc', 'C-c');
    const done = await eventually(async () => {
      const lines = screen('ctrlc');
      return lines.some((l) => /^(-)?icanon$/.test(l)) && lines;
    }, 'top to quit', 30_000);
    assert.ok(done.includes('top-exit=0'), done.join('\n'));
    assert.ok(done.includes('icanon'));
    assert.equal(paneState('ctrlc'), '0 1');
  });
});
