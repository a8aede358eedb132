// apply() and batch() against the kernel, checked with ipvsadm -Sn.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { ipvsadm, resetTable, savedRules, suiteHandle } from './helpers';

const vip = (i: number) => ({ protocol: 'tcp', address: `198.18.${10 + (i >> 8)}.${i & 255}`, port: 80, scheduler: 'rr' }) as const;
const backend = (j: number, weight = 1) => ({ address: `198.18.20.${j}`, forwarding: 'masq', weight }) as const;

function desiredTable(services: number, destinations: number): ipvs.DesiredService[] {
  return Array.from({ length: services }, (_, i) => ({
    ...vip(i + 1),
    destinations: Array.from({ length: destinations }, (_, j) => backend(j + 1)),
  }));
}

describe('kernel: apply() and batch()', function () {
  const h = suiteHandle();
  let handle: ipvs.IpvsHandle;
  beforeEach(() => {
    handle = h();
  });

  it('creates a table, then a second apply plans nothing (converges)', async () => {
    const desired = desiredTable(20, 3);
    const first = await handle.apply(desired);
    assert.deepEqual(first.counts, { applied: 80, already: 0, failed: 0, unknown: 0, unsent: 0, skipped: 0 });
    assert.equal(savedRules().length, 80);
    assert.ok(savedRules().includes('-a -t 198.18.10.20:80 -r 198.18.20.3:80 -m -w 1'));
    const second = await handle.apply(desired);
    assert.equal(second.plan.length, 0);
    // The listing itself is a desired state that changes nothing.
    assert.equal((await handle.apply(await handle.list())).plan.length, 0);
  });

  it('changes in place with one SET, adds and removes only what differs, in a safe order', async () => {
    await handle.apply(desiredTable(3, 2));
    const desired = desiredTable(3, 2);
    desired[0] = { ...desired[0], scheduler: 'wlc' };
    desired[1] = { ...desired[1], destinations: [backend(1, 5), backend(3)] };
    desired.pop();
    desired.push({ fwmark: 9, family: 'ipv6', scheduler: 'mh', destinations: [{ address: '2001:db8::5', forwarding: 'route' }] });
    const result = await handle.apply(desired, { prune: true });
    assert.deepEqual(
      result.plan.map((op) => op.operation),
      ['addService', 'editService', 'editDestination', 'addDestination', 'addDestination', 'deleteDestination', 'deleteService'],
    );
    assert.equal(result.counts.applied, 7);
    assert.deepEqual(savedRules().sort(), [
      '-A -f 9 -6 -s mh',
      '-a -f 9 -6 -r [2001:db8::5]:0 -g -w 1',
      '-A -t 198.18.10.1:80 -s wlc',
      '-a -t 198.18.10.1:80 -r 198.18.20.1:80 -m -w 1',
      '-a -t 198.18.10.1:80 -r 198.18.20.2:80 -m -w 1',
      '-A -t 198.18.10.2:80 -s rr',
      '-a -t 198.18.10.2:80 -r 198.18.20.1:80 -m -w 5',
      '-a -t 198.18.10.2:80 -r 198.18.20.3:80 -m -w 1',
    ].sort());
    assert.equal((await handle.apply(desired, { prune: true })).plan.length, 0);
  });

  it('prune: never by default; a predicate deletes only the services it owns', async () => {
    ipvsadm('-A', '-t', '10.0.0.1:80');
    ipvsadm('-A', '-t', '198.18.10.99:80');
    await handle.apply(desiredTable(1, 1));
    assert.equal(savedRules().length, 4, 'foreign services left alone by default');
    const result = await handle.apply(desiredTable(1, 1), { prune: (s) => s.address?.startsWith('198.18.') === true });
    assert.deepEqual(result.plan.map((op) => op.operation), ['deleteService']);
    assert.deepEqual(savedRules().sort(), ['-A -t 10.0.0.1:80 -s wlc', '-A -t 198.18.10.1:80 -s rr', '-a -t 198.18.10.1:80 -r 198.18.20.1:80 -m -w 1'].sort());
  });

  it('maxDeletes refuses a plan that removes too much, before sending anything', async () => {
    await handle.apply(desiredTable(4, 2));
    const before = savedRules();
    await assert.rejects(handle.apply(desiredTable(1, 1), { prune: true, maxDeletes: 3 }), (e: ipvs.IpvsError) => {
      assert.equal(e.code, ipvs.TOO_MANY_DELETES);
      assert.match(e.message, /would remove 10 services and destinations, more than maxDeletes \(3\)/);
      return true;
    });
    assert.deepEqual(savedRules(), before);
  });

  it('takes its place in call order when called: a call made after apply() or batch() runs after its send', async () => {
    const desired = desiredTable(100, 2);
    // Made after apply(): must not run before apply's read or between its read and its send.
    const applied = handle.apply(desired);
    const deleted = handle.deleteService(vip(1));
    const [result] = await Promise.all([applied, deleted]);
    assert.equal(result.counts.applied, 300);
    assert.equal(savedRules().length, 297);
    assert.ok(!savedRules().some((l) => l.startsWith('-A -t 198.18.10.1:80 ')));
    const batched = handle.batch([{ operation: 'addService', service: vip(1) }]);
    const edited = handle.editService(vip(1), { scheduler: 'wlc' });
    await Promise.all([batched, edited]);
    assert.ok(savedRules().includes('-A -t 198.18.10.1:80 -s wlc'));
  });

  it('dryRun returns the plan and sends nothing', async () => {
    const result = await handle.apply(desiredTable(2, 2), { dryRun: true });
    assert.equal(result.plan.length, 6);
    assert.equal(result.counts.skipped, 6);
    assert.deepEqual(savedRules(), []);
  });

  it("onError 'rollback' after a failure in the middle leaves ipvsadm -Sn exactly as before", async () => {
    await handle.apply(desiredTable(3, 2));
    const before = savedRules();
    const desired = desiredTable(3, 2);
    desired[0] = { ...desired[0], scheduler: 'lc', destinations: [backend(1, 9)] };
    desired.push({ ...vip(50), scheduler: 'nosuch', destinations: [backend(1)] });
    desired.push({ ...vip(51), destinations: [backend(2)] });
    const result = await handle.apply(desired, { onError: 'rollback' });
    assert.ok(result.counts.failed >= 1);
    const failure = result.changes.find((c) => c.status === 'failed')!;
    assert.equal(failure.error?.code, 'ENOENT');
    assert.match(failure.error!.message, /scheduler "nosuch"/);
    assert.equal(result.rollback?.complete, true);
    assert.deepEqual(savedRules().sort(), before.sort());
  });

  it("onError 'continue' tries everything and reports each; another writer's EEXIST is 'already'", async () => {
    const desired = [...desiredTable(2, 1), { ...vip(60), scheduler: 'nosuch' }];
    ipvsadm('-A', '-t', '198.18.10.1:80', '-s', 'rr');
    // The table read says 10.1 exists; make an add race with it by planning first.
    resetTable();
    const plan = (await handle.apply(desired, { dryRun: true })).plan;
    ipvsadm('-A', '-t', '198.18.10.1:80', '-s', 'rr');
    const result = await handle.batch(plan);
    assert.deepEqual(result.changes.map((c) => c.status), ['already', 'applied', 'failed', 'applied', 'applied']);
    assert.equal(savedRules().length, 4);
  });

  it('batch() validates every operation first: a bad one sends nothing', async () => {
    await assert.rejects(
      handle.batch([
        { operation: 'addService', service: vip(1) },
        { operation: 'addDestination', service: vip(1), destination: { address: '198.18.20.1', weight: -1 } },
      ]),
      /operations\[1\]\.destination\.weight/,
    );
    assert.deepEqual(savedRules(), []);
  });

  it('drain: a leaving destination goes to weight 0 first, and is deleted by a later apply once idle', async () => {
    await handle.apply(desiredTable(1, 2));
    const desired = desiredTable(1, 1);
    const first = await handle.apply(desired, { drain: true });
    assert.deepEqual(first.plan.map((op) => op.operation), ['drainDestination']);
    assert.ok(savedRules().includes('-a -t 198.18.10.1:80 -r 198.18.20.2:80 -m -w 0'));
    assert.equal(first.draining.length, 1);
    // No connections: the next apply deletes it.
    const second = await handle.apply(desired, { drain: true });
    assert.deepEqual(second.plan.map((op) => op.operation), ['deleteDestination']);
    assert.equal(savedRules().length, 2);
  });

  it("reads each desired service's fields once: what it reports is what it sent", async () => {
    let reads = 0;
    const fickle = {
      protocol: 'tcp',
      address: '198.18.10.1',
      port: 80,
      get scheduler() {
        return reads++ === 0 ? 'rr' : 'wlc';
      },
      destinations: [backend(1)],
    };
    const result = await handle.apply([fickle as ipvs.DesiredService]);
    assert.equal(reads, 1);
    assert.deepEqual(savedRules(), ['-A -t 198.18.10.1:80 -s rr', '-a -t 198.18.10.1:80 -r 198.18.20.1:80 -m -w 1']);
    const added = result.plan[0] as Extract<ipvs.Operation, { operation: 'addService' }>;
    assert.equal(added.operation, 'addService');
    assert.equal(added.service.scheduler, 'rr');
    // A non-enumerable field is refused, as before, and nothing is sent.
    const hidden = Object.defineProperty({ ...vip(2) }, 'fwmark', { value: 7, enumerable: false });
    await assert.rejects(handle.apply([hidden as ipvs.DesiredService]), { name: 'TypeError', message: /Non-enumerable property 'fwmark' in desired\[0\]/ });
    assert.equal(savedRules().length, 2);
  });

  it('onProgress reports progress up to the total', async () => {
    const seen: Array<[number, number]> = [];
    await handle.apply(desiredTable(300, 3), { onProgress: (done, total) => seen.push([done, total]) });
    assert.ok(seen.length >= 2);
    assert.deepEqual(seen[seen.length - 1], [1200, 1200]);
    assert.equal(savedRules().length, 1200);
  });

  it('the same at top level on the default handle', async () => {
    const result = await ipvs.apply(desiredTable(1, 1));
    assert.equal(result.counts.applied, 2);
    await ipvs.closeDefaultHandle();
  });
});
