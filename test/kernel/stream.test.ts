// services(): the listing in batches, against list() of the same table.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { suiteHandle } from './helpers';

describe('kernel: services() in batches', function () {
  const h = suiteHandle();

  it('its batches, joined, are list(); at most batchSize each; ending early frees it', async () => {
    await h().apply(
      Array.from({ length: 7 }, (_, i) => ({
        protocol: 'tcp' as const, address: `198.18.50.${i + 1}`, port: 80, scheduler: 'rr',
        destinations: Array.from({ length: i }, (_, j) => ({ address: `198.18.51.${j + 1}`, forwarding: 'masq' as const })),
      })),
    );
    const all = await h().list({ stats: false });
    for (const batchSize of [1, 3, 100]) {
      const joined: ipvs.Service[] = [];
      for await (const batch of h().services({ batchSize, stats: false })) {
        assert.ok(batch.length >= 1 && batch.length <= batchSize);
        joined.push(...batch);
      }
      assert.deepEqual(joined, all);
    }
    for await (const batch of h().services({ batchSize: 2 })) {
      assert.equal(batch.length, 2);
      assert.equal(typeof batch[0].stats?.conns, 'bigint');
      break;
    }
    assert.equal((await h().list()).length, 7, 'the handle goes on after a loop ended early');
    await assert.rejects(async () => {
      for await (const _ of h().services({ batchSize: 0 })) void _;
    }, /options\.batchSize/);
  });
});
