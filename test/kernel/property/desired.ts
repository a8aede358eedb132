// Random desired states for apply(), and the table each must leave, by the
// test's own model (never the library's diff).
import fc from 'fast-check';
import type { ApplyOptions, DesiredService } from '../../../lib';
import { Family, Forwarding, MDest, MKey, Model, MService, Tunnel, keyId, destId } from './model';

export interface DesiredCase {
  desired: DesiredService[];
  services: MService[];
}

const KEY_POOL: MKey[] = [
  { protocol: 'tcp', address: '198.18.3.1', port: 80, family: 'ipv4' },
  { protocol: 'tcp', address: '198.18.3.1', port: 443, family: 'ipv4' },
  { protocol: 'udp', address: '198.18.3.2', port: 53, family: 'ipv4' },
  { protocol: 'sctp', address: '198.18.3.3', port: 9, family: 'ipv4' },
  { protocol: 'tcp', address: '198.18.3.4', port: 0, family: 'ipv4' },
  { protocol: 'tcp', address: '2001:db8::10', port: 80, family: 'ipv6' },
  { protocol: 'udp', address: '2001:db8::10', port: 53, family: 'ipv6' },
  { fwmark: 1, family: 'ipv4' },
  { fwmark: 1, family: 'ipv6' },
  { fwmark: 0xffffffff, family: 'ipv4' },
];
const DESTS: Record<Family, string[]> = {
  ipv4: ['198.18.4.1', '198.18.4.2', '198.18.4.3'],
  ipv6: ['2001:db8::20', '2001:db8::21'],
};
/** Other spellings the desired state may use for the same address. */
const SPELLED: Record<string, string> = { '2001:db8::10': '2001:DB8:0::10', '2001:db8::20': '2001:0db8::0020', '2001:db8::21': '2001:DB8::21' };

const tunnel: fc.Arbitrary<Tunnel> = fc.oneof(
  fc.constant<Tunnel>({ type: 'ipip', checksum: 'none' }),
  fc.constantFrom('none' as const, 'checksum' as const).map((checksum): Tunnel => ({ type: 'gre', checksum })),
  fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.constantFrom('none' as const, 'checksum' as const, 'remote' as const)).map(([port, checksum]): Tunnel => ({ type: 'gue', port, checksum })),
);

function dest(k: MKey): fc.Arbitrary<MDest> {
  const servicePort = 'fwmark' in k ? 0 : k.port;
  return fc
    .record({
      family: fc.oneof({ weight: 4, arbitrary: fc.constant(k.family) }, { weight: 1, arbitrary: fc.constantFrom<Family>('ipv4', 'ipv6') }),
      i: fc.nat({ max: 2 }),
      forwarding: fc.constantFrom<Forwarding>('masq', 'route', 'tunnel', 'local', 'bypass'),
      port: fc.constantFrom(8080, 8443, servicePort),
      weight: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(65535)),
      upper: fc.nat({ max: 1000 }),
      lower: fc.nat({ max: 1000 }),
      tunnel,
    })
    .map((d) => {
      const forwarding: Forwarding = d.family !== k.family ? 'tunnel' : d.forwarding;
      const addresses = DESTS[d.family];
      return {
        address: addresses[d.i % addresses.length],
        family: d.family,
        port: forwarding === 'masq' || servicePort === 0 ? d.port : servicePort,
        weight: d.weight,
        forwarding,
        upper: Math.max(d.upper, d.lower),
        lower: Math.min(d.upper, d.lower),
        tunnel: forwarding === 'tunnel' ? d.tunnel : null,
      };
    });
}

const service = (k: MKey): fc.Arbitrary<MService> =>
  fc
    .record({
      scheduler: fc.constantFrom('rr', 'wrr', 'wlc', 'lc', 'sh', 'mh', 'dh', 'sed', 'nq', 'fo', 'ovf', 'lblc', 'lblcr'),
      persistence: fc.option(fc.record({ timeout: fc.integer({ min: 1, max: 86400 }), netmask: k.family === 'ipv6' ? fc.integer({ min: 1, max: 128 }) : fc.integer({ min: 0, max: 32 }) }), { nil: null }),
      pe: fc.boolean(),
      onePacket: fc.boolean(),
      flags: fc.record({ fallback: fc.boolean(), port: fc.boolean(), flag3: fc.boolean() }),
      dests: fc.uniqueArray(dest(k), { maxLength: 4, selector: (d) => destId(d.address, d.port) }),
    })
    .map((s) => {
      const persistence = s.persistence ?? (!('fwmark' in k) && k.port === 0 ? { timeout: 360, netmask: 32 } : null);
      return {
        key: k,
        scheduler: s.scheduler,
        persistence,
        pe: persistence && s.pe ? 'sip' : null,
        onePacket: s.onePacket && ('fwmark' in k || k.protocol === 'udp'),
        flags: s.flags,
        dests: new Map(s.dests.map((d) => [destId(d.address, d.port), d])),
      };
    });

