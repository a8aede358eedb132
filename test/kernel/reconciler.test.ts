// The reconciler against the kernel: adoption with zero writes, changes by key
// without reading the table, bursts in one send, drift made by hand with
// ipvsadm found and repaired, and a refused write repaired by reading back
// that service alone. A spy on its narrow interface to the handle counts what
// it reads and sends; ipvsadm -Sn checks the kernel.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import type { PlanAccess } from '../../lib/handle';
import { Reconciler } from '../../lib/desired/reconciler';
import { ipvsadm, savedRules, suiteHandle } from './helpers';

const note = (text: string) => console.log(`      ${text}`);

const vip = (i: number) => `198.18.40.${i}`;
const key = (i: number) => ({ protocol: 'tcp', address: vip(i), port: 80 }) as const;
const backend = (j: number, weight = 1) => ({ address: `198.18.41.${j}`, forwarding: 'masq', weight }) as const;
const owns = (s: ipvs.PrunedService) => s.address?.startsWith('198.18.40.') === true;

function desired(services: number, destinations: number): ipvs.DesiredService[] {
  return Array.from({ length: services }, (_, i) => ({ ...key(i + 1), scheduler: 'rr', destinations: Array.from({ length: destinations }, (_, j) => backend(j + 1)) }));
}

/** The handle's narrow interface, with every read and send counted. */
function spyOn(handle: ipvs.IpvsHandle) {
  const access = (handle as unknown as { access: PlanAccess }).access;
  const calls = { readTable: 0, readService: [] as string[], sends: 0, requests: 0 };
  const spy: PlanAccess = {
    ...access,
    readTable: () => {
      calls.readTable++;
      return access.readTable();
    },
    readService: (k) => {
      calls.readService.push(`${k.address}:${k.port}`);
      return access.readService(k);
    },
    send: (requests, options) => {
      calls.sends++;
      calls.requests += requests.length;
      return access.send(requests, options);
    },
    deleteServices: (owned) => {
      calls.sends++;
      calls.requests += owned.size;
      return access.deleteServices(owned);
    },
  };
  return { spy, calls };
}

