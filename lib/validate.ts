// Argument checks that run before anything reaches the kernel. Every message
// reads "Expected <what> for <field> but received <value>".
import * as net from 'net';
import * as util from 'util';

function show(value: unknown): string {
  return util.inspect(value, { depth: 1, breakLength: Infinity, maxStringLength: 64 });
}

function fail(Kind: typeof TypeError | typeof RangeError, what: string, name: string, value: unknown): never {
  throw new Kind(`Expected ${what} for ${name} but received ${show(value)}`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function expectObject(value: unknown, name: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(TypeError, 'an object', name, value);
  return value;
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
  if (typeof value !== 'string') fail(TypeError, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, name, value);
  if (!(allowed as readonly string[]).includes(value)) fail(RangeError, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, name, value);
  return value as T;
}

/** An IPv4 or IPv6 address in text form; returns 4 or 6. */
export function expectAddress(value: unknown, name: string): 4 | 6 {
  if (typeof value !== 'string') fail(TypeError, 'an IPv4 or IPv6 address string', name, value);
  const version = net.isIP(value);
  if (version === 0) fail(RangeError, 'an IPv4 or IPv6 address', name, value);
  return version as 4 | 6;
}

/** A kernel object name (scheduler, persistence engine): IP_VS_SCHEDNAME_MAXLEN is 16 with the NUL. */
export function expectName(value: unknown, name: string, maxLength = 15): string {
  if (typeof value !== 'string') fail(TypeError, `a name of 1 to ${maxLength} characters`, name, value);
  if (!/^[A-Za-z0-9_-]+$/.test(value) || value.length > maxLength)
    fail(RangeError, `a name of 1 to ${maxLength} letters, digits, '_' or '-'`, name, value);
  return value;
}

/** Rejects properties the caller may have misspelt. */
export function expectKnownKeys(object: Record<string, unknown>, name: string, known: readonly string[]): void {
  for (const key of Object.keys(object))
    if (!known.includes(key) && object[key] !== undefined)
      throw new TypeError(`Unknown property '${key}' in ${name}; expected only ${known.join(', ')}`);
}
