// The ipvsadm -Ln rendering (the kernel suite compares it with ipvsadm itself).
import assert from 'assert/strict';
import { addressWords } from '../../lib/address';
import { formatIpvsadmConnections, formatIpvsadmDaemons, formatIpvsadmList, formatIpvsadmTimeouts, largeNumber } from '../../lib/rules/format';
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

  it('refuses a table not in the shape list() returns, naming the field', () => {
    const info = { version: '1.2.1', versionCode: 0x010201, connectionTableSize: 4096 };
    const dest = { address: '10.0.0.1', port: 80, family: 'ipv4', forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, tunnel: null, stats: null };
    assert.throws(() => formatIpvsadmList(undefined as unknown as Service[], info), { name: 'TypeError', message: /array of services .* for services but received undefined/ });
    assert.throws(() => formatIpvsadmList([service({ destinations: [dest, { ...dest, forwarding: 'nat' }] })], info), {
      name: 'RangeError',
      message: /services\[0\]\.destinations\[1\]\.forwarding but received "nat"/,
    });
    // A table saved with jsonReplacer and parsed back has its counters as strings.
    const zero = { conns: '0', inpkts: '0', outpkts: '0', inbytes: '0', outbytes: '0', cps: '0', inpps: '0', outpps: '0', inbps: '0', outbps: '0' };
    assert.throws(() => formatIpvsadmList([service({}), service({ stats: zero })], info, { stats: true }), {
      name: 'TypeError',
      message: /bigint for services\[1\]\.stats\.conns but received "0" \(list\(\) gives bigints; JSON loses them\)/,
    });
    assert.throws(() => formatIpvsadmList([service({ destinations: undefined })], info), /array for services\[0\]\.destinations but received undefined/);
    assert.throws(() => formatIpvsadmList([], {} as typeof info), /string for info\.version but received undefined/);
    assert.equal(formatIpvsadmList([service({ destinations: [dest] })], info).split('\n')[4], '  -> 10.0.0.1:80                  Masq    1      0          0         ');
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

  const info = { version: '1.2.1', versionCode: 0x010201, connectionTableSize: 4096 };
  const stats = (n: bigint) => ({ conns: n, inpkts: n, outpkts: n, inbytes: n * 1000n, outbytes: n * 1000000n, cps: n, inpps: n, outpps: n, inbps: n, outbps: n });
  const dest = (over: Record<string, unknown>) => ({
    address: '2.2.2.2', family: 'ipv4', port: 80, weight: 1, forwarding: 'masq', upperThreshold: 0, lowerThreshold: 0,
    tunnel: null, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: stats(0n), ...over,
  });

  it('prints large numbers as ipvsadm: K/M/G/T past 8 digits, full with --exact', () => {
    assert.equal(largeNumber(0n), '        0');
    assert.equal(largeNumber(99999999n), ' 99999999');
    assert.equal(largeNumber(100000000n), '  100000K');
    assert.equal(largeNumber(5000000000n), '    5000M');
    assert.equal(largeNumber(123456789012n), '     123G');
    assert.equal(largeNumber(2n ** 64n - 1n), '18446744T');
    assert.equal(largeNumber(2n ** 64n - 1n, true), ' 18446744073709551615');
    assert.equal(largeNumber(12n, true), '       12');
  });

  it('prints the --stats, --rate, --thresholds, --persistent-conn and --tun-info layouts (ipvsadm 1.31 outputs)', () => {
    const s = service({ destinations: [dest({ stats: stats(7n), upperThreshold: 10, lowerThreshold: 5, persistentConnections: 3 })], stats: stats(123456789n) });
    assert.equal(
      formatIpvsadmList([s], info, { stats: true }),
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n' +
        '  -> RemoteAddress:Port\n' +
        'TCP  1.1.1.1:80                    123456K  123456K  123456K     123G     123T\n' +
        '  -> 2.2.2.2:80                          7        7        7     7000  7000000\n',
    );
    assert.equal(
      formatIpvsadmList([s], info, { rate: true }).split('\n').slice(1, 5).join('\n'),
      'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n' +
        '  -> RemoteAddress:Port\n' +
        'TCP  1.1.1.1:80                    123456K  123456K  123456K  123456K  123456K\n' +
        '  -> 2.2.2.2:80                          7        7        7        7        7',
    );
    assert.equal(
      formatIpvsadmList([s], info, { thresholds: true }).split('\n').slice(1, 5).join('\n'),
      'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n' +
        '  -> RemoteAddress:Port\n' +
        'TCP  1.1.1.1:80 wlc\n' +
        '  -> 2.2.2.2:80                   10         5          0          0         ',
    );
    assert.equal(
      formatIpvsadmList([s], info, { persistentConn: true }).split('\n').slice(1, 5).join('\n'),
      'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n' +
        '  -> RemoteAddress:Port\n' +
        'TCP  1.1.1.1:80 wlc\n' +
        '  -> 2.2.2.2:80                   1         3           0          0         ',
    );
    const t = service({
      destinations: [
        dest({ address: '2.2.2.3', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'checksum' } }),
        dest({ address: '2.2.2.4', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'none' } }),
        dest({ address: '2.2.2.5', forwarding: 'tunnel', tunnel: { type: 'ipip', checksum: 'none' } }),
        dest({ address: '198.18.0.1', forwarding: 'route' }),
      ],
    });
    assert.deepEqual(formatIpvsadmList([t], info, { tunInfo: true }).split('\n').slice(2, 8), [
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
      'TCP  1.1.1.1:80 wlc',
      '  -> 198.18.0.1:80                Route   n/a           1      0          0         ',
      '  -> 2.2.2.3:80                   Tunnel  gue:6080:+c   1      0          0         ',
      '  -> 2.2.2.4:80                   Tunnel  gre:-c        1      0          0         ',
      '  -> 2.2.2.5:80                   Tunnel  ipip          1      0          0         ',
    ]);
    // --nosort keeps the kernel's order
    assert.deepEqual(formatIpvsadmList([t], info, { noSort: true }).split('\n').slice(4, 6), [
      '  -> 2.2.2.3:80                   Tunnel  1      0          0         ',
      '  -> 2.2.2.4:80                   Tunnel  1      0          0         ',
    ]);
  });

  it('prints names without -n, cut where ipvsadm cuts them', () => {
    const names = { host: (a: string) => (a === '127.0.0.1' ? 'localhost' : a === '2.2.2.2' ? 'a-very-long-host-name.example.org' : undefined), port: (p: number) => (p === 80 ? 'http' : undefined) };
    const out = formatIpvsadmList([service({ address: '127.0.0.1', destinations: [dest({})] })], info, { numeric: false, names });
    assert.deepEqual(out.split('\n').slice(3, 5), ['TCP  localhost:http wlc', '  -> a-very-long-host-name.exampl Masq    1      0          0         ']);
  });

  it('prints connections, timeouts and daemons as ipvsadm', () => {
    const c = { protocol: 'tcp', client: { address: '198.18.0.9', port: 40000 }, virtual: { address: '1.1.1.1', port: 80 }, destination: { address: '2.2.2.2', port: 80 }, state: 'ESTABLISHED', expires: 899 };
    assert.equal(
      formatIpvsadmConnections([c]),
      'IPVS connection entries\npro expire state       source             virtual            destination\nTCP 14:59  ESTABLISHED 198.18.0.9:40000   1.1.1.1:80         2.2.2.2:80\n',
    );
    assert.equal(formatIpvsadmTimeouts({ tcp: 900, tcpFin: 120, udp: 300 }), 'Timeout (tcp tcpfin udp): 900 120 300\n');
    assert.equal(
      formatIpvsadmDaemons([{ state: 'master', interface: 'eth0', syncId: 7, maxLength: 1472, group: '224.0.0.81', port: 8848, ttl: 1 }]),
      'master sync daemon (mcast=eth0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n',
    );
  });
});
