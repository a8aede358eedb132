// `npm run demo` must print exactly what ipvsadm -Ln prints for its table.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { demo } from '../../examples/demo';
import { assertSandbox, ipvsadm, resetTable, savedRules } from './helpers';

describe('kernel: the demo', function () {
  before(assertSandbox);
  beforeEach(resetTable);

  it("prints the source document's example exactly as ipvsadm -Ln does", async () => {
    const handle = await ipvs.open();
    try {
      const printed = await demo(handle);
      assert.equal(printed, ipvsadm('-Ln'));
      assert.deepEqual(savedRules(), [
        '-A -t 1.1.1.1:80 -s lc',
        '-a -t 1.1.1.1:80 -r 2.2.2.2:80 -m -w 100',
        '-a -t 1.1.1.1:80 -r 3.3.3.3:80 -m -w 100',
      ]);
    } finally {
      await handle.close();
    }
  });
});
