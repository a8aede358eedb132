// Argument checks that run before anything reaches the kernel: the only gate
// (the addon trusts what passes here). Every message reads "Expected <what>
// for <field> but received <value>", and describing a value never runs the
// caller's code (no toString, toJSON or inspect hooks) and never echoes more
// than a short excerpt.
import * as util from 'util';
import { addressVersion, canonicalAddress } from './address';

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

/**
 * What a message calls the value: a name ('service.port'), or an object whose
 * toString() builds a path ('desired[12].destinations[3]') only when a message
 * needs it. Checks on bulk paths pass the field separately (`name`, 'port') so
 * that no text is joined unless the check fails.
 */
export type Name = string | { toString(): string };

/** `name.field`, or `name` alone. */
export function fieldName(name: Name, field?: string): string {
  return field === undefined ? `${name}` : `${name}.${field}`;
}

function fail(Kind: typeof TypeError | typeof RangeError, what: string, name: Name, value: unknown, field?: string): never {
  throw new Kind(`Expected ${what} for ${fieldName(name, field)} but received ${describe(value)}`);
}

/** A plain object: an object literal or JSON value (not an array, Map, class instance or proxy). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || util.types.isProxy(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function expectObject(value: unknown, name: Name, field?: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(TypeError, 'a plain object', name, value, field);
  return value;
}

/** Refuses a set property that is not one of `known`: a misspelt field must not be silently ignored. */
export function refuseUnknown(key: string, name: Name, known: ReadonlySet<string>): never {
  throw new TypeError(`Unknown property '${key.length > EXCERPT ? key.slice(0, EXCERPT) + '...' : key}' in ${name}; expected only ${[...known].join(', ')}`);
}

/**
 * The object's own enumerable properties among `known` (inherited ones never
 * count), after refusing any other property that is set. For small objects
 * off the bulk paths; apply()'s per-destination path reads fields with a
 * switch over Object.keys() instead (see convert.ts), which allocates nothing.
 */
export function fields(value: unknown, name: string, known: ReadonlySet<string>): Record<string, unknown> {
  const object = expectObject(value, name);
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(object)) {
    const v = object[key];
    if (known.has(key)) out[key] = v;
    else if (v !== undefined) refuseUnknown(key, name, known);
  }
  return out;
}

export function expectInteger(value: unknown, name: Name, min: number, max: number, field?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(TypeError, `an integer between ${min} and ${max}`, name, value, field);
  if (value < min || value > max) fail(RangeError, `an integer between ${min} and ${max}`, name, value, field);
  return value;
}

export function optionalInteger(value: unknown, name: Name, min: number, max: number, fallback: number, field?: string): number {
  return value === undefined ? fallback : expectInteger(value, name, min, max, field);
}

export function expectBoolean(value: unknown, name: string, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(TypeError, 'a boolean', name, value);
  return value;
}

export function expectOneOf<T extends string>(value: unknown, name: Name, allowed: readonly T[], field?: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  const what = `one of ${allowed.map((a) => `'${a}'`).join(', ')}`;
  return fail(typeof value !== 'string' ? TypeError : RangeError, what, name, value, field);
}

/** An IPv4 or IPv6 address (no zone id), in its canonical text ('2001:DB8::2' -> '2001:db8::2'). */
export function expectAddress(value: unknown, name: Name, field?: string): string {
  if (typeof value !== 'string') fail(TypeError, 'an IPv4 or IPv6 address string', name, value, field);
  const version = addressVersion(value);
  if (version === 0) fail(RangeError, 'an IPv4 or IPv6 address (without a zone id)', name, value, field);
  return canonicalAddress(value, version);
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
