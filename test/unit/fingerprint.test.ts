// lib/fingerprint.ts: what changes a service's fingerprint and what must not.
// That the addon computes the same from the kernel's dump is proven in the
// VM (test/kernel/native-stream.test.ts); the pinned value below keeps the
// JS side from drifting from it unnoticed.
import assert from 'assert/strict';
import fc from 'fast-check';
import type { RawDestination, RawService } from '../../lib/addon';
import { addDestination, destinationSums, fingerprint, noDestinations, serviceFingerprint } from '../../lib/fingerprint';

const service: RawService = {
  family: 2, protocol: 6, address: '198.18.100.1', port: 80, fwmark: 0,
  scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff, persistenceEngine: '',
};
const masq: RawDestination = { family: 2, address: '198.18.1.1', port: 8080, forwarding: 0, weight: 3, upperThreshold: 0, lowerThreshold: 0 };
const tunnel: RawDestination = {
  family: 2, address: '198.18.1.4', port: 80, forwarding: 2, weight: 5, upperThreshold: 10, lowerThreshold: 2,
  tunnelType: 1, tunnelPort: 6080, tunnelFlags: 1,
};
const route: RawDestination = { family: 2, address: '198.18.1.7', port: 80, forwarding: 3, weight: 1, upperThreshold: 0, lowerThreshold: 0 };
const base = fingerprint(service, [masq, tunnel, route]);

