// What a plan does when answers are lost or slices are refused whole: the
// bookkeeping of the queue and of rollback, on a scripted stand-in for the
// addon (answers the kernel cannot be made to lose on demand). What the
// kernel does with the requests is the kernel suite's business.
import assert from 'assert/strict';
import type { RawFailure, RawHandle, RawListing, RawRequest, RawServiceEntry } from '../../lib/addon';
import { Command } from '../../lib/constants';
import { IpvsHandle } from '../../lib/ipvs-handle';
import { RequestQueue, SLICE } from '../../lib/queue';

const TCP = 6;
const AF_INET = 2;

function entry(address: string, destinations: string[]): RawServiceEntry {
  return {
    family: AF_INET, protocol: TCP, address, port: 80, fwmark: 0, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, persistenceEngine: '', stats: null,
    destinations: destinations.map((d) => ({
      address: d, family: AF_INET, port: 80, weight: 1, forwarding: 0, upperThreshold: 0, lowerThreshold: 0, tunnel: null,
      activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: null,
    })),
  };
}

function listing(entries: RawServiceEntry[]): RawListing {
  return { chunks: entries.length ? [Buffer.from(JSON.stringify(entries))] : [], ascii: true, stats: null };
}

type Answer = (request: RawRequest, call: number) => RawFailure['outcome'] | undefined;

/**
 * A stand-in addon holding `table`: list() gives it; executeJson answers each
 * request with `answer` (undefined: applied) and records every request sent;
 * `refuseCall`: the executeJson call (0-based) that is refused whole.
 */
function scripted(table: RawServiceEntry[], answer: Answer, refuseCall = -1) {
  const sent: RawRequest[][] = [];
  let calls = 0;
  const native = {
    async list(options: { service?: { address?: string } }): Promise<RawListing> {
      if (options.service) {
        const one = table.filter((s) => s.address === options.service!.address);
        if (one.length === 0) throw Object.assign(new Error('No such process'), { errno: 3 });
        return listing(one);
      }
      return listing(table);
    },
    executeJson(json: string): Promise<RawFailure[]> {
      const call = calls++;
      // Refused at once, as a native call that cannot start would be.
      if (call === refuseCall) return Promise.reject(Object.assign(new Error('Cannot allocate memory'), { errno: 12 }));
      const requests = JSON.parse(json) as RawRequest[];
      sent.push(requests);
      const failures: RawFailure[] = [];
      requests.forEach((r, index) => {
        const outcome = answer(r, call);
        if (outcome) failures.push({ index, errno: outcome === 'refused' ? 22 : 105, outcome });
      });
      return Promise.resolve(failures);
    },
  } as unknown as RawHandle;
  return { native, sent };
}

function handleOn(native: RawHandle): IpvsHandle {
  return new IpvsHandle(native, Promise.resolve());
}

/** Fails the test if a promise rejection goes unhandled while `fn` runs. */
async function noUnhandled<T>(fn: () => Promise<T>): Promise<T> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.prependListener('unhandledRejection', listener);
  try {
    const result = await fn();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(seen, [], 'no unhandled rejection');
    return result;
  } finally {
    process.removeListener('unhandledRejection', listener);
  }
}

const destinations = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    operation: 'addDestination' as const,
    service: { protocol: 'tcp' as const, address: '198.18.0.1', port: 80 },
    destination: { address: `198.18.${1 + (i >> 8)}.${i & 255}`, forwarding: 'masq' as const },
  }));

