// The exporter's pure parts: metric names and types, label values for each
// kind of service, values exact to 2^53, dropped series, and its options.
import assert from 'assert/strict';
import type { Service } from '../../lib';
import { CliError } from '../../lib/cli/context';
import { exporterOptions } from '../../lib/cli/exporter';
import { IpvsMetrics, serviceLabels } from '../../lib/metrics/collector';

const stats = (n: bigint) => ({ conns: n, inpkts: n + 1n, outpkts: n + 2n, inbytes: n + 3n, outbytes: n + 4n, cps: 0n, inpps: 0n, outpps: 0n, inbps: 0n, outbps: 0n });
const destination = (address: string, weight: number) => ({
  address, family: address.includes(':') ? 'ipv6' : 'ipv4', port: 80, weight, forwarding: 'masq', upperThreshold: 0, lowerThreshold: 0, tunnel: null,
  activeConnections: 2, inactiveConnections: 5, persistentConnections: 1, stats: stats(10n),
});
const common = { scheduler: 'rr', persistence: null, persistenceEngine: null, onePacket: false, schedulerFlags: {} };
const TABLE = [
  { ...common, family: 'ipv4', protocol: 'tcp', address: '198.18.0.1', port: 80, stats: stats(2n ** 53n - 4n), destinations: [destination('198.19.0.1', 7), destination('198.19.0.2', 0)] },
  { ...common, family: 'ipv6', protocol: 'udp', address: '2001:db8::1', port: 53, stats: stats(0n), destinations: [destination('2001:db8::2', 1)] },
  { ...common, family: 'ipv6', fwmark: 7, stats: stats(0n), destinations: [] },
] as unknown as Service[];

describe('unit: ipvs exporter metrics', () => {
  it('labels a service by family, protocol (or fwmark) and address:port (or the mark)', () => {
    assert.deepEqual(serviceLabels(TABLE[0]), { family: 'ipv4', protocol: 'tcp', service: '198.18.0.1:80' });
    assert.deepEqual(serviceLabels(TABLE[1]), { family: 'ipv6', protocol: 'udp', service: '[2001:db8::1]:53' });
    assert.deepEqual(serviceLabels(TABLE[2]), { family: 'ipv6', protocol: 'fwmark', service: '7' });
  });

  it('exposes counters as counters and gauges as gauges, values exact', async () => {
    const m = new IpvsMetrics({ processMetrics: false });
    m.update(TABLE);
    const text = await m.text();
    for (const scope of ['service', 'destination'])
      for (const n of ['connections', 'incoming_packets', 'outgoing_packets', 'incoming_bytes', 'outgoing_bytes'])
        assert.match(text, new RegExp(`^# TYPE ipvs_${scope}_${n}_total counter$`, 'm'));
    for (const g of ['ipvs_up', 'ipvs_services', 'ipvs_service_active_connections', 'ipvs_service_inactive_connections', 'ipvs_service_destinations',
      'ipvs_destination_active_connections', 'ipvs_destination_inactive_connections', 'ipvs_destination_persistent_connections', 'ipvs_destination_weight'])
      assert.match(text, new RegExp(`^# TYPE ${g} gauge$`, 'm'));
    assert.match(text, /^ipvs_service_outgoing_bytes_total\{family="ipv4",protocol="tcp",service="198\.18\.0\.1:80"\} 9007199254740992$/m);
    assert.match(text, /^ipvs_service_connections_total\{family="ipv4",protocol="tcp",service="198\.18\.0\.1:80"\} 9007199254740988$/m);
    assert.match(text, /^ipvs_destination_incoming_bytes_total\{family="ipv6",protocol="udp",service="\[2001:db8::1\]:53",destination="\[2001:db8::2\]:80"\} 13$/m);
    assert.match(text, /^ipvs_destination_weight\{family="ipv4",protocol="tcp",service="198\.18\.0\.1:80",destination="198\.19\.0\.2:80"\} 0$/m);
    assert.match(text, /^ipvs_service_active_connections\{family="ipv4",protocol="tcp",service="198\.18\.0\.1:80"\} 4$/m);
    assert.match(text, /^ipvs_service_destinations\{family="ipv6",protocol="fwmark",service="7"\} 0$/m);
    assert.match(text, /^ipvs_up 1$/m);
    assert.match(text, /^ipvs_services 3$/m);
    assert.doesNotMatch(text, /^process_/m);
  });

  it('drops the series of services gone since the last scrape; a failed read is ipvs_up 0 and no table', async () => {
    const m = new IpvsMetrics({ processMetrics: false });
    m.update(TABLE);
    m.update(TABLE.slice(2));
    const text = await m.text();
    assert.doesNotMatch(text, /198\.18\.0\.1/);
    m.failed();
    const failed = await m.text();
    assert.match(failed, /^ipvs_up 0$/m);
    // No table sample at all: ipvs_services 0 would read as an empty table.
    assert.deepEqual(failed.split('\n').filter((line) => line && !line.startsWith('#')), ['ipvs_up 0']);
    m.update(TABLE);
    const again = await m.text();
    assert.match(again, /^ipvs_up 1$/m);
    assert.match(again, /^ipvs_services 3$/m);
  });

  it('a table read a batch at a time gives the same metrics as read at once, and drops what the last read had', async () => {
    const whole = new IpvsMetrics({ processMetrics: false });
    whole.update(TABLE);
    const batched = new IpvsMetrics({ processMetrics: false });
    batched.update([{ ...TABLE[0], address: '198.18.9.9' } as Service]);
    batched.begin();
    batched.add(TABLE.slice(0, 1));
    batched.add(TABLE.slice(1));
    batched.finish(TABLE.length);
    assert.equal(await batched.text(), await whole.text());
    assert.doesNotMatch(await batched.text(), /198\.18\.9\.9/);
  });

  it('reads --listen and --port, refusing bad values by name', () => {
    assert.deepEqual(exporterOptions([]), { listen: '127.0.0.1', port: 9494, processMetrics: true });
    assert.deepEqual(exporterOptions(['--listen', '[::1]', '--port=0', '--no-process-metrics']), { listen: '::1', port: 0, processMetrics: false });
    for (const [args, message] of [
      [['--port', '70000'], /--port needs a port number from 0 to 65535, not '70000'/],
      [['--port', 'http'], /not 'http'/],
      [['--listen', 'localhost'], /--listen needs an IPv4 or IPv6 address, not 'localhost'/],
      [['--bind', '1.2.3.4'], /unknown option '--bind'/],
    ] as Array<[string[], RegExp]>) {
      assert.throws(() => exporterOptions(args), (e: Error) => e instanceof CliError && message.test(e.message), args.join(' '));
    }
  });
});