describe('kernel: reconciler', function () {
  const h = suiteHandle();
  let r: Reconciler | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });

  it('adopts a table equal to its desired state with zero writes, and changes one weight without reading the table', async () => {
    await h().apply(desired(5, 3));
    ipvsadm('-A', '-t', '198.18.99.1:80'); // not its own
    const { spy, calls } = spyOn(h());
    r = await Reconciler.start(spy, { owns });
    assert.equal(calls.readTable, 1, 'one read, at adoption');
    const first = await r.setDesired(desired(5, 3));
    assert.deepEqual(first.plan, []);
    assert.equal(calls.sends, 0, 'zero writes');
    const before = savedRules();
    const one = await r.setDestination(key(3), backend(2, 7));
    assert.deepEqual(one.plan.map((op) => op.operation), ['editDestination']);
    assert.equal(one.counts.applied, 1);
    assert.equal(calls.readTable, 1, 'no read of the table for a change');
    assert.deepEqual(calls.readService, []);
    assert.deepEqual(
      savedRules(),
      before.map((line) => (line === '-a -t 198.18.40.3:80 -r 198.18.41.2:80 -m -w 1' ? '-a -t 198.18.40.3:80 -r 198.18.41.2:80 -m -w 7' : line)),
    );
    assert.ok(savedRules().includes('-A -t 198.18.99.1:80 -s wlc'), 'what it does not own is left alone');
  });

  it('1,000 changes made in a burst leave in one send', async () => {
    const { spy, calls } = spyOn(h());
    r = await Reconciler.start(spy, { owns, maxDelay: 50 });
    await r.setDesired(desired(10, 0));
    assert.equal(calls.sends, 1);
    const changes: Promise<ipvs.ReconcileResult>[] = [];
    for (let i = 0; i < 10; i++) for (let j = 0; j < 100; j++) changes.push(r.setDestination(key(i + 1), { address: `198.18.42.${j}`, forwarding: 'masq' }));
    const results = await Promise.all(changes);
    assert.equal(calls.sends, 2, 'the burst left as one plan');
    assert.equal(calls.requests, 10 + 1000);
    assert.equal(results[0], results[999], 'every caller hears the one result');
    assert.equal(results[0].counts.applied, 1000);
    assert.equal(savedRules().length, 10 + 1000);
  });

  it('verify() finds drift made by hand with ipvsadm (inside what it owns only), reports and repairs it, comparing on the addon\'s worker', async () => {
    const { spy, calls } = spyOn(h());
    r = await Reconciler.start(spy, { owns });
    await r.setDesired(desired(3, 2));
    const wanted = savedRules();
    const seen: ipvs.Drift[] = [];
    r.on('drift', (d: ipvs.Drift) => seen.push(d));
    ipvsadm('-d', '-t', '198.18.40.1:80', '-r', '198.18.41.1:80');
    ipvsadm('-e', '-t', '198.18.40.2:80', '-r', '198.18.41.2:80', '-m', '-w', '9');
    ipvsadm('-A', '-t', '198.18.40.9:80');
    ipvsadm('-A', '-t', '198.18.99.2:80'); // outside: neither drift nor repaired
    const result = await r.verify();
    assert.deepEqual(result.drift.map((d) => d.kind).sort(), ['destinationChanged', 'destinationMissing', 'serviceAdded']);
    assert.equal(seen.length, 3);
    assert.deepEqual(result.repair.plan.map((op) => op.operation).sort(), ['addDestination', 'deleteService', 'editDestination']);
    assert.deepEqual(savedRules().sort(), [...wanted, '-A -t 198.18.99.2:80 -s wlc'].sort());
    assert.equal(r.counters.drifts, 3);
    const again = await r.verify();
    assert.deepEqual(again.drift, []);
    assert.deepEqual(again.repair.plan, []);
    assert.equal(calls.readTable, 1, 'verify never lists the table into JavaScript');
  });

  it('a write answered EEXIST or ESRCH reads back that service alone and repairs it', async () => {
    const { spy, calls } = spyOn(h());
    r = await Reconciler.start(spy, { owns });
    await r.setDesired(desired(3, 1));
    // Behind its back: the destination it is about to add exists with another weight; another service is deleted.
    ipvsadm('-a', '-t', '198.18.40.2:80', '-r', '198.18.41.5:80', '-m', '-w', '3');
    ipvsadm('-D', '-t', '198.18.40.3:80');
    const added = await r.setDestination(key(2), backend(5, 1));
    assert.deepEqual(added.changes.map((c) => [c.operation.operation, c.status]), [['addDestination', 'already'], ['editDestination', 'applied']]);
    assert.equal(added.changes[0].differs, true);
    assert.deepEqual(calls.readService.filter((k) => k === '198.18.40.2:80').length >= 1, true);
    const removed = await r.deleteDestination(key(3), backend(1));
    assert.deepEqual(removed.changes.map((c) => [c.operation.operation, c.status]), [['deleteDestination', 'already'], ['addService', 'applied']]);
    assert.equal(calls.readTable, 1, 'never the whole table');
    assert.ok(calls.readService.every((k) => k === '198.18.40.2:80' || k === '198.18.40.3:80'), calls.readService.join(' '));
    assert.ok(savedRules().includes('-a -t 198.18.40.2:80 -r 198.18.41.5:80 -m -w 1'));
    assert.ok(savedRules().includes('-A -t 198.18.40.3:80 -s rr'));
  });

  it('deleteAll() deletes what it owns from its model, without reading the table; owning all, with one flush', async () => {
    ipvsadm('-A', '-t', '198.18.99.3:80');
    const { spy, calls } = spyOn(h());
    r = await Reconciler.start(spy, { owns });
    await r.setDesired(desired(4, 2));
    const before = { ...calls };
    const result = await r.deleteAll();
    assert.equal(result.counts.applied, 4);
    assert.equal(calls.readTable, 1);
    assert.deepEqual([calls.sends - before.sends, calls.requests - before.requests], [1, 4], 'one send of one delete per service');
    assert.deepEqual(savedRules(), ['-A -t 198.18.99.3:80 -s wlc']);
    await r.close();
    r = await Reconciler.start(spy, { owns: 'all' });
    await r.setDesired(desired(2, 2));
    const sends = calls.sends;
    await r.deleteAll();
    assert.equal(calls.sends, sends + 1);
    assert.deepEqual(savedRules(), []);
  });

  it('deleteAll() by a predicate deletes IPv4, IPv6 and fwmark services alike (the addon makes each delete from its id)', async () => {
    ipvsadm('-A', '-t', '198.18.99.4:80'); // not its own
    const mixed = (s: ipvs.PrunedService) => owns(s) || s.fwmark === 77 || s.address === '2001:db8::40';
    r = await h().reconciler({ owns: mixed });
    await r.setDesired([
      ...desired(2, 1),
      { fwmark: 77, family: 'ipv6', scheduler: 'wrr', destinations: [{ address: '2001:db8::41', weight: 2 }] },
      { fwmark: 77, scheduler: 'rr', destinations: [backend(3)] },
      { protocol: 'udp', address: '2001:db8::40', port: 53, scheduler: 'rr', destinations: [{ address: '2001:db8::42', port: 53, forwarding: 'masq' }] },
    ]);
    assert.equal(savedRules().filter((l) => l.startsWith('-A')).length, 6);
    const result = await r.deleteAll();
    assert.deepEqual(result.counts, { applied: 5, already: 0, failed: 0, unknown: 0, unsent: 0, skipped: 0 });
    // Made when first read (here by JSON.stringify), then kept.
    const json = JSON.parse(JSON.stringify(result)) as ipvs.ReconcileResult;
    assert.deepEqual(json.changes.map((c) => c.status), ['applied', 'applied', 'applied', 'applied', 'applied']);
    assert.equal(result.changes, result.changes);
    result.changes.forEach((c, i) => assert.equal(c.operation, result.plan[i]));
    assert.deepEqual(result.plan.map((op) => op.service), [key(1), key(2), { fwmark: 77, family: 'ipv6' }, { fwmark: 77, family: 'ipv4' }, { protocol: 'udp', address: '2001:db8::40', port: 53 }]);
    assert.deepEqual(savedRules(), ['-A -t 198.18.99.4:80 -s wlc']);
  });

  it('deleteAll() reports each service: one deleted by hand is answered ESRCH and read back alone; a dry run sends nothing', async () => {
    const { spy, calls } = spyOn(h());
    await h().apply(desired(3, 2));
    r = await Reconciler.start(spy, { owns, dryRun: true });
    const before = savedRules();
    const sends = calls.sends;
    const dry = await r.deleteAll();
    assert.deepEqual(dry.counts, { applied: 0, already: 0, failed: 0, unknown: 0, unsent: 0, skipped: 3 });
    // In the model's order (the kernel's listing order at adoption).
    const byAddress = (x: [ipvs.ServiceKey, string], y: [ipvs.ServiceKey, string]) => String(x[0].address).localeCompare(String(y[0].address));
    assert.deepEqual(dry.changes.map((c): [ipvs.ServiceKey, string] => [c.operation.service, c.status]).sort(byAddress), [1, 2, 3].map((i) => [key(i), 'skipped']));
    assert.equal(calls.sends, sends, 'a dry run sends nothing');
    assert.deepEqual(savedRules(), before);
    await r.close();

    r = await Reconciler.start(spy, { owns });
    ipvsadm('-D', '-t', `${vip(2)}:80`); // behind its back: its delete is answered ESRCH
    calls.readService.length = 0;
    const result = await r.deleteAll();
    assert.deepEqual(result.counts, { applied: 2, already: 1, failed: 0, unknown: 0, unsent: 0, skipped: 0 });
    const gone = result.changes.find((c) => c.status === 'already')!;
    assert.deepEqual(gone.operation, { operation: 'deleteService', service: key(2) });
    assert.equal(gone.error?.code, 'ESRCH');
    // The per-service report is made when first read: the same each time, one operation object per change, and in JSON.
    assert.equal(result.changes, result.changes);
    result.changes.forEach((c, i) => assert.equal(c.operation, result.plan[i]));
    const json = JSON.parse(JSON.stringify(result)) as ipvs.ReconcileResult;
    assert.deepEqual(json.changes.map((c) => c.status).sort(), ['already', 'applied', 'applied']);
    assert.deepEqual(json.plan, result.plan);
    assert.deepEqual(calls.readService, [`${vip(2)}:80`], 'the service answered ESRCH is read back, alone');
    assert.deepEqual(savedRules(), []);
    assert.equal((await r.verify()).drift.length, 0, 'the model agrees with the kernel');
  });

  it('overrides (health decisions) hold a weight across resyncs, never fight a drain, and let go on null', async () => {
    r = await h().reconciler({ owns, drain: true });
    const table = desired(2, 3);
    await r.setDesired(table);
    const held = await r.overrideMany([
      { service: key(1), destination: backend(2), override: { weight: 0 } },
      { service: key(2), destination: backend(3), override: { remove: true } },
    ]);
    assert.deepEqual(held.plan.map((op) => op.operation).sort(), ['drainDestination', 'editDestination']);
    const lines = () => savedRules().filter((l) => l.startsWith('-a'));
    assert.ok(lines().includes('-a -t 198.18.40.1:80 -r 198.18.41.2:80 -m -w 0'));
    // The same desired state again (a resync) changes nothing: the overrides stand.
    const resync = await r.setDesired(desired(2, 3));
    assert.deepEqual(resync.plan, []);
    // A desired weight change under an override changes nothing either; null lets the desired state decide again.
    await r.setDestination(key(1), backend(2, 4));
    assert.ok(lines().includes('-a -t 198.18.40.1:80 -r 198.18.41.2:80 -m -w 0'));
    await r.override(key(1), backend(2), null);
    assert.ok(lines().includes('-a -t 198.18.40.1:80 -r 198.18.41.2:80 -m -w 4'));
    // An override of a destination the desired state drops does not keep it: it drains.
    await r.override(key(1), backend(1), { weight: 9 });
    const dropped = await r.deleteDestination(key(1), backend(1));
    assert.deepEqual(dropped.plan.map((op) => op.operation), ['drainDestination']);
    await assert.rejects(r.override(key(1), backend(1), { weight: 1, remove: true } as never), TypeError);
    await assert.rejects(r.override(key(1), backend(1), { weight: -1 }), RangeError);
  });

  it('an ipvsadm loop rewriting the first table during churn: after the next verify, the table is the desired state', async function () {
    this.timeout(300_000);
    const { spawn } = await import('child_process');
    r = await h().reconciler({ owns });
    let current = desired(6, 3);
    await r.setDesired(current);
    // Another writer keeps putting the first table back (adds answered EEXIST become edits), as a second controller would.
    const lines = current.flatMap((s) => s.destinations!.map((d) => `ipvsadm -a -t ${s.address}:80 -r ${d.address}:80 -m -w 1 2>/dev/null || ipvsadm -e -t ${s.address}:80 -r ${d.address}:80 -m -w 1 2>/dev/null`));
    // Each full pass of the loop prints a line: the test waits for passes, so the writers really overlap.
    const loop = spawn('sh', ['-c', `while true; do ${lines.join('; ')}; echo pass; done`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let passes = 0;
    loop.stdout!.on('data', (chunk: Buffer) => (passes += chunk.toString().split('pass').length - 1));
    const passed = (n: number) => new Promise<void>((resolve) => {
      const target = passes + n;
      const poll = setInterval(() => passes >= target && (clearInterval(poll), resolve()), 50);
    });
    try {
      await passed(1);
      for (let round = 0; round < 12; round++) {
        const i = (round % 6) + 1;
        current = current.map((s, k) =>
          k + 1 !== i ? s : { ...s, destinations: [backend(1, round + 2), ...(round % 2 ? [backend(3)] : [backend(4, 3)])] },
        );
        await r.setDesired(current);
        if (round % 4 === 3) await passed(1);
      }
      // One whole pass after the last change: the table now has the first table's weights back, and its destinations.
      await passed(1);
    } finally {
      loop.kill('SIGKILL');
      await new Promise((resolve) => loop.once('exit', resolve));
    }
    const repaired = await r.verify();
    note(`${passes} passes of the loop; drift found after it: ${repaired.drift.length}; repair: ${repaired.repair.plan.length} operations`);
    assert.ok(repaired.drift.length > 0, 'the loop undid changes behind its back');
    const check = await h().apply(current, { dryRun: true });
    assert.deepEqual(check.plan, [], 'the kernel equals the desired state');
    assert.deepEqual((await r.verify()).drift, []);
  });

  it('a change over maxDeletes is refused with nothing sent, and held (not forgotten) until the desired state allows it', async () => {
    r = await h().reconciler({ owns, maxDeletes: 2 });
    await r.setDesired(desired(2, 3));
    const before = savedRules();
    await assert.rejects(r.setDesired(desired(2, 0)), (e: ipvs.IpvsError) => e.code === ipvs.TOO_MANY_DELETES);
    assert.deepEqual(savedRules(), before);
    // Held: the next verify tries it again (and is refused again), it does not drop it.
    await assert.rejects(r.verify(), (e: ipvs.IpvsError) => e.code === ipvs.TOO_MANY_DELETES);
    const allowed = await r.setDesired(desired(2, 2));
    assert.deepEqual(allowed.plan.map((op) => op.operation), ['deleteDestination', 'deleteDestination']);
    assert.equal(savedRules().length, 2 + 4);
  });

  it('deleteAll() keeps call order with the changes around it: a whole state before it is deleted, a service set after it stays', async () => {
    for (const owns_ of [owns, 'all' as const]) {
      r = await h().reconciler({ owns: owns_ });
      await r.setDesired(desired(3, 2));
      // Not awaited: a whole state (checked in slices), then deleteAll, then one service.
      const before = r.setDesired(desired(5, 2));
      const all = r.deleteAll();
      const after = r.setService({ ...key(9), scheduler: 'rr', destinations: [backend(1)] });
      await Promise.all([before, all, after]);
      assert.deepEqual(savedRules(), [`-A -t ${vip(9)}:80 -s rr`, `-a -t ${vip(9)}:80 -r 198.18.41.1:80 -m -w 1`], String(owns_));
      await r.deleteAll();
      await r.close();
      r = undefined;
    }
  });

  it('refuses what it does not own and bad input, naming it, sending nothing', async () => {
    r = await h().reconciler({ owns });
    await assert.rejects(r.setService({ protocol: 'tcp', address: '198.18.99.9', port: 80 }), /Expected a service this reconciler owns/);
    await assert.rejects(r.setService({ ...key(1), scheduler: 7 as never }), TypeError);
    await assert.rejects(r.setDestination(key(1), backend(1)), /setService it first/);
    await assert.rejects(h().reconciler({ owns: 'some' as never }), TypeError);
    assert.deepEqual(savedRules(), []);
  });
});
