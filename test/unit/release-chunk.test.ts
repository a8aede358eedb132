// addon.releaseChunk(): a listing chunk's text freed as soon as it is parsed
// (lib/listing.ts), and nothing else touched. The chunks the kernel listings
// make are tested in the VM (test/kernel/stream.test.ts reads through it).
import assert from 'assert/strict';
import { addon } from '../../lib/addon';

describe('addon.releaseChunk', () => {
  it('empties a Buffer that is its whole ArrayBuffer, as a listing chunk is', () => {
    const chunk = Buffer.allocUnsafeSlow(64 * 1024).fill(0x20);
    addon.releaseChunk(chunk);
    assert.equal(chunk.length, 0);
    assert.equal(chunk.buffer.byteLength, 0);
    addon.releaseChunk(chunk); // twice: nothing left to free
  });

  it("leaves a slice of Node's shared pool (or any view of a larger ArrayBuffer) alone", () => {
    const pooled = Buffer.from('[{"a":1}]');
    const neighbour = Buffer.from('still here');
    addon.releaseChunk(pooled);
    assert.equal(pooled.toString(), '[{"a":1}]');
    assert.equal(neighbour.toString(), 'still here');
  });

  it('refuses what is not a Buffer', () => {
    assert.throws(() => addon.releaseChunk('[]' as unknown as Buffer), TypeError);
    assert.throws(() => addon.releaseChunk(undefined as unknown as Buffer), /chunk: expected a listing chunk/);
  });
});
