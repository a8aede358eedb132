// One normalisation of addresses, matching what the kernel's listings show
// (glibc's inet_ntop), so that addresses compare as strings.
import assert from 'assert/strict';
import { addressVersion, canonicalAddress, ipv6Text, ipv6Words, maskPrefix } from '../../lib/address';
import { toDestinationKey, toServiceKey } from '../../lib/convert';

describe('unit: addresses', () => {
  it('every spelling of an IPv6 address has one canonical text', () => {
    const same = ['2001:db8::2', '2001:DB8::2', '2001:db8:0:0::2', '2001:0db8:0000:0000:0000:0000:0000:0002'];
    for (const text of same) assert.equal(canonicalAddress(text, 6), '2001:db8::2');
  });

  it('formats like inet_ntop: longest zero run, first on a tie, IPv4-mapped and -compatible forms', () => {
    const cases: Array<[string, string]> = [
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
      ['::ffff:102:304', '::ffff:1.2.3.4'],
      ['::1.2.3.4', '::1.2.3.4'],
      ['::0.0.0.2', '::2'],
      ['fe80::1:0:0:0', 'fe80::1:0:0:0'],
    ];
    for (const [input, expected] of cases) assert.equal(canonicalAddress(input, 6), expected, input);
    assert.deepEqual(ipv6Words('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
    assert.equal(ipv6Text([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1');
  });

  it('refuses zone ids: one definition of a valid address', () => {
    assert.equal(addressVersion('fe80::1%eth0'), 0);
    assert.throws(() => toServiceKey({ protocol: 'tcp', address: 'fe80::1%eth0', port: 80 }), RangeError);
  });

  it('keys and destinations carry the canonical text and compare equal', () => {
    const a = toServiceKey({ protocol: 'tcp', address: '2001:DB8::1', port: 80 });
    const b = toServiceKey({ protocol: 'tcp', address: '2001:db8:0::1', port: 80 });
    assert.equal(a.id, b.id);
    assert.equal(a.name, 'service tcp [2001:db8::1]:80');
    assert.equal(toDestinationKey({ address: '2001:DB8::2' }, a).id, toDestinationKey({ address: '2001:db8:0:0::2' }, a).id);
  });

  it('one contiguous-mask test: a prefix length for contiguous masks, none for masks with holes', () => {
    assert.equal(maskPrefix(0xffffffff), 32);
    assert.equal(maskPrefix(0xffffff00), 24);
    assert.equal(maskPrefix(0x80000000), 1);
    assert.equal(maskPrefix(0), 0);
    assert.equal(maskPrefix(0xff00ff00), undefined);
    assert.equal(maskPrefix(0x00ffffff), undefined);
  });
});