describe('unit: plans when answers are lost or slices refused', () => {
  it('a middle slice refused whole while the next is being made: no unhandled rejection; independent callers hear unsent', async () => {
    const { native } = scripted([], () => undefined, 1);
    const q = new RequestQueue(native, Promise.resolve());
    const outcomes = await noUnhandled(() => Promise.all(Array.from({ length: 600 }, (_, i) => q.change({ command: Command.IPVS_CMD_NEW_DEST, destination: { i } as never }))));
    assert.equal(outcomes.filter((o) => o.outcome === 'applied').length, 600 - SLICE);
    assert.ok(outcomes.slice(SLICE, 2 * SLICE).every((o) => o.outcome === 'unsent'));
  });

  it("a plan's operations after a slice refused whole are 'unsent', a failure: counted, and rolled back", async () => {
    const { native, sent } = scripted([entry('198.18.0.1', [])], () => undefined, 1);
    const handle = handleOn(native);
    const result = await noUnhandled(() => handle.batch(destinations(300), { onError: 'rollback' }));
    assert.equal(result.counts.applied, SLICE);
    assert.equal(result.counts.unsent, 300 - SLICE);
    assert.equal(result.counts.skipped, 0);
    assert.ok(result.changes.slice(SLICE).every((c) => c.status === 'unsent' && c.error?.code === 'ERR_IPVS_NOT_SENT'));
    assert.ok(result.rollback, 'an unsent operation calls for the rollback');
    assert.equal(result.rollback.changes.length, SLICE, 'only what was applied is undone');
    assert.ok(result.rollback.changes.every((c) => c.operation.operation === 'deleteDestination'));
    assert.equal(sent.flat().filter((r) => r.command === Command.IPVS_CMD_DEL_DEST).length, SLICE);
  });

  it('a rollback never deletes what existed before the plan: an add whose answer was lost is undone only if its object was absent', async () => {
    // The service exists with a destination; the plan's add of it is answered 'unknown', a later edit fails.
    const { native, sent } = scripted([entry('198.18.0.1', ['198.18.1.1'])], (r) =>
      r.command === Command.IPVS_CMD_NEW_SERVICE ? 'unknown' : r.command === Command.IPVS_CMD_SET_DEST ? 'refused' : undefined,
    );
    const handle = handleOn(native);
    const service = { protocol: 'tcp' as const, address: '198.18.0.1', port: 80, scheduler: 'rr' };
    const result = await handle.batch(
      [
        { operation: 'addService', service },
        { operation: 'editDestination', service, destination: { address: '198.18.1.1', forwarding: 'masq', weight: 5 } },
      ],
      { onError: 'rollback' },
    );
    assert.deepEqual(result.changes.map((c) => c.status), ['unknown', 'failed']);
    assert.ok(result.rollback);
    assert.equal(sent.flat().filter((r) => r.command === Command.IPVS_CMD_DEL_SERVICE).length, 0, 'the service that existed before is not deleted');
    assert.equal(result.rollback.complete, true);
  });

  it('an add answered unknown whose object was absent before is undone', async () => {
    const { native, sent } = scripted([], (r) => (r.command === Command.IPVS_CMD_NEW_SERVICE ? 'unknown' : r.command === Command.IPVS_CMD_NEW_DEST ? 'refused' : undefined));
    const handle = handleOn(native);
    const result = await handle.apply(
      [{ protocol: 'tcp', address: '198.18.0.2', port: 80, scheduler: 'rr', destinations: [{ address: '198.18.1.1', forwarding: 'masq' }] }],
      { onError: 'rollback' },
    );
    assert.deepEqual(result.changes.map((c) => c.status), ['unknown', 'failed']);
    assert.equal(sent.flat().filter((r) => r.command === Command.IPVS_CMD_DEL_SERVICE).length, 1);
  });

  it("strict: 'already' stops the plan and rolls back what it did", async () => {
    const { native, sent } = scripted([entry('198.18.0.1', [])], (r) =>
      r.command === Command.IPVS_CMD_NEW_SERVICE && (r.service as { address: string }).address === '198.18.0.1' ? 'refused' : undefined,
    );
    // refused with EINVAL by the script; make the add's refusal EEXIST.
    const exec = native.executeJson.bind(native);
    (native as { executeJson: RawHandle['executeJson'] }).executeJson = async (json) =>
      (await exec(json)).map((f) => ({ ...f, errno: 17 }));
    const handle = handleOn(native);
    const first = { protocol: 'tcp' as const, address: '198.18.0.9', port: 80 };
    const result = await handle.batch(
      [
        { operation: 'addService', service: first },
        { operation: 'addService', service: { protocol: 'tcp', address: '198.18.0.1', port: 80 } },
      ],
      { onError: 'rollback', strict: true },
    );
    assert.deepEqual(result.changes.map((c) => c.status), ['applied', 'already']);
    assert.ok(result.rollback?.complete);
    const deleted = sent.flat().filter((r) => r.command === Command.IPVS_CMD_DEL_SERVICE);
    assert.deepEqual(deleted.map((r) => (r.service as { address: string }).address), ['198.18.0.9']);
  });
});
