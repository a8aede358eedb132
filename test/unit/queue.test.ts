// The request queue's ordering and packing, on a recording stand-in for the
// addon (this checks our scheduling only; the kernel suite checks IPVS).
import assert from 'assert/strict';
import type { RawHandle, RawRequest, RawFailure } from '../../lib/addon';
import { RequestQueue } from '../../lib/queue';
import { IpvsError } from '../../lib/errors';

function recorder(failIndexes: number[] = []) {
  const log: string[] = [];
  const native = {
    async execute(requests: RawRequest[]): Promise<RawFailure[]> {
      log.push(`execute:${requests.map((r) => r.command).join(',')}`);
      return failIndexes.filter((i) => i < requests.length).map((index) => ({ index, errno: 17 }));
    },
  } as unknown as RawHandle;
  return { log, native };
}

describe('unit: request queue', () => {
  it('packs consecutive changes into one execute and keeps reads in order', async () => {
    const { log, native } = recorder();
    const q = new RequestQueue(native, Promise.resolve());
    const f = { operation: 'x', object: '' };
    const done = [q.change({ command: 1 }, f), q.change({ command: 2 }, f), q.read(async () => log.push('read')), q.change({ command: 3 }, f)];
    await Promise.all(done);
    assert.deepEqual(log, ['execute:1,2', 'read', 'execute:3']);
  });

  it('rejects exactly the failed requests of a batch', async () => {
    const { native } = recorder([1]);
    const q = new RequestQueue(native, Promise.resolve());
    const results = await Promise.allSettled([0, 1, 2].map((i) => q.change({ command: 1 }, { operation: 'addService', object: `service ${i}` })));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    const reason = (results[1] as PromiseRejectedResult).reason as IpvsError;
    assert.equal(reason.code, 'EEXIST');
    assert.equal(reason.object, 'service 1');
  });

  it('fails every queued call with the open error', async () => {
    const { native } = recorder();
    const q = new RequestQueue(native, Promise.reject(Object.assign(new Error('IPVS is not available'), { errno: 2, unavailable: true })));
    const results = await Promise.allSettled([q.change({ command: 1 }, { operation: 'a', object: '' }), q.read(async () => 1)]);
    assert.ok(results.every((r) => r.status === 'rejected'));
  });
});
