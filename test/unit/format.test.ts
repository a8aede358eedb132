// The ipvsadm -Ln rendering (the kernel suite compares it with ipvsadm itself).
import assert from 'assert/strict';
import { addressWords } from '../../lib/address';
import { formatIpvsadmList } from '../../lib/format';
import type { Service } from '../../lib/types';

function service(over: Record<string, unknown>): Service {
  const key = over.fwmark !== undefined ? { fwmark: over.fwmark } : { protocol: 'tcp', address: '1.1.1.1', port: 80 };
  return {
    family: 'ipv4', ...key, scheduler: 'wlc', persistence: null,
    persistenceEngine: null, onePacket: false, schedulerFlags: { fallback: false, port: false, flag3: false },
    stats: null, destinations: [], ...over,
  } as Service;
}

describe('unit: ipvsadm -Ln format', () => {
  it('splits addresses into the words ipvsadm compares', () => {
    assert.deepEqual(addressWords('1.2.3.4'), [0x01020304]);
    assert.deepEqual(addressWords('2001:db8::1'), [0x20010db8, 0, 0, 1]);
    assert.deepEqual(addressWords('::ffff:1.2.3.4'), [0, 0, 0xffff, 0x01020304]);
    assert.deepEqual(addressWords('::'), [0, 0, 0, 0]);
  });

  it('sorts like ipvsadm, including its wrap-around for high addresses', () => {
    const out = formatIpvsadmList(
      [service({ address: '200.0.0.1' }), service({ address: '1.0.0.1' }), service({ fwmark: 3 }), service({ address: '1.0.0.1', port: 22 })],
      { version: '1.2.1', versionCode: 0x010201, connectionTableSize: 4096 },
    );
    // 200.0.0.1 - 1.0.0.1 overflows a signed int in ipvsadm, so 200.x sorts first.
    assert.deepEqual(out.split('\n').slice(3, 7), ['TCP  200.0.0.1:80 wlc', 'TCP  1.0.0.1:22 wlc', 'TCP  1.0.0.1:80 wlc', 'FWM  3 wlc']);
  });

  it('prints persistence, flags and destination rows', () => {
    const out = formatIpvsadmList(
      [
        service({
          scheduler: 'sh',
          schedulerFlags: { fallback: true, port: true, flag3: false },
          persistence: { timeout: 300, netmask: 24 },
          destinations: [
            { address: '2.2.2.2', family: 'ipv4', port: 80, weight: 100, forwarding: 'masq', upperThreshold: 0, lowerThreshold: 0,
              tunnel: null, activeConnections: 3, inactiveConnections: 12, persistentConnections: 0, stats: null },
          ],
        }),
      ],
      { version: '1.2.1', versionCode: 0x010201, connectionTableSize: 4096 },
    );
    assert.equal(out.split('\n')[3], 'TCP  1.1.1.1:80 sh (sh-fallback,sh-port) persistent 300 mask 255.255.255.0');
    assert.equal(out.split('\n')[4], '  -> 2.2.2.2:80                   Masq    100    3          12        ');
  });
});
