// Where a fleet's desired state lives in etcd, under one prefix (default
// /ipvs):
//
//   PREFIX/services/NAME                 one service, the JSON shape apply() takes
//                                        (health-check fields `check` and `health` allowed)
//   PREFIX/directors/DIRECTOR/services/NAME
//                                        that director's override of NAME: a service
//                                        (replaces or adds one), or `null` (it has none)
//   PREFIX/max-deletes                   the deletion limit per update (a decimal integer)
//   PREFIX/confirm                       a store revision: a held update up to it is applied
//   PREFIX/status/DIRECTOR               each agent's status, on a lease (gone when it dies)
//
// NAME is the service's identity: `tcp:198.18.0.10:80`, `udp:[2001:db8::1]:53`,
// `fwmark:7:ipv4`. Checking here needs no kernel: the same checks apply()
// makes before it sends (kernel features aside).
import { hostPort } from '../address';
import { toDestination, toService, toServiceKey, type CheckedKey } from '../convert';
import { splitHealth, type HealthService } from '../health/document';
import { withSorryServers } from '../health/sink';
import type { DesiredService } from '../types';
import { describe } from '../validate';

export const DEFAULT_PREFIX = '/ipvs';

export interface Layout {
  prefix: string;
  services: string;
  maxDeletes: string;
  confirm: string;
  status: string;
  /** The overrides of one director. */
  overrides(director: string): string;
  statusOf(director: string): string;
}

/** The keys under `prefix` (no trailing slash; must start with one). */
export function layout(prefix: string = DEFAULT_PREFIX): Layout {
  if (typeof prefix !== 'string' || !/^\/[^\s]*[^/\s]$/.test(prefix))
    throw new RangeError(`Expected a key prefix like /ipvs (a leading slash, no trailing one, no spaces) for prefix but received ${describe(prefix)}`);
  return {
    prefix,
    services: `${prefix}/services/`,
    maxDeletes: `${prefix}/max-deletes`,
    confirm: `${prefix}/confirm`,
    status: `${prefix}/status/`,
    overrides: (director) => `${prefix}/directors/${checkDirector(director)}/services/`,
    statusOf: (director) => `${prefix}/status/${checkDirector(director)}`,
  };
}

/** A director's name: letters, digits, '.', '_', '-'. */
export function checkDirector(director: unknown): string {
  if (typeof director !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(director))
    throw new RangeError(`Expected a director name (1-64 letters, digits, '.', '_', '-') for director but received ${describe(director)}`);
  return director;
}

const PROTOCOL_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** The store's name of a service: `tcp:198.18.0.10:80`, `fwmark:7:ipv4`. */
export function serviceName(key: CheckedKey): string {
  const k = key.raw;
  if (k.fwmark) return `fwmark:${k.fwmark}:${key.family}`;
  return `${PROTOCOL_NAMES[k.protocol ?? 0] ?? k.protocol}:${hostPort(k.address ?? '', k.port ?? 0)}`;
}

/** A service of the store, checked: its identity, store name, the service apply() takes (health fields taken out), and its JSON text. */
export interface StoredService {
  id: string;
  name: string;
  /** What the reconciler is given: the service without its health fields, its sorry server among its destinations. */
  service: DesiredService;
  /** Its health checks and policy (undefined: it has none). */
  health: HealthService | undefined;
  /** The value as stored (what a change is compared by). */
  text: string;
  /** Services and destinations it holds (what deleting it removes). */
  destinations: string[];
}

/**
 * Checks one service (a parsed JSON value) as apply() would, health fields
 * included; throws TypeError/RangeError naming `name`'s field.
 */
export function checkStoredService(value: unknown, name: string, text = JSON.stringify(value)): StoredService {
  let plain: DesiredService;
  let health: HealthService | undefined;
  try {
    const split = splitHealth([value], name);
    health = split.health[0];
    plain = withSorryServers(split.desired, split.health)[0];
  } catch (error) {
    // splitHealth names the one element `${name}[0]`: the value is `name` itself.
    if (error instanceof TypeError || error instanceof RangeError) error.message = error.message.split(`${name}[0]`).join(name);
    throw error;
  }
  const checked = toService(plain, name);
  const destinations = (plain.destinations ?? []).map((d, j) => {
    const c = toDestination(d, checked, `${name}.destinations[${j}]`);
    return `${c.address} ${c.port}`;
  });
  return { id: checked.id, name: serviceName(toServiceKey(plain, name)), service: plain, health, text, destinations };
}

/** A stored value (JSON text) read back: a checked service, `null` (an override removing one), or an error naming `key`. */
export function parseStored(key: string, text: string): StoredService | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`${key}: not JSON: ${(error as Error).message}`);
  }
  if (value === null) return null;
  return checkStoredService(value, key, text);
}

/**
 * The desired state of `director`: the shared services with its overrides on
 * top, by service id. `stored` holds the store's keys and values;
 * `parse` reads one (a cache may stand behind it); a value that is not a
 * valid service is reported in `invalid` and stands for `kept(name)` (the
 * agent keeps that service's applied state; nothing, for a reader).
 */
export function effectiveState(
  keys: Layout,
  director: string,
  stored: ReadonlyMap<string, string>,
  parse: (key: string, text: string) => StoredService | null | Error = tryParse,
  kept: (name: string) => StoredService | undefined = () => undefined,
): { services: Map<string, StoredService>; invalid: string[] } {
  const byName = new Map<string, StoredService | null>();
  const invalid: string[] = [];
  const overrides = keys.overrides(director);
  const read = (key: string, name: string) => {
    const value = parse(key, stored.get(key)!);
    if (value instanceof Error) {
      invalid.push(value.message);
      const k = kept(name);
      if (k !== undefined) byName.set(name, k);
      return;
    }
    if (value !== null && value.name !== name) {
      invalid.push(`${key}: holds ${value.name}, not ${name}: ignored`);
      return;
    }
    byName.set(name, value);
  };
  for (const key of stored.keys()) if (key.startsWith(keys.services)) read(key, key.slice(keys.services.length));
  for (const key of stored.keys()) if (key.startsWith(overrides)) read(key, key.slice(overrides.length));
  const services = new Map<string, StoredService>();
  for (const s of byName.values()) if (s !== null) services.set(s.id, s);
  return { services, invalid };
}

function tryParse(key: string, text: string): StoredService | null | Error {
  try {
    return parseStored(key, text);
  } catch (error) {
    return error as Error;
  }
}