/** The public spelling of a model service: sometimes the listed shape, sometimes other address spellings. */
function spec(s: MService, listed: boolean, respell: boolean): DesiredService {
  const addr = (a: string) => (respell ? SPELLED[a] ?? a : a);
  const k = s.key;
  const key = 'fwmark' in k ? { fwmark: k.fwmark, ...(k.family === 'ipv6' || listed ? { family: k.family } : {}) } : { protocol: k.protocol, address: addr(k.address), port: k.port, ...(listed ? { family: k.family } : {}) };
  return {
    ...key,
    scheduler: s.scheduler,
    persistence: s.persistence,
    persistenceEngine: s.pe,
    onePacket: s.onePacket,
    schedulerFlags: s.flags,
    ...(listed ? { stats: null } : {}),
    destinations: [...s.dests.values()].map((d) => ({
      address: addr(d.address),
      port: d.port,
      weight: d.weight,
      forwarding: d.forwarding,
      upperThreshold: d.upper,
      lowerThreshold: d.lower,
      tunnel: d.tunnel,
      ...(listed ? { family: d.family, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: null } : {}),
    })),
  } as DesiredService;
}

export const desiredState: fc.Arbitrary<DesiredCase> = fc
  .subarray(KEY_POOL, { maxLength: 6 })
  .chain((keys) => fc.tuple(fc.tuple(...keys.map(service)), fc.boolean(), fc.boolean()))
  .map(([services, listed, respell]) => ({ desired: services.map((s) => spec(s, listed, respell)), services }));

type Prune = 'none' | 'all' | 'ipv6' | 'udp' | 'fwmark';
const PREDICATES: Record<Exclude<Prune, 'none' | 'all'>, (k: { family?: string; protocol?: string; fwmark?: number }) => boolean> = {
  ipv6: (s) => s.family === 'ipv6',
  udp: (s) => s.protocol === 'udp',
  fwmark: (s) => s.fwmark !== undefined,
};

export interface OptionsCase {
  options: ApplyOptions;
  drain: boolean;
  prune: (k: MKey) => boolean;
}

export const applyOptions: fc.Arbitrary<OptionsCase> = fc
  .record({ prune: fc.constantFrom<Prune>('none', 'all', 'ipv6', 'udp', 'fwmark'), drain: fc.constantFrom<false | true | 'timeout'>(false, true, 'timeout') })
  .map(({ prune, drain }) => {
    const options: ApplyOptions = {};
    if (prune === 'all') options.prune = true;
    else if (prune !== 'none') options.prune = PREDICATES[prune];
    if (drain === true) options.drain = true;
    if (drain === 'timeout') options.drain = { timeout: 3600 };
    const predicate = prune === 'none' ? () => false : prune === 'all' ? () => true : (k: MKey) => PREDICATES[prune]({ ...k });
    return Object.assign(
      { options, drain: drain !== false, prune: predicate },
      { [fc.toStringMethod]: () => `{prune: ${prune}, drain: ${drain}}` },
    );
  });

/**
 * The rules and thresholds after applying `wanted` over `previous` (the
 * table before): services left out stay unless pruned; with `draining`, a
 * leaving destination that had weight is still there at weight 0.
 */
export function expectedRules(wanted: DesiredCase[], previous: DesiredCase[], options?: OptionsCase, draining = false): { rules: string[]; thresholds: string[] } {
  const model = new Model();
  const before = new Map<string, MService>();
  for (const c of previous) for (const s of c.services) before.set(keyId(s.key), s);
  const want = new Map<string, MService>();
  for (const c of wanted) for (const s of c.services) want.set(keyId(s.key), s);
  for (const [id, s] of before) if (!want.has(id) && !(options?.prune(s.key) ?? true)) model.services.set(id, { ...s, dests: new Map(s.dests) });
  for (const [id, s] of want) {
    const dests = new Map(s.dests);
    const had = before.get(id);
    if (draining && had) for (const [did, d] of had.dests) if (!dests.has(did) && d.weight > 0) dests.set(did, { ...d, weight: 0 });
    model.services.set(id, { ...s, dests });
  }
  return { rules: model.savedRules(), thresholds: model.thresholds() };
}
