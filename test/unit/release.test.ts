// addon.release(): a listing's chunk text and counters freed as soon as it is parsed
// (lib/listing.ts), and nothing else touched. The chunks the kernel listings
// make are tested in the VM (test/kernel/stream.test.ts reads through it).
import assert from 'assert/strict';
import { addon } from '../../lib/addon';

describe('addon.release', () => {
  it('empties a Buffer that is its whole ArrayBuffer, as a listing chunk is', () => {
    const chunk = Buffer.allocUnsafeSlow(64 * 1024).fill(0x20);
    addon.release(chunk);
    assert.equal(chunk.length, 0);
    assert.equal(chunk.buffer.byteLength, 0);
    addon.release(chunk); // twice: nothing left to free
  });

  it("leaves a slice of Node's shared pool (or any view of a larger ArrayBuffer) alone", () => {
    const pooled = Buffer.from('[{"a":1}]');
    const neighbour = Buffer.from('still here');
    addon.release(pooled);
    assert.equal(pooled.toString(), '[{"a":1}]');
    assert.equal(neighbour.toString(), 'still here');
  });

  it('empties counters made as listings make them', () => {
    const counters = new BigUint64Array(new ArrayBuffer(8 * 40));
    counters[3] = 7n;
    addon.release(counters);
    assert.equal(counters.length, 0);
  });

  it('refuses what is not a typed array', () => {
    assert.throws(() => addon.release('[]' as unknown as Buffer), TypeError);
    assert.throws(() => addon.release(undefined as unknown as Buffer), /view: expected a listing's chunk/);
  });
});
