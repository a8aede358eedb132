// Health decisions as the reconciler's overrides. The desired state says
// what a healthy destination weighs; a health decision that differs from it
// (weight 0, a slow-start step, a weight a check reports, out of the
// service) is held as an override, which a resync never undoes and which
// never fights a drain. A decision equal to the desired weight releases the
// override, so the desired state decides again.
//
// A sorry server must be in the desired state for an override to reach it
// (the reconciler holds overrides only of destinations it is asked to keep),
// so withSorryServers() adds each one, and the override keeps it out (or at
// weight 0) while quorum holds.
import type { Override, Reconciler } from '../desired/reconciler';
import { toServiceKey } from '../convert';
import type { ForwardingMethod } from '../constants';
import type { DesiredService, DestinationSpec, ServiceKey } from '../types';
import type { HealthService } from './document';
import type { InitialTable, WeightChange, WeightSink } from './monitor';

/** What of a reconciler the sink uses. */
export type OverrideTarget = Pick<Reconciler, 'overrideMany'>;

export interface OverrideChange {
  service: ServiceKey;
  destination: { address: string; port: number };
  override: Override | null;
}

function destinationId(address: string, port: number): string {
  return `${address} ${port}`;
}

/** Each checked destination's desired (healthy) weight, by service id and destination ('address port'). */
function configuredWeights(health: readonly HealthService[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const s of health) {
    const weights = new Map<string, number>();
    for (const d of s.destinations) weights.set(destinationId(d.address, d.port), d.weight);
    const sorry = s.policy.sorryServer;
    if (sorry !== undefined) weights.set(destinationId(sorry.address, sorry.port), sorry.weight);
    out.set(s.id, weights);
  }
  return out;
}

/** The override that gives a destination `weight` (null: out of its service) when the desired state says `configured`. */
function overrideFor(weight: number | null, configured: number | undefined): Override | null {
  if (weight === null) return { remove: true };
  return weight === configured ? null : { weight };
}

/**
 * A WeightSink over a reconciler's overrides: each batch of weight changes
 * is one overrideMany() call (one send). A send that leaves any change
 * failed, unknown or unsent rejects, so the monitor sends those services
 * again with its next batch.
 */
export function overrideSink(reconciler: OverrideTarget, health: readonly HealthService[]): WeightSink {
  const configured = configuredWeights(health);
  return {
    async setWeights(changes: WeightChange[]): Promise<void> {
      const result = await reconciler.overrideMany(
        changes.map((c) => {
          const weights = configured.get(toServiceKey(c.service).id);
          return { service: c.service, destination: c.destination, override: overrideFor(c.weight, weights?.get(destinationId(c.destination.address, c.destination.port))) };
        }),
      );
      const { failed, unknown, unsent } = result.counts;
      if (failed + unknown + unsent > 0) {
        const bad = result.changes.find((x) => x.status === 'failed' || x.status === 'unknown' || x.status === 'unsent');
        throw new Error(`weight changes not applied (${failed} failed, ${unknown} unknown, ${unsent} unsent)${bad?.error ? `: ${bad.error.message}` : ''}`);
      }
    },
  };
}

/**
 * The overrides that keep the kernel's weights as they are when the checker
 * starts, given before the desired state so that a restart writes nothing
 * (the monitor starts from the same weights, and changes them only when its
 * checks say so): a checked destination (or sorry server) at a weight other
 * than its desired one is held there; one absent from the kernel starts out
 * of the service (onFailure 'remove', and every sorry server) or at weight 0.
 */
export function initialOverrides(health: readonly HealthService[], table: InitialTable): OverrideChange[] {
  const kernel = new Map<string, Map<string, number>>();
  table.forEach((s, i) => {
    const weights = new Map<string, number>();
    for (const d of s.destinations ?? []) weights.set(destinationId(d.address, d.port), d.weight);
    kernel.set(toServiceKey(s, `table[${i}]`).id, weights);
  });
  const out: OverrideChange[] = [];
  for (const s of health) {
    const weights = kernel.get(s.id) ?? new Map<string, number>();
    const hold = (address: string, port: number, configured: number, absent: Override) => {
      const weight = weights.get(destinationId(address, port));
      const override = weight === undefined ? absent : overrideFor(weight, configured);
      if (override !== null) out.push({ service: s.key, destination: { address, port }, override });
    };
    const absent: Override = s.policy.onFailure === 'remove' ? { remove: true } : { weight: 0 };
    for (const d of s.destinations) if (d.check !== null) hold(d.address, d.port, d.weight, absent);
    const sorry = s.policy.sorryServer;
    if (sorry !== undefined) hold(sorry.address, sorry.port, sorry.weight, { remove: true });
  }
  return out;
}

/**
 * The desired state with each service's sorry server among its destinations
 * (at its weight, forwarded as the service's first destination is, or
 * masq). Throws RangeError if a sorry server is also a real destination.
 */
export function withSorryServers(desired: readonly DesiredService[], health: readonly HealthService[]): DesiredService[] {
  const sorryOf = new Map<string, HealthService>();
  for (const s of health) if (s.policy.sorryServer !== undefined) sorryOf.set(s.id, s);
  return desired.map((service, i) => {
    const s = sorryOf.get(toServiceKey(service, `desired[${i}]`).id);
    if (s === undefined) return service;
    const sorry = s.policy.sorryServer!;
    if (s.destinations.some((d) => d.address === sorry.address && d.port === sorry.port))
      throw new RangeError(`Expected the sorry server of ${s.name} (${sorry.address} port ${sorry.port}) not to be one of its destinations too`);
    const destinations: DestinationSpec[] = [...((service as { destinations?: DestinationSpec[] }).destinations ?? [])];
    const forwarding: ForwardingMethod = destinations[0]?.forwarding ?? 'masq';
    destinations.push({ address: sorry.address, port: sorry.port, weight: sorry.weight, forwarding });
    return { ...service, destinations } as DesiredService;
  });
}
