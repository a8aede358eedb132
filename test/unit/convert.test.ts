// Validation and encoding: what the facade sends, and what it refuses.
import assert from 'assert/strict';
import { toDestination, toService, toServiceKey, netmaskValue } from '../../lib/convert';
import { serviceSpecOf } from '../../lib/listing';

const web = { protocol: 'tcp', address: '1.1.1.1', port: 80 };

describe('unit: service keys and specs', () => {
  it('encodes an address key with kernel numbers', () => {
    const k = toServiceKey(web);
    assert.deepEqual(k.raw, { family: 2, protocol: 6, address: '1.1.1.1', port: 80, fwmark: 0 });
    assert.equal(k.name, 'service tcp 1.1.1.1:80');
  });

  it('encodes IPv6 and fwmark keys and names them', () => {
    assert.equal(toServiceKey({ protocol: 'udp', address: '2001:db8::1', port: 53 }).name, 'service udp [2001:db8::1]:53');
    const m = toServiceKey({ fwmark: 5, family: 'ipv6' });
    assert.deepEqual(m.raw, { family: 10, fwmark: 5, protocol: 0, address: '', port: 0 });
    assert.equal(m.name, 'service fwmark 5 (ipv6)');
    assert.equal(toServiceKey({ fwmark: 5 }).family, 'ipv4');
  });

  it('a service read back is also a key', () => {
    const read = serviceSpecOf({
      family: 2, protocol: 6, address: '1.1.1.1', port: 80, fwmark: 0, scheduler: 'rr', flags: 0,
      timeout: 0, netmask: 0xffffffff, persistenceEngine: '', stats: null, destinations: [],
    });
    assert.deepEqual(toService({ ...read, stats: null, destinations: [] }).raw, toService({ ...web, scheduler: 'rr' }).raw);
  });

  it('encodes persistence, one-packet and scheduler flags', () => {
    assert.equal(toService({ ...web, port: 0, persistence: { timeout: 60 } }).raw.port, 0);
    assert.equal(toService({ fwmark: 1, onePacket: true }).raw.flags, 0x4);
    const s = toService({ ...web, protocol: 'udp', persistence: { timeout: 300, netmask: 24 }, onePacket: true, schedulerFlags: { fallback: true, port: true } });
    assert.equal(s.raw.flags, 0x1 | 0x4 | 0x8 | 0x10);
    assert.equal(s.raw.timeout, 300);
    assert.equal(s.raw.netmask, 0xffffff00);
    assert.equal(toService({ ...web, persistence: { timeout: 1, netmask: '255.255.0.0' } }).raw.netmask, 0xffff0000);
    assert.equal(toService({ ...web, persistence: { timeout: 1, netmask: 0 } }).raw.netmask, 0);
    assert.equal(toService({ protocol: 'tcp', address: '::1', port: 1 }).raw.netmask, 128);
    assert.equal(netmaskValue(0xffffff00, 2), 24);
    assert.equal(netmaskValue(0xff00ff00, 2), '255.0.255.0');
    assert.equal(netmaskValue(64, 10), 64);
  });

  const refused: Array<[string, unknown, ErrorConstructor, RegExp]> = [
    ['non-object', 'tcp:80', TypeError, /Expected a plain object for service but received "tcp:80"/],
    ['bad protocol', { ...web, protocol: 'icmp' }, RangeError, /service\.protocol but received "icmp"/],
    ['bad address', { ...web, address: 'example.com' }, RangeError, /service\.address but received "example\.com"/],
    ['port too big', { ...web, port: 65536 }, RangeError, /between 0 and 65535 for service\.port but received 65536/],
    ['port not integer', { ...web, port: 80.5 }, TypeError, /service\.port but received 80\.5/],
    ['port string', { ...web, port: '80' }, TypeError, /service\.port but received "80"/],
    ['fwmark too big', { fwmark: 2 ** 32 }, RangeError, /service\.fwmark/],
    ['family mismatch', { ...web, family: 'ipv6' }, RangeError, /service\.family/],
    ['bad family', { fwmark: 1, family: 'inet' }, RangeError, /service\.family but received "inet"/],
    ['long scheduler', { ...web, scheduler: 'x'.repeat(16) }, RangeError, /service\.scheduler/],
    ['scheduler with slash', { ...web, scheduler: '../rr' }, RangeError, /service\.scheduler/],
    ['zero timeout', { ...web, persistence: { timeout: 0 } }, RangeError, /persistence\.timeout/],
    ['huge timeout', { ...web, persistence: { timeout: 2 ** 32 } }, RangeError, /persistence\.timeout/],
    ['bad ipv4 mask', { ...web, persistence: { timeout: 1, netmask: 33 } }, RangeError, /persistence\.netmask/],
    ['ipv6 prefix 0', { protocol: 'tcp', address: '::1', port: 1, persistence: { timeout: 1, netmask: 0 } }, RangeError, /persistence\.netmask/],
    ['pe without persistence', { ...web, persistenceEngine: 'sip' }, RangeError, /an engine needs a persistent service/],
    ['onePacket not boolean', { ...web, onePacket: 1 }, TypeError, /service\.onePacket/],
    ['unknown field', { ...web, sheduler: 'rr' }, TypeError, /Unknown property 'sheduler'/],
    ['one-packet on tcp', { ...web, onePacket: true }, RangeError, /udp or fwmark service for service\.onePacket/],
    ['port 0 without persistence', { ...web, port: 0 }, RangeError, /port-zero service must be persistent/],
    ['unknown flag', { ...web, schedulerFlags: { sticky: true } }, TypeError, /Unknown property 'sticky'/],
  ];
  for (const [what, spec, Kind, pattern] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => toService(spec), (e: Error) => e instanceof Kind && pattern.test(e.message));
    });
  }
});

