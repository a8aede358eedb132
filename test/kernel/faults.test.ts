// Faults (issue 10, item 5): each a named test asserting the exact error and
// checking the kernel's state with ipvsadm. Sizes are chosen for CI in the
// software-emulated VM; IPVS_FAULTS_FULL=1 runs the full sizes of the issue
// (1,000 close() loops). The 200,000-operation event-loop figure is
// scripts/event-loop-check; the leak figures are scripts/leak-check.
import assert from 'assert/strict';
import { execFile, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { monitorEventLoopDelay, performance } from 'perf_hooks';
import * as ipvs from '../../lib';
import type { RawHandle } from '../../lib/addon';
import { createHandle } from '../../lib/ipvs-handle';
import { assertSandbox, ipvsadm, resetTable, savedRules, sh } from './helpers';

const FULL = process.env.IPVS_FAULTS_FULL === '1';
const LIB = path.join(__dirname, '..', '..', 'lib');
const EPERM_TEXT = 'permission denied (IPVS needs CAP_NET_ADMIN in the network namespace)';

const vip = (i: number) => ({ protocol: 'tcp', address: `198.18.${100 + (i >> 8)}.${i & 255}`, port: 80 }) as const;
const backend = (j: number) => `198.19.${(j >> 8) & 255}.${(j & 255) || 1}`;
const line = (i: number) => `-t ${vip(i).address}:80`;

/** The raw handle under a public one, for _testFault. */
const rawOf = (h: ipvs.IpvsHandle) => (h as unknown as { native: RawHandle }).native;

/** A fresh network namespace with a route for masq destinations. */
function freshNamespace(name: string): void {
  execFileSync('ip', ['netns', 'add', name]);
  sh(`ip -n ${name} link add dummy0 type dummy && ip -n ${name} link set dummy0 up && ip -n ${name} addr add 198.18.0.1/15 dev dummy0 && ip -n ${name} route add default dev dummy0`);
}

/** Loads a table with ipvsadm -R (fast), optionally inside a namespace. */
function restore(lines: string[], netns?: string): void {
  const file = `/tmp/ipvs-faults-${process.pid}.rules`;
  fs.writeFileSync(file, lines.join('\n') + '\n');
  try {
    sh(`${netns ? `ip netns exec ${netns} ` : ''}ipvsadm -R < ${file}`);
  } finally {
    fs.unlinkSync(file);
  }
}

/** list() in ipvsadm -Sn's words, for the plain TCP services with masq destinations these tests make. */
function rulesOf(services: ipvs.Service[]): string[] {
  const lines: string[] = [];
  for (const s of services) {
    const id = `-t ${s.address}:${s.port}`;
    lines.push(`-A ${id} -s ${s.scheduler}`);
    for (const d of s.destinations) lines.push(`-a ${id} -r ${d.address}:${d.port} -m -w ${d.weight}`);
  }
  return lines.sort();
}

/** Runs node with a script against the built library; resolves with its exit code and output. */
function child(script: string, options: { prefix?: string[]; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [...(options.prefix ?? []), process.execPath, '-e', script];
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0], argv.slice(1), { env: { ...process.env, IPVS_LIB: LIB, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The error fields a test compares. */
function summary(e: unknown): { name: string; code?: string; errno?: number; operation?: string; object?: string; message: string } {
  const x = e as ipvs.IpvsError;
  return { name: x.name, code: x.code, errno: x.errno, operation: x.operation, object: x.object, message: x.message };
}

/** Rejects with "hung" when `p` has not settled in `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms (hung)`)), ms);
    }),
  ]);
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;

describe('faults', function () {
  this.timeout(600_000);
  let handle: ipvs.IpvsHandle;
  before(async () => {
    assertSandbox();
    handle = await ipvs.open();
  });
  after(() => handle?.close());
  beforeEach(resetTable);

  it('without CAP_NET_ADMIN: every read and write is EPERM, said plainly, and the table is untouched', async () => {
    ipvsadm('-A', '-t', '198.18.1.1:80', '-s', 'rr');
    ipvsadm('-a', '-t', '198.18.1.1:80', '-r', '198.19.0.2:80', '-m', '-w', '1');
    const before = savedRules();
    // setpriv drops the capability from the bounding set, so the exec'd node
    // (uid 0) gets every capability but CAP_NET_ADMIN.
    const script = `
      const ipvs = require(process.env.IPVS_LIB);
      const web = { protocol: 'tcp', address: '198.18.1.1', port: 80 };
      const other = { protocol: 'tcp', address: '198.18.1.2', port: 80 };
      const d = { address: '198.19.0.2', port: 80 };
      const calls = {
        info: (h) => h.info(), list: (h) => h.list(), listServices: (h) => h.listServices(),
        getService: (h) => h.getService(web), listDestinations: (h) => h.listDestinations(web),
        getTimeouts: (h) => h.getTimeouts(), listDaemons: (h) => h.listDaemons(),
        addService: (h) => h.addService({ ...other, scheduler: 'rr' }), editService: (h) => h.editService(web, { scheduler: 'wrr' }),
        deleteService: (h) => h.deleteService(web), addDestination: (h) => h.addDestination(web, { address: '198.19.0.3', forwarding: 'masq' }),
        editDestination: (h) => h.editDestination(web, { ...d, weight: 5 }), deleteDestination: (h) => h.deleteDestination(web, d),
        flush: (h) => h.flush(), zero: (h) => h.zero(), setTimeouts: (h) => h.setTimeouts({ tcp: 100 }),
        apply: (h) => h.apply([{ ...other, scheduler: 'rr' }]),
      };
      (async () => {
        const status = require('fs').readFileSync('/proc/self/status', 'utf8');
        const out = { capEff: /CapEff:\\s*(\\w+)/.exec(status)[1], results: {} };
        const h = await ipvs.open();
        for (const [name, call] of Object.entries(calls)) {
          try { await call(h); out.results[name] = 'ok'; }
          catch (e) { out.results[name] = { name: e.name, code: e.code, errno: e.errno, operation: e.operation, object: e.object, message: e.message }; }
        }
        const b = await h.batch([{ operation: 'addService', service: { ...other, scheduler: 'rr' } }, { operation: 'deleteService', service: web }]);
        out.batch = b.changes.map((c) => [c.status, c.error && c.error.code, c.error && c.error.message]);
        await h.close();
        console.log(JSON.stringify(out));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await child(script, { prefix: ['setpriv', '--inh-caps=-all', '--bounding-set=-net_admin', '--'] });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal((BigInt(`0x${out.capEff}`) >> 12n) & 1n, 0n, 'CAP_NET_ADMIN (bit 12) is dropped');
    const objects: Record<string, string> = {
      getService: 'service tcp 198.18.1.1:80', listDestinations: 'service tcp 198.18.1.1:80', addService: 'service tcp 198.18.1.2:80',
      editService: 'service tcp 198.18.1.1:80', deleteService: 'service tcp 198.18.1.1:80',
      addDestination: 'destination 198.19.0.3:80 in service tcp 198.18.1.1:80', editDestination: 'destination 198.19.0.2:80 in service tcp 198.18.1.1:80',
      deleteDestination: 'destination 198.19.0.2:80 in service tcp 198.18.1.1:80', setTimeouts: 'timeouts',
    };
    for (const [name, result] of Object.entries(out.results) as Array<[string, ReturnType<typeof summary>]>) {
      const object = objects[name] ?? '';
      // apply() fails at its table read, before any change is sent.
      assert.deepEqual(result, {
        name: 'IpvsError', code: 'EPERM', errno: 1, operation: name, object,
        message: `${name}${object ? ` ${object}` : ''}: ${EPERM_TEXT}`,
      }, name);
    }
    assert.deepEqual(out.batch, [
      ['failed', 'EPERM', `addService service tcp 198.18.1.2:80: ${EPERM_TEXT}`],
      ['failed', 'EPERM', `deleteService service tcp 198.18.1.1:80: ${EPERM_TEXT}`],
    ]);
    assert.deepEqual(savedRules(), before);
  });

  it('a scheduler or persistence-engine module that cannot load: ENOENT naming the scheduler and its module', async function () {
    // Pointing modprobe at /bin/false is global: only in a throwaway VM.
    if (process.env.IPVS_SANDBOX_ACTIVE !== 'vm') this.skip();
    const loaded = () => fs.readFileSync('/proc/modules', 'utf8').split('\n').map((l) => l.split(' ')[0]);
    // A scheduler this run has not loaded, or can unload (no service uses it now).
    const candidates = ['sed', 'nq', 'lblcr', 'lblc', 'dh', 'fo', 'ovf'];
    for (const s of candidates) if (loaded().includes(`ip_vs_${s}`)) sh(`rmmod ip_vs_${s} 2>/dev/null || true`);
    if (loaded().includes('ip_vs_pe_sip')) sh('rmmod ip_vs_pe_sip 2>/dev/null || true');
    const scheduler = candidates.find((s) => !loaded().includes(`ip_vs_${s}`));
    assert.ok(scheduler, 'a scheduler module is unloaded');
    ipvsadm('-A', '-t', '198.18.1.1:80', '-s', 'rr'); // loads rr while modprobe works
    const web = { protocol: 'tcp', address: '198.18.1.1', port: 80 } as const;
    const other = { protocol: 'tcp', address: '198.18.1.2', port: 80 } as const;
    const modprobe = fs.readFileSync('/proc/sys/kernel/modprobe', 'utf8').trim();
    fs.writeFileSync('/proc/sys/kernel/modprobe', '/bin/false');
    try {
      const missing = `the kernel does not know the scheduler "${scheduler}" (module ip_vs_${scheduler})`;
      await assert.rejects(handle.addService({ ...other, scheduler }), (e: ipvs.IpvsError) => {
        assert.deepEqual(summary(e), { name: 'IpvsError', code: 'ENOENT', errno: 2, operation: 'addService', object: 'service tcp 198.18.1.2:80', message: `addService service tcp 198.18.1.2:80: ${missing}` });
        return true;
      });
      await assert.rejects(handle.editService(web, { scheduler }), (e: ipvs.IpvsError) => {
        assert.deepEqual([e.code, e.message], ['ENOENT', `editService service tcp 198.18.1.1:80: ${missing}`]);
        return true;
      });
      const applied = await handle.apply([{ ...web, scheduler: 'rr' }, { ...other, scheduler }]);
      assert.deepEqual(applied.changes.map((c) => [c.operation.operation, c.status, c.error?.code, c.error?.message]), [
        ['addService', 'failed', 'ENOENT', `addService service tcp 198.18.1.2:80: ${missing}`],
      ]);
      if (!loaded().includes('ip_vs_pe_sip'))
        await assert.rejects(handle.addService({ ...other, scheduler: 'rr', persistence: { timeout: 60 }, persistenceEngine: 'sip' }), (e: ipvs.IpvsError) => {
          assert.equal(e.code, 'ENOENT');
          // The kernel's ENOENT does not say which of the two is missing: both are named.
          assert.match(e.message, /persistence engine "sip" \(module ip_vs_pe_sip\)/);
          return true;
        });
      assert.deepEqual(savedRules(), ['-A -t 198.18.1.1:80 -s rr']);
    } finally {
      fs.writeFileSync('/proc/sys/kernel/modprobe', modprobe);
    }
    // With modprobe back, the same call loads the module and works: it was the module.
    await handle.addService({ ...other, scheduler });
    assert.deepEqual(savedRules().sort(), ['-A -t 198.18.1.1:80 -s rr', `-A -t 198.18.1.2:80 -s ${scheduler}`]);
  });

  describe('the handle\'s network namespace deleted', function () {
    const ns = 'ipvs-faults-gone';
    afterEach(() => {
      execFileSync('sh', ['-c', `ip netns del ${ns} 2>/dev/null || true`]);
    });

    /** The fd of this process that holds network namespace `ino`, as a path another process can enter. */
    function heldNamespace(ino: number): string | undefined {
      for (const fd of fs.readdirSync('/proc/self/fd')) {
        try {
          // stat() follows the fd to the namespace's own inode.
          if (fs.statSync(`/proc/self/fd/${fd}`).ino === ino) return `/proc/${process.pid}/fd/${fd}`;
        } catch {
          continue;
        }
      }
      return undefined;
    }
    const rulesIn = (nsPath: string) => execFileSync('nsenter', [`--net=${nsPath}`, 'ipvsadm', '-Sn'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();

    it('while the handle is open: the namespace lives on while the handle holds it, every call works, a reopened socket lands in it', async () => {
      freshNamespace(ns);
      const h = await ipvs.open({ netns: ns });
      try {
        await h.addService({ ...vip(1), scheduler: 'rr' });
        const ino = fs.statSync(`/run/netns/${ns}`).ino;
        execFileSync('ip', ['netns', 'del', ns]);
        assert.equal(fs.existsSync(`/run/netns/${ns}`), false);
        await assert.rejects(ipvs.open({ netns: ns }), (e: ipvs.IpvsError) => e.code === 'ENOENT' && e.message === `network namespace /run/netns/${ns} does not exist`);
        // Reads and writes still reach the deleted namespace's IPVS.
        await h.addService({ ...vip(2), scheduler: 'wlc' });
        await h.addDestination(vip(2), { address: '198.19.0.2', forwarding: 'masq' });
        await h.editService(vip(1), { scheduler: 'sh' });
        assert.deepEqual(rulesOf(await h.list()), ['-A -t 198.18.100.1:80 -s sh', '-A -t 198.18.100.2:80 -s wlc', '-a -t 198.18.100.2:80 -r 198.19.0.2:80 -m -w 1']);
        const held = heldNamespace(ino);
        assert.ok(held, 'the handle holds the namespace open');
        assert.deepEqual(rulesIn(held!), rulesOf(await h.list()));
        assert.deepEqual(savedRules(), []);
        // A failure mid-dump closes the socket; the next call reopens it in the same (deleted) namespace.
        await rawOf(h)._testFault({ failDumpAfterMessages: 0 });
        await assert.rejects(h.list(), (e: ipvs.IpvsError) => e.code === 'EBADMSG' && e.errno === 74);
        await h.deleteService(vip(1));
        assert.deepEqual(rulesIn(held!), ['-A -t 198.18.100.2:80 -s wlc', '-a -t 198.18.100.2:80 -r 198.19.0.2:80 -m -w 1']);
        await h.close();
        assert.equal(heldNamespace(ino), undefined, 'close() lets the namespace go');
        await assert.rejects(h.list(), (e: ipvs.IpvsError) => e.code === ipvs.HANDLE_CLOSED);
      } finally {
        await h.close();
      }
    });

    it('while a call is in flight: the call settles with the full answer', async () => {
      freshNamespace(ns);
      const lines: string[] = [];
      for (let i = 0; i < 800; i++) lines.push(`-A ${line(i)} -s rr`, `-a ${line(i)} -r ${backend(i)}:80 -m -w 1`);
      restore(lines, ns);
      const h = await ipvs.open({ netns: ns });
      try {
        const ino = fs.statSync(`/run/netns/${ns}`).ino;
        // One long native call (a dump of 800 services and their destinations) and a batch of changes.
        let listed = false;
        const listing = h.list().finally(() => (listed = true));
        const changes = h.apply(Array.from({ length: 300 }, (_, i) => ({ ...vip(2000 + i), scheduler: 'wrr' })));
        execFileSync('ip', ['netns', 'del', ns]); // blocks this thread; the dump goes on in the pool
        const deletedWhilePending = !listed;
        const [services, result] = await within(Promise.all([listing, changes]), 120_000, 'calls in flight');
        assert.ok(deletedWhilePending, 'the namespace was deleted while list() was pending');
        assert.equal(services.length, 800);
        assert.deepEqual(result.counts, { applied: 300, already: 0, failed: 0, unknown: 0, skipped: 0 });
        const expected = [...lines, ...Array.from({ length: 300 }, (_, i) => `-A ${line(2000 + i)} -s wrr`)].sort();
        assert.deepEqual(rulesOf(services), lines.slice().sort());
        assert.deepEqual(rulesIn(heldNamespace(ino)!), expected);
      } finally {
        await h.close();
      }
    });
  });

  it(`close() with calls in flight: every call settles, nothing hangs, in a loop of ${FULL ? '1,000' : 100}`, async () => {
    const rounds = FULL ? 1000 : 100;
    const fdsBefore = openFds();
    const expected: string[] = [];
    const names = ['addService', 'addDestination', 'editDestination', 'list', 'batch', 'close'];
    const refusedBefore: Record<string, number> = {};
    let refusedAfter = 0;
    for (let i = 0; i < rounds; i++) {
      // Every fourth round closes a handle whose socket is still opening.
      const h = i % 4 === 3 ? createHandle() : await ipvs.open();
      const key = vip(i);
      const before = [
        h.addService({ ...key, scheduler: 'rr' }),
        h.addDestination(key, { address: backend(i), forwarding: 'masq' }),
        h.editDestination(key, { address: backend(i), weight: 3 }),
        h.list(),
        h.batch([{ operation: 'editService', service: { ...key, scheduler: 'wrr' } }]),
        h.close(),
      ];
      const after = [h.deleteService(key), h.info(), h.apply([])];
      const settled = await within(Promise.allSettled([...before, ...after]), 60_000, `round ${i}`);
      // Calls made before close() complete or are refused as closed; calls made after it are refused.
      settled.slice(0, before.length).forEach((s, k) => {
        if (s.status === 'fulfilled') return;
        const e = s.reason as ipvs.IpvsError;
        assert.equal(e.code, ipvs.HANDLE_CLOSED, `round ${i} ${names[k]}: ${e.message}`);
        refusedBefore[names[k]] = (refusedBefore[names[k]] ?? 0) + 1;
      });
      for (const s of settled.slice(before.length)) {
        assert.equal(s.status, 'rejected');
        const e = (s as PromiseRejectedResult).reason as ipvs.IpvsError;
        assert.equal(e.code, ipvs.HANDLE_CLOSED);
        assert.match(e.message, /^(deleteService|info|apply): the IPVS handle is closed$/);
        refusedAfter++;
      }
      // Every call made before close() completes, batch() included (README: "calls made before it finish first").
      assert.deepEqual(settled.slice(0, 5).map((s) => s.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'], `round ${i}`);
      expected.push(`-A ${line(i)} -s wrr`, `-a ${line(i)} -r ${backend(i)}:80 -m -w 3`);
    }
    console.log(`      ${rounds} rounds: refused as closed, made before close(): ${JSON.stringify(refusedBefore)}, made after: ${refusedAfter}; fds ${fdsBefore} before, ${openFds()} after`);
    assert.deepEqual(savedRules().sort(), expected.sort());
    assert.equal(openFds(), fdsBefore);
    // The default handle too.
    const add = ipvs.addService({ ...vip(5000), scheduler: 'lc' });
    await ipvs.closeDefaultHandle();
    await add;
    assert.ok(savedRules().includes(`-A ${line(5000)} -s lc`));
  });

  it('a batch whose middle operations fail: every result reported, the table exactly as reported', async () => {
    // 400 services with 2 destinations each (1,200 operations, several slices and send buffers).
    // Every 37th service has an unknown scheduler (ENOENT; its destinations then ESRCH);
    // every 50th exists already (EEXIST: 'already'; its destinations are added).
    const exists = (i: number) => i % 50 === 7;
    const bad = (i: number) => i % 37 === 5;
    restore(Array.from({ length: 400 }, (_, i) => i).filter(exists).map((i) => `-A ${line(i)} -s wlc`));
    const operations: ipvs.Operation[] = [];
    for (let i = 0; i < 400; i++) {
      operations.push({ operation: 'addService', service: { ...vip(i), scheduler: bad(i) ? 'nosuch' : 'rr' } });
      for (let j = 0; j < 2; j++) operations.push({ operation: 'addDestination', service: vip(i), destination: { address: backend(j * 400 + i), forwarding: 'masq' } });
    }
    const expectedStatus = (k: number) => {
      const i = Math.floor(k / 3);
      if (k % 3 === 0) return bad(i) ? 'failed' : exists(i) ? 'already' : 'applied';
      return bad(i) ? 'failed' : 'applied';
    };
    const result = await handle.batch(operations);
    assert.equal(result.changes.length, operations.length);
    result.changes.forEach((c, k) => {
      assert.deepEqual(c.operation, operations[k]);
      assert.equal(c.status, expectedStatus(k), `operation ${k}`);
      const i = Math.floor(k / 3);
      if (c.status === 'failed' && k % 3 === 0)
        assert.equal(c.error!.message, `addService service tcp ${vip(i).address}:80: the kernel does not know the scheduler "nosuch" (module ip_vs_nosuch)`);
      if (c.status === 'failed' && k % 3 !== 0)
        assert.equal(c.error!.message, `service tcp ${vip(i).address}:80 does not exist`);
      if (c.status === 'already') assert.equal(c.error!.code, 'EEXIST');
    });
    const table = (changes: ipvs.ChangeResult[]) => {
      const lines: string[] = [];
      changes.forEach((c, k) => {
        const i = Math.floor(k / 3);
        if (c.status === 'failed' || c.status === 'skipped') return;
        if (k % 3 === 0) lines.push(`-A ${line(i)} -s ${c.status === 'already' ? 'wlc' : 'rr'}`);
        else lines.push(`-a ${line(i)} -r ${backend((k % 3 - 1) * 400 + i)}:80 -m -w 1`);
      });
      return lines.sort();
    };
    assert.deepEqual(savedRules().sort(), table(result.changes));
    console.log(`      continue: ${JSON.stringify(result.counts)}`);

    // onError 'stop': the first failure's slice is tried whole, nothing after it is sent.
    resetTable();
    restore(Array.from({ length: 400 }, (_, i) => i).filter(exists).map((i) => `-A ${line(i)} -s wlc`));
    const stopped = await handle.batch(operations, { onError: 'stop' });
    assert.equal(stopped.changes.length, operations.length);
    const firstSkipped = stopped.changes.findIndex((c) => c.status === 'skipped');
    assert.ok(firstSkipped > 15, 'the slice with the first failure was sent whole');
    stopped.changes.forEach((c, k) => assert.equal(c.status, k < firstSkipped ? expectedStatus(k) : 'skipped', `operation ${k}`));
    assert.deepEqual(savedRules().sort(), [...table(stopped.changes), ...Array.from({ length: 400 }, (_, i) => i).filter((i) => exists(i) && i * 3 >= firstSkipped).map((i) => `-A ${line(i)} -s wlc`)].sort());
    console.log(`      stop: ${JSON.stringify(stopped.counts)}, first skipped ${firstSkipped}`);
  });

  it('an overflowing receive queue: each call applied, refused or unknown (ERR_IPVS_OUTCOME_UNKNOWN), as the kernel shows; no other call is held back', async () => {
    // 1,500 concurrent adds, packed 256 to a native call: the first two slices
    // are new services (applied); in the third and fourth, 90% collide with
    // existing ones (EEXIST): their answers overflow a 4 KiB receive queue.
    // Answers lost: outcome unknown. The calls are independent, so the later
    // slices are still sent (the last two: all new, all applied).
    const n = 1500;
    const exists = (i: number) => i >= 600 && i < 850 && i % 10 !== 0;
    restore(Array.from({ length: n }, (_, i) => i).filter(exists).map((i) => `-A ${line(i)} -s wlc`));
    await rawOf(handle)._testFault({ receiveBufferBytes: 4096 });
    let settled: PromiseSettledResult<void>[];
    try {
      settled = await within(Promise.allSettled(Array.from({ length: n }, (_, i) => handle.addService({ ...vip(i), scheduler: 'rr' }))), 120_000, 'adds');
    } finally {
      await rawOf(handle)._testFault({});
    }
    const table = new Map(savedRules().map((l) => /^-A -t ([\d.]+):80 -s (\w+)$/.exec(l)!.slice(1, 3) as [string, string]));
    const counts: Record<string, number> = { applied: 0, EEXIST: 0, [ipvs.OUTCOME_UNKNOWN]: 0, [ipvs.NOT_SENT]: 0 };
    settled.forEach((s, i) => {
      const now = table.get(vip(i).address);
      const was = exists(i) ? 'wlc' : undefined;
      if (s.status === 'fulfilled') {
        counts.applied++;
        assert.equal(now, 'rr', `add ${i} reported applied`);
        return;
      }
      const e = s.reason as ipvs.IpvsError;
      counts[e.code] = (counts[e.code] ?? 0) + 1;
      const where = `addService service tcp ${vip(i).address}:80`;
      if (e.code === 'EEXIST') {
        assert.equal(e.message, `service tcp ${vip(i).address}:80 already exists`);
        assert.equal(now, 'wlc', `add ${i} reported refused`);
      } else if (e.code === ipvs.OUTCOME_UNKNOWN) {
        assert.equal(e.errno, 105);
        assert.ok(e.message.startsWith(`${where}: outcome unknown, it may or may not have been applied (ENOBUFS: `), e.message);
        assert.equal(now, was ?? 'rr', `add ${i}: whatever the kernel did, the table agrees with it`);
      } else if (e.code === ipvs.NOT_SENT) {
        assert.equal(e.errno, 105);
        assert.ok(e.message.startsWith(`${where}: not sent, an earlier failure stopped the batch (ENOBUFS: `), e.message);
        assert.equal(now, was, `add ${i} reported not sent`);
      } else assert.fail(`add ${i}: unexpected ${e.code}: ${e.message}`);
    });
    console.log(`      ${n} concurrent adds, 4 KiB receive buffer: ${JSON.stringify(counts)}`);
    assert.ok(counts[ipvs.OUTCOME_UNKNOWN] > 0, 'the queue overflowed');
    assert.ok(counts.applied > 0 && counts.EEXIST > 0);
    assert.equal(counts[ipvs.NOT_SENT], 0, "one caller's lost answer holds back no other caller");
    for (let i = 1024; i < n; i++) assert.equal(settled[i].status, 'fulfilled', `add ${i}, in a slice after the overflow, was sent and applied`);
    // The handle is fine afterwards.
    assert.equal((await handle.listServices()).length, table.size);
  });

  it('a dump larger than the receive buffer (4 KiB) lists the whole table', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) lines.push(`-A ${line(i)} -s rr`, `-a ${line(i)} -r ${backend(i)}:80 -m -w 1`, `-a ${line(i)} -r ${backend(i + 1000)}:80 -m -w 2`);
    restore(lines);
    await rawOf(handle)._testFault({ receiveBufferBytes: 4096 });
    try {
      const services = await within(handle.list(), 120_000, 'list()');
      assert.deepEqual(rulesOf(services), savedRules().sort());
      assert.equal(services.length, 1000);
    } finally {
      await rawOf(handle)._testFault({});
    }
  });

  it('a table changed by another process during dumps: every listing settles, consistent or a clear error', async () => {
    // 500 services no one touches, and another process adding and deleting
    // services (and destinations) among them as fast as it can.
    const stable = 500;
    const lines: string[] = [];
    for (let i = 0; i < stable; i++) lines.push(`-A ${line(2 * i)} -s rr`, `-a ${line(2 * i)} -r ${backend(i)}:80 -m -w 1`);
    restore(lines);
    const churn = Array.from({ length: 25 }, (_, k) => {
      const i = 2 * (k % 500) + 1; // odd: never a stable one
      return `-A ${line(i)} -s wlc\n-a ${line(i)} -r ${backend(k)}:80 -m -w 1\n-D ${line(i)}`;
    });
    const script = `/tmp/ipvs-faults-churn-${process.pid}`;
    fs.writeFileSync(script, churn.map((c) => c.split('\n').map((l) => `ipvsadm ${l}`).join('\n')).join('\n') + '\n');
    const churner = new Promise<number>((resolve) => execFile('sh', [script], (e) => resolve(e ? 1 : 0)));
    let running = true;
    void churner.then(() => (running = false));
    const stats = { listings: 0, errors: 0, missingStable: 0, duplicated: 0, churnedSeen: 0 };
    try {
      while (running || stats.listings === 0) {
        let services: ipvs.Service[];
        try {
          services = await within(handle.list(), 60_000, 'list() during changes');
        } catch (e) {
          // A clear error: an IpvsError with an errno, never anything else.
          assert.ok(e instanceof ipvs.IpvsError && e.errno > 0, String(e));
          stats.errors++;
          continue;
        }
        stats.listings++;
        const seen = new Map<string, number>();
        for (const s of services) {
          const address = s.address!;
          seen.set(address, (seen.get(address) ?? 0) + 1);
          const i = (Number(address.split('.')[2]) - 100) * 256 + Number(address.split('.')[3]);
          if (i % 2 === 1) {
            stats.churnedSeen++;
            assert.equal(s.scheduler, 'wlc');
            assert.ok(s.destinations.length <= 1);
          } else {
            assert.equal(s.scheduler, 'rr');
            assert.deepEqual(s.destinations.map((d) => d.address), [backend(i / 2)]);
          }
        }
        for (const count of seen.values()) if (count > 1) stats.duplicated++;
        for (let i = 0; i < stable; i++) if (!seen.has(vip(2 * i).address)) stats.missingStable++;
      }
    } finally {
      await churner;
      fs.unlinkSync(script);
    }
    console.log(`      ${JSON.stringify(stats)}`);
    assert.ok(stats.listings > 0);
    // The kernel resumes a service dump by position and marks no dump as
    // interrupted: a change before the cursor repeats or skips a service. The
    // library drops repeats; a skip cannot be seen (missingStable counts them).
    assert.equal(stats.duplicated, 0, 'no service listed twice');
  });

  it('two processes editing the same objects at once: every edit settles and is applied; edits of different objects never interfere', async () => {
    // One service with two destinations. Process A edits the weight of
    // destination 1 and the scheduler; process B the weight of destination 2
    // and the upper threshold of destination 1. An edit reads, merges and
    // writes its object, and the kernel has no compare-and-set: across
    // processes, an edit may write back a setting of the same object another
    // process changed in between (a lost update). What is guaranteed: each
    // edit's own settings are written (its call resolves only then), and an
    // edit never touches another object.
    const web = vip(1);
    await handle.addService({ ...web, scheduler: 'rr' });
    await handle.addDestination(web, { address: '198.19.0.1', forwarding: 'masq' });
    await handle.addDestination(web, { address: '198.19.0.2', forwarding: 'masq' });
    const rounds = 50;
    const script = `
      const ipvs = require(process.env.IPVS_LIB);
      const web = ${JSON.stringify(web)};
      const role = process.env.ROLE;
      (async () => {
        const h = await ipvs.open();
        let failures = 0;
        for (let k = 1; k <= ${rounds}; k++) {
          const calls = role === 'A'
            ? [h.editDestination(web, { address: '198.19.0.1', weight: k }), h.editService(web, { scheduler: k % 2 ? 'wrr' : 'rr' })]
            : [h.editDestination(web, { address: '198.19.0.2', weight: 1000 + k }), h.editDestination(web, { address: '198.19.0.1', upperThreshold: k })];
          for (const r of await Promise.allSettled(calls)) if (r.status === 'rejected') { failures++; console.error(r.reason); }
        }
        await h.close();
        console.log(JSON.stringify({ failures }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const [a, b] = await within(Promise.all([child(script, { env: { ROLE: 'A' } }), child(script, { env: { ROLE: 'B' } })]), 300_000, 'two writers');
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual([JSON.parse(a.stdout), JSON.parse(b.stdout)], [{ failures: 0 }, { failures: 0 }]);
    const s = await handle.getService(web);
    const d1 = s.destinations.find((d) => d.address === '198.19.0.1')!;
    const d2 = s.destinations.find((d) => d.address === '198.19.0.2')!;
    // Objects only one process edits end as that process left them.
    assert.equal(d2.weight, 1000 + rounds);
    assert.equal(s.scheduler, rounds % 2 ? 'wrr' : 'rr');
    // Destination 1 is edited by both: each setting holds a value its writer wrote.
    assert.ok(d1.weight >= 1 && d1.weight <= rounds);
    assert.ok(d1.upperThreshold >= 0 && d1.upperThreshold <= rounds);
    // Less than `rounds` here would be a lost update (possible, not reported: see README).
    console.log(`      destination 1 ends weight ${d1.weight}, upper threshold ${d1.upperThreshold} (last written: ${rounds} each)`);
    // On one handle the same edits are serialised: nothing is lost.
    await Promise.all(
      Array.from({ length: rounds }, (_, k) => [
        handle.editDestination(web, { address: '198.19.0.1', weight: k + 1 }),
        handle.editDestination(web, { address: '198.19.0.1', upperThreshold: k + 1 }),
      ]).flat(),
    );
    const one = (await handle.getService(web)).destinations.find((d) => d.address === '198.19.0.1')!;
    assert.deepEqual([one.weight, one.upperThreshold], [rounds, rounds]);
  });

  it('the event loop stays responsive under a 20,000-operation apply', async () => {
    // 2,000 services x 9 destinations (20,000 adds) into a fresh namespace.
    // scripts/event-loop-check runs the 200,000-operation version. Measured in
    // the emulated VM on a shared, loaded 2-core machine (6.12): here 8.6-16.7 s,
    // worst timer delay 222-529 ms; the 200,000-op script 203 s, p50 24 ms, p99
    // 982 ms, worst 6.2 s, which --trace-gc shows is one V8 incremental-marking
    // step (biggest step 6,158 ms), not the library's own work.
    const ns = 'ipvs-faults-loop';
    freshNamespace(ns);
    const h = await ipvs.open({ netns: ns });
    try {
      const desired = Array.from({ length: 2000 }, (_, i) => ({
        ...vip(i),
        scheduler: 'rr',
        destinations: Array.from({ length: 9 }, (_, j) => ({ address: backend(j * 2000 + i), forwarding: 'masq' as const })),
      }));
      const histogram = monitorEventLoopDelay({ resolution: 10 });
      let worst = 0;
      let last = performance.now();
      const timer = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last - 10);
        last = now;
      }, 10);
      histogram.enable();
      const started = performance.now();
      const result = await h.apply(desired);
      const took = performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 20)); // one more tick after the call settles
      clearInterval(timer);
      histogram.disable();
      console.log(`      20,000 adds in ${(took / 1000).toFixed(1)} s; worst timer delay ${worst.toFixed(0)} ms; loop delay p50 ${(histogram.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms, max ${(histogram.max / 1e6).toFixed(1)} ms`);
      assert.equal(result.counts.applied, 20000);
      assert.equal(Number(sh(`ip netns exec ${ns} ipvsadm -Sn | wc -l`)), 20000);
      // A coarse bound for the emulated VM on a shared CPU (JS there runs ~100x slower): it catches
      // a synchronous pass over the whole desired state, which takes tens of seconds there.
      assert.ok(worst < 5000, `worst timer delay ${worst.toFixed(0)} ms`);
    } finally {
      await h.close();
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });
});