describe('unit: fingerprint()', () => {
  it('is 16 lower-case hex digits, the same every time (pinned)', () => {
    assert.match(base, /^[0-9a-f]{16}$/);
    assert.equal(fingerprint(service, [masq, tunnel, route]), base);
    assert.equal(base, '81e6c35c6506500f');
    // The kernel test checks that the addon gives this for the same service
    // (tcp 198.18.100.5:80 rr, no destinations).
    assert.equal(fingerprint({ ...service, address: '198.18.100.5' }, []), '20aa4de4923b54f6');
  });

  it('changes with every service field that counts', () => {
    const changed: Partial<RawService>[] = [
      { family: 10, address: '2001:db8::1' }, { protocol: 17 }, { address: '198.18.100.2' }, { port: 81 },
      { fwmark: 5 }, { scheduler: 'wlc' }, { flags: 0x4 }, { flags: 0x8 }, { persistenceEngine: 'sip' },
      { flags: 0x1, timeout: 300 },
    ];
    const seen = new Set([base]);
    for (const c of changed) {
      const f = fingerprint({ ...service, ...c }, [masq, tunnel, route]);
      assert.ok(!seen.has(f), JSON.stringify(c));
      seen.add(f);
    }
    // Timeout and netmask of a persistent service.
    const persistent = { ...service, flags: 0x1, timeout: 300, netmask: 0xffffff00 };
    const p = fingerprint(persistent, [masq]);
    assert.notEqual(fingerprint({ ...persistent, timeout: 301 }, [masq]), p);
    assert.notEqual(fingerprint({ ...persistent, netmask: 0xffff0000 }, [masq]), p);
  });

  it('changes with every destination field that counts, and with a destination added or removed', () => {
    const changed: Partial<RawDestination>[] = [
      { family: 10, address: '2001:db8::9' }, { address: '198.18.1.9' }, { port: 8081 }, { forwarding: 3 }, { forwarding: 2 },
      { weight: 4 }, { weight: 0 }, { upperThreshold: 1 }, { lowerThreshold: 1 },
    ];
    const seen = new Set([base]);
    for (const c of changed) {
      const f = fingerprint(service, [{ ...masq, ...c }, tunnel, route]);
      assert.ok(!seen.has(f), JSON.stringify(c));
      seen.add(f);
    }
    for (const c of [{ tunnelType: 2, tunnelPort: 0 }, { tunnelPort: 6081 }, { tunnelFlags: 2 }, { tunnelType: 0, tunnelPort: 0, tunnelFlags: 0 }]) {
      const f = fingerprint(service, [masq, { ...tunnel, ...c }, route]);
      assert.ok(!seen.has(f), JSON.stringify(c));
      seen.add(f);
    }
    assert.notEqual(fingerprint(service, [masq, tunnel]), base);
    assert.notEqual(fingerprint(service, [masq, tunnel, route, { ...route, address: '2001:db8::8' }]), base);
    // The same destination twice is not the same as once (nor as none).
    assert.notEqual(fingerprint(service, [masq, masq]), fingerprint(service, [masq]));
    assert.notEqual(fingerprint(service, [masq, masq]), fingerprint(service, []));
  });

  it('does not change with destination order', () => {
    assert.equal(fingerprint(service, [route, masq, tunnel]), base);
    assert.equal(fingerprint(service, [tunnel, route, masq]), base);
  });

  it('does not change with what a service or destination carries without meaning', () => {
    // Timeout and netmask of a non-persistent service (the kernel keeps what it was sent).
    assert.equal(fingerprint({ ...service, timeout: 300, netmask: 0xffffff00 }, [masq, tunnel, route]), base);
    // HASHED, which the kernel sets.
    assert.equal(fingerprint({ ...service, flags: 0x2 }, [masq, tunnel, route]), base);
    // Tunnel fields on a destination that is not a tunnel's; absent tunnel fields are 0.
    assert.equal(fingerprint(service, [{ ...masq, tunnelType: 1, tunnelPort: 6080, tunnelFlags: 1 }, tunnel, route]), base);
    const ipip = { ...tunnel, tunnelType: 0, tunnelPort: 0, tunnelFlags: 0 };
    const { tunnelType: _t, tunnelPort: _p, tunnelFlags: _f, ...bare } = ipip;
    assert.equal(fingerprint(service, [bare]), fingerprint(service, [ipip]));
    // A fwmark service's protocol, address and port (requests send 0, '', 0; the kernel lists TCP on the zero address).
    const mark: RawService = { ...service, fwmark: 5, protocol: 0, address: '', port: 0 };
    assert.equal(fingerprint({ ...mark, protocol: 6, address: '0.0.0.0' }, [masq]), fingerprint(mark, [masq]));
    assert.equal(fingerprint({ family: 2, fwmark: 5, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0, persistenceEngine: '' }, [masq]), fingerprint(mark, [masq]));
    // Counters and connection counts, as a listed destination carries them.
    const listed = { ...masq, activeConnections: 9, inactiveConnections: 8, persistentConnections: 7, stats: 3 } as RawDestination;
    assert.equal(fingerprint(service, [listed, tunnel, route]), base);
  });

  it('any permutation of any destinations gives the same fingerprint (property)', () => {
    const destination = fc.record({
      family: fc.constant(2), address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }),
      forwarding: fc.integer({ min: 0, max: 4 }), weight: fc.integer({ min: 0, max: 0x7fffffff }),
      upperThreshold: fc.nat(), lowerThreshold: fc.nat(),
      tunnelType: fc.integer({ min: 0, max: 2 }), tunnelPort: fc.integer({ min: 0, max: 65535 }), tunnelFlags: fc.integer({ min: 0, max: 2 }),
    });
    const listAndPermutation = fc
      .array(destination, { maxLength: 12 })
      .chain((list) => fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length })));
    fc.assert(fc.property(listAndPermutation, ([list, permuted]) => {
      return fingerprint(service, permuted) === fingerprint(service, list);
    }), { seed: 7, numRuns: 300 });
  });

  it('destination sums changed one destination at a time give the fingerprint of the list they end with (property)', () => {
    const destination = fc.record({
      family: fc.constant(2), address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }),
      forwarding: fc.integer({ min: 0, max: 4 }), weight: fc.integer({ min: 0, max: 0x7fffffff }),
      upperThreshold: fc.nat(), lowerThreshold: fc.nat(),
      tunnelType: fc.integer({ min: 0, max: 2 }), tunnelPort: fc.integer({ min: 0, max: 65535 }), tunnelFlags: fc.integer({ min: 0, max: 2 }),
    });
    // Each step adds a destination, or takes out or replaces the one at an index.
    const step = fc.tuple(fc.constantFrom('add', 'remove', 'replace'), fc.nat(), destination);
    fc.assert(fc.property(fc.array(destination, { maxLength: 8 }), fc.array(step, { maxLength: 20 }), (start, steps) => {
      const list = [...start];
      const sums = destinationSums(list);
      for (const [kind, at, d] of steps) {
        const i = list.length === 0 ? -1 : at % list.length;
        if (kind === 'add' || i < 0) {
          list.push(d);
          addDestination(sums, d, 1);
        } else {
          addDestination(sums, list[i], -1);
          if (kind === 'remove') list.splice(i, 1);
          else {
            list[i] = d;
            addDestination(sums, d, 1);
          }
        }
      }
      return serviceFingerprint(service, sums) === fingerprint(service, list) && sums.count === list.length;
    }), { seed: 11, numRuns: 300 });
    assert.equal(serviceFingerprint({ ...service, address: '198.18.100.5' }, noDestinations()), '20aa4de4923b54f6');
  });

  it('tells apart strings that would run together, and non-ASCII text', () => {
    assert.notEqual(fingerprint({ ...service, scheduler: 'rrs', persistenceEngine: 'ip' }, []), fingerprint({ ...service, scheduler: 'rr', persistenceEngine: 'sip' }, []));
    assert.notEqual(fingerprint({ ...service, scheduler: 'é' }, []), fingerprint({ ...service, scheduler: 'e' }, []));
    assert.notEqual(fingerprint({ ...service, scheduler: 'é' }, []), fingerprint({ ...service, scheduler: '\u00c3\u00a9' }, []));
  });
});