describe('unit: destinations', () => {
  const k = toServiceKey(web);

  it('defaults like ipvsadm: service port, weight 1, direct routing', () => {
    // What the addon receives: the JSON text of the request's destination.
    assert.deepEqual(JSON.parse(JSON.stringify(toDestination({ address: '2.2.2.2' }, k).raw)), {
      family: 2, address: '2.2.2.2', port: 80, forwarding: 3, weight: 1, upperThreshold: 0, lowerThreshold: 0,
    });
    assert.equal(toDestination({ address: '2.2.2.2' }, toServiceKey({ fwmark: 3 })).raw.port, 0);
  });

  it('encodes forwarding methods and tunnels', () => {
    assert.equal(toDestination({ address: '2.2.2.2', forwarding: 'masq' }, k).raw.forwarding, 0);
    assert.equal(toDestination({ address: '2.2.2.2', forwarding: 'local' }, k).raw.forwarding, 1);
    assert.equal(toDestination({ address: '2.2.2.2', forwarding: 'tunnel' }, k).raw.forwarding, 2);
    assert.equal(toDestination({ address: '2.2.2.2', port: 8080, forwarding: 'masq' }, k).raw.port, 8080);
    const gue = toDestination({ address: '2001:db8::2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'remote' } }, k).raw;
    assert.deepEqual([gue.family, gue.tunnelType, gue.tunnelPort, gue.tunnelFlags], [10, 1, 6080, 2]);
  });

  const refused: Array<[string, unknown, ErrorConstructor, RegExp]> = [
    ['negative weight', { address: '2.2.2.2', weight: -1 }, RangeError, /destination\.weight but received -1/],
    ['weight past INT_MAX', { address: '2.2.2.2', weight: 2 ** 31 }, RangeError, /destination\.weight/],
    ['lower above upper', { address: '2.2.2.2', upperThreshold: 1, lowerThreshold: 2 }, RangeError, /lowerThreshold to be at most upperThreshold \(1\) but received 2/],
    ['other family without tunnel', { address: '::2', forwarding: 'masq' }, RangeError, /forwarding 'tunnel'/],
    ['tunnel options without tunnel', { address: '2.2.2.2', tunnel: { type: 'gre' } }, RangeError, /to be 'tunnel'/],
    ['gue without port', { address: '2.2.2.2', forwarding: 'tunnel', tunnel: { type: 'gue' } }, TypeError, /tunnel\.port/],
    ['ipip with checksum', { address: '2.2.2.2', forwarding: 'tunnel', tunnel: { type: 'ipip', checksum: 'checksum' } }, RangeError, /checksum/],
    ['gre remote checksum', { address: '2.2.2.2', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'remote' } }, RangeError, /checksum/],
    ['bad forwarding', { address: '2.2.2.2', forwarding: 'dr' }, RangeError, /destination\.forwarding but received "dr"/],
    ['missing address', { port: 80 }, TypeError, /destination\.address but received undefined/],
    ['another port without NAT', { address: '2.2.2.2', port: 81, forwarding: 'tunnel' }, RangeError, /service's port 80 \(only 'masq' forwarding rewrites ports\) but received 81/],
  ];
  for (const [what, spec, Kind, pattern] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => toDestination(spec, k), (e: Error) => e instanceof Kind && pattern.test(e.message));
    });
  }
});
