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

  it('formats a varied table exactly as ipvsadm -Ln does', async () => {
    ipvsadm('-A', '-t', '200.0.0.1:80', '-s', 'rr');
    ipvsadm('-A', '-t', '1.0.0.1:443', '-s', 'sh', '-b', 'sh-fallback,sh-port', '-p', '300', '-M', '255.255.255.0');
    ipvsadm('-a', '-t', '1.0.0.1:443', '-r', '9.9.9.9:443', '-g', '-w', '3');
    ipvsadm('-a', '-t', '1.0.0.1:443', '-r', '2.2.2.2:443', '-i', '-w', '0');
    ipvsadm('-A', '-u', '1.0.0.1:53', '-s', 'wrr', '-o');
    ipvsadm('-A', '-t', '[2001:db8::1]:80', '-s', 'lc', '-p', '60', '-M', '64');
    ipvsadm('-a', '-t', '[2001:db8::1]:80', '-r', '[2001:db8::20]:8080', '-m', '-w', '2');
    ipvsadm('-A', '-f', '5', '-s', 'mh', '-b', 'mh-port');
    ipvsadm('-A', '-f', '5', '-6', '-s', 'dh');
    ipvsadm('-A', '--sctp-service', '1.0.0.2:7', '-s', 'nq');
    const handle = await ipvs.open();
    try {
      assert.equal(ipvs.formatIpvsadmList(await handle.list(), await handle.info()), ipvsadm('-Ln'));
    } finally {
      await handle.close();
    }
  });
});
