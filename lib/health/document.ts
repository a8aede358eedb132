// Health in the document `ipvs apply` reads: a service may carry `check`
// (for all its destinations) and `health` (what to do with their states); a
// destination may carry its own `check`, or `check: null` for none. This
// splits such a document into what apply() takes (the same services with
// those fields taken out) and the checked health specs.
import { describe, expectAddress, expectObject, expectOneOf, fields, isPlainObject, optionalInteger } from '../validate';
import { toServiceKey } from '../convert';
import type { DesiredService, ServiceKey } from '../types';
import { DEFAULT_POLICY, PoolPolicy } from './pool';
import { CheckedCheck, expectSeconds, toCheck } from './spec';

const POLICY_FIELDS = new Set(['onFailure', 'slowStart', 'quorum', 'hysteresis', 'sorryServer', 'depoolThreshold', 'notifyUp', 'notifyDown']);
const SORRY_FIELDS = new Set(['address', 'port', 'weight']);
const WEIGHT_MAX = 0x7fffffff;

export interface HealthDestination {
  address: string;
  port: number;
  /** The weight it has when healthy. */
  weight: number;
  /** null: not checked (always counted up). */
  check: CheckedCheck | null;
}

/** Commands run when a destination of the service comes up or goes down (keepalived's notify_up, notify_down): argv, no shell. */
export interface HealthNotify {
  up: string[] | undefined;
  down: string[] | undefined;
}

export interface HealthService {
  /** The service's key fields, as the document gave them. */
  key: ServiceKey;
  /** Equal for two keys naming the same service. */
  id: string;
  /** 'service tcp 198.18.0.10:80'. */
  name: string;
  policy: PoolPolicy;
  notify: HealthNotify;
  destinations: HealthDestination[];
}

function toArgv(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.some((a) => typeof a !== 'string' || a.includes('\0')) || value[0] === '')
    throw new TypeError(`Expected a non-empty array of strings (argv, no shell) for ${name} but received ${describe(value)}`);
  return [...(value as string[])];
}

/** The notify commands of a service's `health` field. */
export function toNotify(value: unknown, name: string): HealthNotify {
  if (value === undefined) return { up: undefined, down: undefined };
  const f = fields(value, name, POLICY_FIELDS);
  return { up: toArgv(f.notifyUp, `${name}.notifyUp`), down: toArgv(f.notifyDown, `${name}.notifyDown`) };
}

/** The `health` field of a service (its notify commands are read by toNotify). */
export function toPolicy(value: unknown, name: string, servicePort: number): PoolPolicy {
  if (value === undefined) return DEFAULT_POLICY;
  const f = fields(value, name, POLICY_FIELDS);
  let sorryServer: PoolPolicy['sorryServer'];
  if (f.sorryServer !== undefined) {
    const s = fields(f.sorryServer, `${name}.sorryServer`, SORRY_FIELDS);
    sorryServer = {
      address: expectAddress(s.address, `${name}.sorryServer.address`),
      port: optionalInteger(s.port, `${name}.sorryServer.port`, 0, 65535, servicePort),
      weight: optionalInteger(s.weight, `${name}.sorryServer.weight`, 1, WEIGHT_MAX, 1),
    };
  }
  const threshold = f.depoolThreshold;
  if (threshold !== undefined && (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)))
    throw new (typeof threshold === 'number' ? RangeError : TypeError)(`Expected a fraction between 0 and 1 for ${name}.depoolThreshold but received ${describe(threshold)}`);
  const quorum = optionalInteger(f.quorum, `${name}.quorum`, 0, WEIGHT_MAX, 0);
  return {
    onFailure: f.onFailure === undefined ? 'inhibit' : expectOneOf(f.onFailure, `${name}.onFailure`, ['inhibit', 'remove'] as const),
    slowStartMs: f.slowStart === undefined ? 0 : expectSeconds(f.slowStart, `${name}.slowStart`, 0, 0),
    quorum,
    hysteresis: optionalInteger(f.hysteresis, `${name}.hysteresis`, 0, quorum, 0),
    sorryServer,
    depoolThreshold: (threshold as number | undefined) ?? 0,
  };
}

/**
 * Splits a desired document (an array of services) into apply()'s input and
 * the health specs of the services that have checks. Throws TypeError or
 * RangeError naming the field (`desired[0].destinations[1].check.timeout`).
 */
export function splitHealth(document: readonly unknown[], name = 'desired'): { desired: DesiredService[]; health: HealthService[] } {
  const desired: DesiredService[] = [];
  const health: HealthService[] = [];
  document.forEach((value, i) => {
    const at = `${name}[${i}]`;
    const { check, health: policyValue, ...service } = expectObject(value, at);
    const key = toServiceKey(service, at);
    const rawDestinations = service.destinations;
    if (rawDestinations !== undefined && !Array.isArray(rawDestinations)) throw new TypeError(`Expected an array for ${at}.destinations`);
    const serviceCheck = check === undefined || check === null ? null : toCheck(check, `${at}.check`);
    const servicePort = key.raw.port ?? 0;
    const destinations: HealthDestination[] = [];
    const plain = (rawDestinations ?? []).map((d: unknown, j: number) => {
      const dat = `${at}.destinations[${j}]`;
      if (!isPlainObject(d)) return d;
      const { check: own, ...rest } = d;
      const destinationCheck = own === null ? null : own === undefined ? serviceCheck : toCheck(own, `${dat}.check`);
      destinations.push({
        address: expectAddress(rest.address, dat, 'address'),
        port: optionalInteger(rest.port, dat, 0, 65535, servicePort, 'port'),
        weight: optionalInteger(rest.weight, dat, 0, WEIGHT_MAX, 1, 'weight'),
        check: destinationCheck,
      });
      return rest;
    });
    desired.push({ ...service, ...(rawDestinations === undefined ? {} : { destinations: plain }) } as DesiredService);
    const policy = toPolicy(policyValue, `${at}.health`, servicePort);
    const notify = toNotify(policyValue, `${at}.health`);
    if (destinations.some((d) => d.check !== null) || policyValue !== undefined)
      health.push({ key: keyFields(service), id: key.id, name: key.name, policy, notify, destinations });
  });
  return { desired, health };
}

function keyFields(service: Record<string, unknown>): ServiceKey {
  const { protocol, address, port, fwmark, family } = service;
  return (fwmark !== undefined ? { fwmark, ...(family === undefined ? {} : { family }) } : { protocol, address, port }) as ServiceKey;
}

/** A service key's identity, as HealthService.id (for initial weights read from the kernel). */
export function serviceIdOf(service: unknown, name = 'service'): string {
  return toServiceKey(service, name).id;
}
