// Argument checks that run before anything reaches the kernel: the only gate
// (the addon trusts what passes here). Every message reads "Expected <what>
// for <field> but received <value>", and describing a value never runs the
// caller's code (no toString, toJSON or inspect hooks) and never echoes more
// than a short excerpt.
import * as util from 'util';
import { addressVersion, canonicalText } from './address';

const EXCERPT = 64;

/** A short description of any value, without calling into it. */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value.length > EXCERPT ? `${JSON.stringify(value.slice(0, EXCERPT))}... (${value.length} characters)` : JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint': {
      const text = value.toString();
      return text.length > EXCERPT ? `a ${text.length}-digit bigint` : `${text}n`;
    }
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      if (util.types.isProxy(value)) return 'a proxy';
      if (Array.isArray(value)) return 'an array';
      return Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null ? 'an object' : 'a non-plain object';
  }
}

function fail(Kind: typeof TypeError | typeof RangeError, what: string, name: string, value: unknown): never {
  throw new Kind(`Expected ${what} for ${name} but received ${describe(value)}`);
}

/** A plain object: an object literal or JSON value (not an array, Map, class instance or proxy). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || util.types.isProxy(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function expectObject(value: unknown, name: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(TypeError, 'a plain object', name, value);
  return value;
}

/**
 * The object's own enumerable properties among `known` (inherited ones never
 * count), after refusing any other property that is set: a misspelt field
 * must not be silently ignored.
 */
export function fields(value: unknown, name: string, known: ReadonlySet<string>): Record<string, unknown> {
  const object = expectObject(value, name);
  const out: Record<string, unknown> = Object.create(null);
  // A non-enumerable own property is invisible to Object.keys (and to JSON, and
  // to spreads): `{ fwmark: 7 }` with a hidden `family: 'ipv6'` must not quietly
  // name the IPv4 service. Refused, as an unknown property is.
  for (const key of Object.getOwnPropertyNames(object))
    if (!Object.prototype.propertyIsEnumerable.call(object, key))
      throw new TypeError(`Non-enumerable property '${key.length > 64 ? key.slice(0, 64) + '...' : key}' in ${name}; expected only plain enumerable properties`);
  for (const key of Object.keys(object)) {
    const v = object[key];
    if (known.has(key)) out[key] = v;
    else if (v !== undefined)
      throw new TypeError(`Unknown property '${key.length > 64 ? key.slice(0, 64) + '...' : key}' in ${name}; expected only ${[...known].join(', ')}`);
  }
  return out;
}

export function expectInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(TypeError, `an integer between ${min} and ${max}`, name, value);
  if (value < min || value > max) fail(RangeError, `an integer between ${min} and ${max}`, name, value);
  return value;
}

export function optionalInteger(value: unknown, name: string, min: number, max: number, fallback: number): number {
  return value === undefined ? fallback : expectInteger(value, name, min, max);
}

export function expectBoolean(value: unknown, name: string, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(TypeError, 'a boolean', name, value);
  return value;
}

export function expectOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  const what = `one of ${allowed.map((a) => `'${a}'`).join(', ')}`;
  return fail(typeof value !== 'string' ? TypeError : RangeError, what, name, value);
}

/** An IPv4 or IPv6 address (no zone id), in its canonical text. */
export function expectAddress(value: unknown, name: string): { version: 4 | 6; address: string } {
  if (typeof value !== 'string') fail(TypeError, 'an IPv4 or IPv6 address string', name, value);
  const version = addressVersion(value);
  if (version === 0) fail(RangeError, 'an IPv4 or IPv6 address (without a zone id)', name, value);
  return { version, address: canonicalText(value, version) };
}

/** A kernel object name (scheduler, persistence engine): letters, digits, '_' and '-'. */
export function expectName(value: unknown, name: string, maxLength: number): string {
  if (typeof value !== 'string') fail(TypeError, `a name of 1 to ${maxLength} characters`, name, value);
  if (!/^[A-Za-z0-9_-]+$/.test(value) || value.length > maxLength)
    fail(RangeError, `a name of 1 to ${maxLength} letters, digits, '_' or '-'`, name, value);
  return value;
}

/** A network interface name as the kernel's dev_valid_name() takes it (so 'eth0.100' is fine). */
export function expectInterfaceName(value: unknown, name: string, maxLength: number): string {
  const what = `an interface name of 1 to ${maxLength} characters without '/', ':' or whitespace`;
  if (typeof value !== 'string') fail(TypeError, what, name, value);
  if (value.length === 0 || value.length > maxLength || value === '.' || value === '..' || /[/:\s\0]/.test(value))
    fail(RangeError, what, name, value);
  return value;
}
