// The IPVS table as Prometheus metrics (prom-client): one read of the table
// per scrape sets every metric (a batch at a time, or from one list()), then
// the registry writes the text. Counters are the
// kernel's 64-bit counters (connections, packets and bytes in and out) per
// service and per destination; gauges the connection counts and weights.
// Labels name the service (family, protocol, service) and the destination.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Destination, Service, Stats } from '../index';
import { hostPort } from '../address';

export const SERVICE_LABELS = ['family', 'protocol', 'service'] as const;
export const DESTINATION_LABELS = [...SERVICE_LABELS, 'destination'] as const;

type ServiceLabels = Record<(typeof SERVICE_LABELS)[number], string>;
type DestinationLabels = Record<(typeof DESTINATION_LABELS)[number], string>;


/**
 * A service's labels: `protocol` is tcp, udp, sctp, or fwmark for a
 * firewall-mark service, whose `service` is then the mark; otherwise
 * `service` is the virtual address and port.
 */
export function serviceLabels(s: Service): ServiceLabels {
  if (s.fwmark !== undefined) return { family: s.family, protocol: 'fwmark', service: String(s.fwmark) };
  return { family: s.family, protocol: s.protocol!, service: hostPort(s.address!, s.port!) };
}

export function destinationLabels(s: Service, d: Destination): DestinationLabels {
  return { ...serviceLabels(s), destination: hostPort(d.address, d.port) };
}

/** The kernel's counters, each a metric of its own (names end in _total, as counters' do). */
const COUNTERS: ReadonlyArray<{ suffix: string; stat: keyof Stats; help: string }> = [
  { suffix: 'connections_total', stat: 'conns', help: 'Connections scheduled' },
  { suffix: 'incoming_packets_total', stat: 'inpkts', help: 'Packets from clients' },
  { suffix: 'outgoing_packets_total', stat: 'outpkts', help: 'Packets to clients (seen by IPVS only with NAT)' },
  { suffix: 'incoming_bytes_total', stat: 'inbytes', help: 'Bytes from clients' },
  { suffix: 'outgoing_bytes_total', stat: 'outbytes', help: 'Bytes to clients (seen by IPVS only with NAT)' },
];

/** A 64-bit counter as a sample value: exact up to 2^53 (9 PB), beyond that what any float64 sample holds. */
function sample(value: bigint): number {
  return Number(value);
}

export interface IpvsMetricsOptions {
  /** Also export the exporter process's own metrics (prom-client's default process_* and nodejs_*). Default true. */
  processMetrics?: boolean;
}

/** The metrics of one IPVS table, in a registry of their own. */
export class IpvsMetrics {
  readonly registry = new Registry();
  private readonly up: Gauge;
  private readonly services: Gauge;
  private readonly serviceCounters: Array<{ metric: Counter; stat: keyof Stats }>;
  private readonly destinationCounters: Array<{ metric: Counter; stat: keyof Stats }>;
  private readonly serviceActive: Gauge;
  private readonly serviceInactive: Gauge;
  private readonly serviceDestinations: Gauge;
  private readonly destinationActive: Gauge;
  private readonly destinationInactive: Gauge;
  private readonly destinationPersistent: Gauge;
  private readonly destinationWeight: Gauge;

  constructor(options: IpvsMetricsOptions = {}) {
    const registers = [this.registry];
    const gauge = (name: string, help: string, labelNames: readonly string[] = []) => new Gauge({ name, help, labelNames, registers });
    const counters = (scope: 'service' | 'destination', labelNames: readonly string[]) =>
      COUNTERS.map(({ suffix, stat, help }) => ({
        metric: new Counter({ name: `ipvs_${scope}_${suffix}`, help: `${help}, per ${scope} (kernel 64-bit counter)`, labelNames, registers }),
        stat,
      }));
    this.up = gauge('ipvs_up', 'Whether the last read of the IPVS table succeeded (1) or not (0)');
    this.services = gauge('ipvs_services', 'Virtual services in the table');
    this.serviceCounters = counters('service', SERVICE_LABELS);
    this.serviceActive = gauge('ipvs_service_active_connections', 'Active connections of all the service\'s destinations', SERVICE_LABELS);
    this.serviceInactive = gauge('ipvs_service_inactive_connections', 'Inactive connections of all the service\'s destinations', SERVICE_LABELS);
    this.serviceDestinations = gauge('ipvs_service_destinations', 'Destinations (real servers) of the service', SERVICE_LABELS);
    this.destinationCounters = counters('destination', DESTINATION_LABELS);
    this.destinationActive = gauge('ipvs_destination_active_connections', 'Active connections (ipvsadm ActiveConn)', DESTINATION_LABELS);
    this.destinationInactive = gauge('ipvs_destination_inactive_connections', 'Inactive connections (ipvsadm InActConn)', DESTINATION_LABELS);
    this.destinationPersistent = gauge('ipvs_destination_persistent_connections', 'Persistence templates (ipvsadm PersistConn)', DESTINATION_LABELS);
    this.destinationWeight = gauge('ipvs_destination_weight', 'Weight of the destination (0: quiesced)', DESTINATION_LABELS);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Sets every IPVS metric from a list() result (services and destinations gone since are dropped). */
  update(table: readonly Service[]): void {
    this.begin();
    this.add(table);
    this.finish(table.length);
  }

  /**
   * Starts a read of the table a batch at a time (begin(), add() per batch,
   * finish()): every table series is dropped, so that services and
   * destinations gone since the last read leave no stale series.
   */
  begin(): void {
    for (const m of [this.serviceActive, this.serviceInactive, this.serviceDestinations, this.destinationActive, this.destinationInactive, this.destinationPersistent, this.destinationWeight]) m.reset();
    for (const { metric } of [...this.serviceCounters, ...this.destinationCounters]) metric.reset();
  }

  /** Sets the metrics of some services with their destinations (a batch of services()). */
  add(services: readonly Service[]): void {
    for (const s of services) {
      const labels = serviceLabels(s);
      if (s.stats) for (const { metric, stat } of this.serviceCounters) metric.inc(labels, sample(s.stats[stat]));
      this.serviceActive.set(labels, s.destinations.reduce((n, d) => n + d.activeConnections, 0));
      this.serviceInactive.set(labels, s.destinations.reduce((n, d) => n + d.inactiveConnections, 0));
      this.serviceDestinations.set(labels, s.destinations.length);
      for (const d of s.destinations) {
        const dl = destinationLabels(s, d);
        if (d.stats) for (const { metric, stat } of this.destinationCounters) metric.inc(dl, sample(d.stats[stat]));
        this.destinationActive.set(dl, d.activeConnections);
        this.destinationInactive.set(dl, d.inactiveConnections);
        this.destinationPersistent.set(dl, d.persistentConnections);
        this.destinationWeight.set(dl, d.weight);
      }
    }
  }

  /** Ends a read that worked: ipvs_up 1, and the number of services read. */
  finish(services: number): void {
    this.up.set(1);
    this.services.set(services);
  }

  /**
   * After a failed read: ipvs_up 0 and no table sample at all, not even
   * `ipvs_services` (a 0 there would read as an empty table, and stale
   * values as current ones).
   */
  failed(): void {
    this.begin();
    this.up.set(0);
    // A gauge without labels keeps a 0 sample through reset(); removing its one (empty) label set leaves none.
    this.services.remove({});
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
