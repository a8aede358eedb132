// The wiring of health decisions to the reconciler (no kernel here: what is
// checked is the override each decision becomes, the overrides that keep a
// restarted checker's table as the kernel has it, the sorry server's place
// in the desired state, and notify commands; the kernel side is in the
// traffic suite, test/traffic/health*.test.ts).
import assert from 'assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initialOverrides, overrideSink, runNotify, splitHealth, toNotify, withSorryServers } from '../../lib/health';
import type { OverrideChange, OverrideTarget } from '../../lib/health';
import type { ReconcileResult } from '../../lib';

const NO_COUNTS = { applied: 0, already: 0, failed: 0, unknown: 0, unsent: 0, skipped: 0 };

class RecordingReconciler {
  calls: OverrideChange[][] = [];
  result: ReconcileResult = { plan: [], changes: [], counts: { ...NO_COUNTS }, draining: [] };
  overrideMany(changes: ReadonlyArray<OverrideChange>): Promise<ReconcileResult> {
    this.calls.push([...changes]);
    return Promise.resolve(this.result);
  }
}

const document = [
  {
    protocol: 'tcp', address: '198.18.0.10', port: 80, check: { type: 'tcp' },
    health: { sorryServer: { address: '198.19.9.9', weight: 3 }, notifyDown: ['/bin/true'] },
    destinations: [
      { address: '198.19.1.2', forwarding: 'route', weight: 100 },
      { address: '198.19.1.3', forwarding: 'route', weight: 50 },
      { address: '198.19.1.4', forwarding: 'route', weight: 10, check: null },
    ],
  },
  { protocol: 'tcp', address: '198.18.0.11', port: 80, check: { type: 'tcp' }, health: { onFailure: 'remove' }, destinations: [{ address: '198.19.1.2', weight: 7 }] },
];
const key = { protocol: 'tcp', address: '198.18.0.10', port: 80 } as const;
const key2 = { protocol: 'tcp', address: '198.18.0.11', port: 80 } as const;

describe('unit: health sink (decisions as reconciler overrides)', () => {
  const { desired, health } = splitHealth(document);

  it('holds a weight other than the desired one, releases the desired one, and removes for null', async () => {
    const r = new RecordingReconciler();
    const sink = overrideSink(r as unknown as OverrideTarget, health);
    await sink.setWeights([
      { service: key, destination: { address: '198.19.1.2', port: 80 }, weight: 0 },
      { service: key, destination: { address: '198.19.1.3', port: 80 }, weight: 50 },
      { service: key, destination: { address: '198.19.1.2', port: 80 }, weight: 40 },
      { service: key, destination: { address: '198.19.9.9', port: 80 }, weight: 3 },
      { service: key2, destination: { address: '198.19.1.2', port: 80 }, weight: null },
    ]);
    assert.equal(r.calls.length, 1, 'one batch, one overrideMany (one send)');
    assert.deepEqual(r.calls[0].map((c) => c.override), [{ weight: 0 }, null, { weight: 40 }, null, { remove: true }]);
  });

  it('rejects a batch the kernel did not take whole, so the monitor sends it again', async () => {
    const r = new RecordingReconciler();
    r.result = { plan: [], changes: [], counts: { ...NO_COUNTS, failed: 1 }, draining: [] };
    await assert.rejects(overrideSink(r as unknown as OverrideTarget, health).setWeights([{ service: key, destination: { address: '198.19.1.2', port: 80 }, weight: 0 }]), /1 failed/);
  });

  it('keeps the kernel weights of checked destinations at start; absent ones start at 0, or out with onFailure remove', () => {
    const table = [
      { ...key, destinations: [{ address: '198.19.1.2', port: 80, weight: 0 }, { address: '198.19.1.3', port: 80, weight: 50 }, { address: '198.19.1.4', port: 80, weight: 1 }, { address: '198.19.9.9', port: 80, weight: 0 }] },
    ];
    assert.deepEqual(initialOverrides(health, table), [
      { service: key, destination: { address: '198.19.1.2', port: 80 }, override: { weight: 0 } },
      // 198.19.1.3 at its desired weight: nothing held; 198.19.1.4 has no check: the desired state decides
      { service: key, destination: { address: '198.19.9.9', port: 80 }, override: { weight: 0 } },
      { service: key2, destination: { address: '198.19.1.2', port: 80 }, override: { remove: true } },
    ]);
    // Nothing in the kernel: every checked destination starts down, the sorry server out.
    assert.deepEqual(initialOverrides(health, []).map((o) => o.override), [{ weight: 0 }, { weight: 0 }, { remove: true }, { remove: true }]);
  });

  it('puts each sorry server in the desired state, forwarded as the first destination', () => {
    const out = withSorryServers(desired, health);
    assert.deepEqual((out[0] as { destinations: unknown[] }).destinations.at(-1), { address: '198.19.9.9', port: 80, weight: 3, forwarding: 'route' });
    assert.equal(out[1], desired[1], 'a service without a sorry server is left as it is');
    const clash = splitHealth([{ ...document[0], health: { sorryServer: { address: '198.19.1.2' } } }]);
    assert.throws(() => withSorryServers(clash.desired, clash.health), /^RangeError: Expected the sorry server of service tcp 198\.18\.0\.10:80 \(198\.19\.1\.2 port 80\) not to be one of its destinations too$/);
  });

  it('reads notify commands, refusing bad ones by name', () => {
    assert.deepEqual(health[0].notify, { up: undefined, down: ['/bin/true'] });
    assert.deepEqual(toNotify({ notifyUp: ['logger', 'up'] }, 'h'), { up: ['logger', 'up'], down: undefined });
    assert.throws(() => toNotify({ notifyUp: 'logger up' }, 'svc.health'), /^TypeError: Expected a non-empty array of strings \(argv, no shell\) for svc\.health\.notifyUp but received /);
    assert.throws(() => splitHealth([{ ...document[0], health: { notifyDown: [] } }]), /desired\[0\]\.health\.notifyDown/);
  });

  it('runs a notify command with the event in its environment, and kills a hung one at its timeout', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notify-'));
    const out = path.join(dir, 'env');
    const event = { service: 'service tcp 198.18.0.10:80', serviceKey: key, destination: { address: '198.19.1.2', port: 80 }, check: 'tcp' as const, reason: 'connect refused' };
    const done = await runNotify(['/bin/sh', '-c', `echo "$IPVS_STATE $IPVS_SERVICE $IPVS_DESTINATION_ADDRESS $IPVS_DESTINATION_PORT $IPVS_CHECK $IPVS_REASON" > ${out}`], 'down', event);
    assert.deepEqual(done, { ok: true, reason: 'exit 0' });
    assert.equal(fs.readFileSync(out, 'utf8'), 'down service tcp 198.18.0.10:80 198.19.1.2 80 tcp connect refused\n');
    // A hung command and the child it started: the whole group goes at the timeout.
    const pidFile = path.join(dir, 'pid');
    const hung = await runNotify(['/bin/sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`], 'up', event, 300);
    assert.deepEqual(hung, { ok: false, reason: 'killed after 0.3 s' });
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    // Gone, or a zombie waiting for whoever inherited it to reap it: not running either way.
    const state = fs.existsSync(`/proc/${child}/stat`) ? fs.readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1][0] : 'gone';
    assert.ok(state === 'gone' || state === 'Z', `the command's own child was killed with it (state ${state})`);
    assert.deepEqual(await runNotify(['/nonexistent/notify'], 'up', event), { ok: false, reason: 'cannot run /nonexistent/notify: ENOENT' });
    fs.rmSync(dir, { recursive: true });
  });
});
