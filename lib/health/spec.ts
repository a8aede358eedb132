// Check specs: what a `check` on a service or a destination holds, in the
// JSON/YAML shape `ipvs apply` reads, checked field by field before anything
// runs. Times are seconds (fractions allowed), as every other time in the
// document (persistence timeout, drain timeout) is.
import { describe, expectBoolean, expectInteger, expectObject, expectOneOf, fields } from '../validate';

export const CHECK_TYPES = ['tcp', 'http', 'https', 'udp', 'dns', 'command', 'file'] as const;
export type CheckType = (typeof CHECK_TYPES)[number];

/** ipvsadm's documented weight range (-w 0-65535): the default ceiling of a weight a check reports. */
export const MAX_REPORTED_WEIGHT = 65535;

/** Timing and counting shared by every check. */
export interface CheckTiming {
  /** Seconds between two runs, measured start to start (a fixed rate, never drifting). Default 5. */
  interval?: number;
  /** Seconds: a hard deadline on the whole exchange (connect, request, every byte of the answer). Default 2; at most `interval`. */
  timeout?: number;
  /** Consecutive successes that bring a down destination up. Default 2. */
  rise?: number;
  /** Consecutive failures that take an up destination down. Default 3. */
  fall?: number;
  /** Seconds before the next run after a failure that has not yet taken the destination down. Default: `interval`. */
  retryDelay?: number;
  /** The first run starts at a random time within this many seconds, so checks spread over the period. Default: `interval`. */
  jitter?: number;
}

export interface TcpCheck extends CheckTiming {
  type: 'tcp';
  /** Defaults to the destination's port. */
  port?: number;
}

export interface HttpCheck extends CheckTiming {
  type: 'http' | 'https';
  port?: number;
  /** Default '/'. */
  path?: string;
  /** Default 'GET'. */
  method?: 'GET' | 'HEAD';
  /** The Host header (and the TLS server name); default the destination's address. */
  host?: string;
  /** Accepted status codes: numbers or 'low-high' ranges. Default ['200-299']. */
  status?: Array<number | string>;
  /** A regular expression the body must match (JavaScript syntax). */
  body?: string;
  /** The md5 of the body, in hex, as keepalived's `digest`. */
  digest?: string;
  /** https: verify the server's certificate. Default true. */
  verify?: boolean;
}

export interface UdpCheck extends CheckTiming {
  type: 'udp';
  port?: number;
  /** The datagram to send (UTF-8 text). */
  send: string;
  /** A regular expression the answer must match; omitted: any answer passes. */
  expect?: string;
}

export interface DnsCheck extends CheckTiming {
  type: 'dns';
  /** Defaults to the destination's port. */
  port?: number;
  /** The name to resolve. */
  name: string;
  /** Default 'A'. */
  recordType?: 'A' | 'AAAA';
  /** An address the answer must contain; omitted: any answer passes. */
  expect?: string;
}

export interface CommandCheck extends CheckTiming {
  type: 'command';
  /** argv (no shell): the destination is in $IPVS_CHECK_ADDRESS and $IPVS_CHECK_PORT. */
  command: string[];
  /** Exit 0 up, 1 down, 2-255 up with weight (status - 2), as keepalived's misc_dynamic. Default false: 0 up, anything else down. */
  dynamicWeight?: boolean;
  /** The largest weight the command may set. Default 65535. */
  maxWeight?: number;
}

export interface FileCheck extends CheckTiming {
  type: 'file';
  /** A file holding one integer: the destination's weight (0: drained, still up). */
  path: string;
  /** The largest weight the file may set. Default 65535. */
  maxWeight?: number;
}

export type CheckSpec = TcpCheck | HttpCheck | UdpCheck | DnsCheck | CommandCheck | FileCheck;

/** A status range, both ends included. */
export interface StatusRange {
  low: number;
  high: number;
}

/** A check with every default filled in, times in milliseconds, patterns compiled. */
export interface CheckedTiming {
  type: CheckType;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  retryDelayMs: number;
  jitterMs: number;
}

/** A checked check without its identity. */
export type CheckBody = CheckedTiming &
  (
    | { type: 'tcp'; port: number | undefined }
    | {
        type: 'http' | 'https';
        port: number | undefined;
        path: string;
        method: 'GET' | 'HEAD';
        host: string | undefined;
        status: StatusRange[];
        body: RegExp | undefined;
        digest: string | undefined;
        verify: boolean;
      }
    | { type: 'udp'; port: number | undefined; send: string; expect: RegExp | undefined }
    | { type: 'dns'; port: number | undefined; name: string; recordType: 'A' | 'AAAA'; expect: string | undefined }
    | { type: 'command'; command: string[]; dynamicWeight: boolean; maxWeight: number }
    | { type: 'file'; path: string; maxWeight: number }
  );

export type CheckedCheck = CheckBody & {
  /** Equal for two checks exactly when they run the same exchange: the key that dedupes them. */
  id: string;
};

const TIMING_FIELDS = ['type', 'interval', 'timeout', 'rise', 'fall', 'retryDelay', 'jitter'];
const KNOWN: Record<CheckType, ReadonlySet<string>> = {
  tcp: new Set([...TIMING_FIELDS, 'port']),
  http: new Set([...TIMING_FIELDS, 'port', 'path', 'method', 'host', 'status', 'body', 'digest']),
  https: new Set([...TIMING_FIELDS, 'port', 'path', 'method', 'host', 'status', 'body', 'digest', 'verify']),
  udp: new Set([...TIMING_FIELDS, 'port', 'send', 'expect']),
  dns: new Set([...TIMING_FIELDS, 'port', 'name', 'recordType', 'expect']),
  command: new Set([...TIMING_FIELDS, 'command', 'dynamicWeight', 'maxWeight']),
  file: new Set([...TIMING_FIELDS, 'path', 'maxWeight']),
};

/** A day: no check waits longer between runs. */
const MAX_SECONDS = 86400;
/** 10 ms: below that a timer cannot keep time. */
const MIN_SECONDS = 0.01;

/** Seconds as milliseconds: a finite number in [min, MAX_SECONDS]. */
export function expectSeconds(value: unknown, name: string, min: number, fallback: number): number {
  if (value === undefined) return Math.round(fallback * 1000);
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new TypeError(`Expected a number of seconds between ${min} and ${MAX_SECONDS} for ${name} but received ${describe(value)}`);
  if (value < min || value > MAX_SECONDS)
    throw new RangeError(`Expected a number of seconds between ${min} and ${MAX_SECONDS} for ${name} but received ${describe(value)}`);
  return Math.round(value * 1000);
}

function expectText(value: unknown, name: string, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096)
    throw new (typeof value === 'string' ? RangeError : TypeError)(`Expected a string of 1 to 4096 characters for ${name} but received ${describe(value)}`);
  return value;
}

function optionalText(value: unknown, name: string): string | undefined {
  return value === undefined ? undefined : expectText(value, name);
}

function expectPattern(value: unknown, name: string): RegExp | undefined {
  if (value === undefined) return undefined;
  const source = expectText(value, name);
  try {
    return new RegExp(source);
  } catch (error) {
    throw new RangeError(`Expected a regular expression for ${name} but received ${describe(value)} (${(error as Error).message})`);
  }
}

function expectStatus(value: unknown, name: string): StatusRange[] {
  if (value === undefined) return [{ low: 200, high: 299 }];
  if (!Array.isArray(value) || value.length === 0) throw new TypeError(`Expected a non-empty array of status codes or 'low-high' ranges for ${name} but received ${describe(value)}`);
  return value.map((item: unknown, i) => {
    const at = `${name}[${i}]`;
    if (typeof item === 'number') {
      const code = expectInteger(item, at, 100, 599);
      return { low: code, high: code };
    }
    const match = typeof item === 'string' ? /^(\d{3})-(\d{3})$/.exec(item) : null;
    if (!match) throw new (typeof item === 'string' ? RangeError : TypeError)(`Expected a status code or a 'low-high' range such as '200-299' for ${at} but received ${describe(item)}`);
    const low = expectInteger(Number(match[1]), at, 100, 599);
    const high = expectInteger(Number(match[2]), at, low, 599);
    return { low, high };
  });
}

function optionalPort(value: unknown, name: string): number | undefined {
  return value === undefined ? undefined : expectInteger(value, name, 1, 65535);
}

/**
 * A check spec, validated, defaults filled in. `name` is where it sits in the
 * document ('desired[0].destinations[1].check'), for messages.
 */
export function toCheck(value: unknown, name: string): CheckedCheck {
  const type = expectOneOf(expectObject(value, name).type, name, CHECK_TYPES, 'type');
  const f = fields(value, name, KNOWN[type]);
  const intervalMs = expectSeconds(f.interval, `${name}.interval`, MIN_SECONDS, 5);
  const timeoutMs = expectSeconds(f.timeout, `${name}.timeout`, MIN_SECONDS, Math.min(2, intervalMs / 1000));
  // A run never outlives its period, so a check never has two runs at once.
  if (timeoutMs > intervalMs)
    throw new RangeError(`Expected ${name}.timeout to be at most ${name}.interval (${intervalMs / 1000} s) but received ${describe(f.timeout)}`);
  const timing: CheckedTiming = {
    type,
    intervalMs,
    timeoutMs,
    rise: f.rise === undefined ? 2 : expectInteger(f.rise, `${name}.rise`, 1, 1000),
    fall: f.fall === undefined ? 3 : expectInteger(f.fall, `${name}.fall`, 1, 1000),
    retryDelayMs: expectSeconds(f.retryDelay, `${name}.retryDelay`, MIN_SECONDS, intervalMs / 1000),
    jitterMs: expectSeconds(f.jitter, `${name}.jitter`, 0, intervalMs / 1000),
  };
  const maxWeight = () => (f.maxWeight === undefined ? MAX_REPORTED_WEIGHT : expectInteger(f.maxWeight, `${name}.maxWeight`, 0, 0x7fffffff));
  let check: CheckBody;
  switch (type) {
    case 'tcp':
      check = { ...timing, type, port: optionalPort(f.port, `${name}.port`) };
      break;
    case 'http':
    case 'https': {
      const path = expectText(f.path, `${name}.path`, '/');
      if (!path.startsWith('/') || /[\s]/.test(path)) throw new RangeError(`Expected a path starting with '/' and without whitespace for ${name}.path but received ${describe(f.path)}`);
      const host = optionalText(f.host, `${name}.host`);
      if (host !== undefined && /[\s]/.test(host)) throw new RangeError(`Expected a host without whitespace for ${name}.host but received ${describe(host)}`);
      const digest = optionalText(f.digest, `${name}.digest`);
      if (digest !== undefined && !/^[0-9a-fA-F]{32}$/.test(digest)) throw new RangeError(`Expected 32 hex digits (an md5) for ${name}.digest but received ${describe(digest)}`);
      check = {
        ...timing,
        type,
        port: optionalPort(f.port, `${name}.port`),
        path,
        method: f.method === undefined ? 'GET' : expectOneOf(f.method, `${name}.method`, ['GET', 'HEAD'] as const),
        host,
        status: expectStatus(f.status, `${name}.status`),
        body: expectPattern(f.body, `${name}.body`),
        digest: digest?.toLowerCase(),
        verify: expectBoolean(f.verify, `${name}.verify`, true),
      };
      if (check.method === 'HEAD' && (check.body !== undefined || check.digest !== undefined))
        throw new RangeError(`Expected no ${name}.body or ${name}.digest with method 'HEAD' (a HEAD answer has no body)`);
      break;
    }
    case 'udp':
      check = { ...timing, type, port: optionalPort(f.port, `${name}.port`), send: expectText(f.send, `${name}.send`), expect: expectPattern(f.expect, `${name}.expect`) };
      break;
    case 'dns':
      check = {
        ...timing,
        type,
        port: optionalPort(f.port, `${name}.port`),
        name: expectText(f.name, `${name}.name`),
        recordType: f.recordType === undefined ? 'A' : expectOneOf(f.recordType, `${name}.recordType`, ['A', 'AAAA'] as const),
        expect: optionalText(f.expect, `${name}.expect`),
      };
      break;
    case 'command': {
      if (!Array.isArray(f.command) || f.command.length === 0)
        throw new TypeError(`Expected a non-empty array of strings (argv, no shell) for ${name}.command but received ${describe(f.command)}`);
      const command = f.command.map((arg: unknown, i) => {
        if (typeof arg !== 'string' || arg.includes('\0')) throw new TypeError(`Expected a string without NUL for ${name}.command[${i}] but received ${describe(arg)}`);
        return arg;
      });
      if (command[0].length === 0) throw new RangeError(`Expected a program for ${name}.command[0] but received ""`);
      check = { ...timing, type, command, dynamicWeight: expectBoolean(f.dynamicWeight, `${name}.dynamicWeight`), maxWeight: maxWeight() };
      break;
    }
    case 'file':
      check = { ...timing, type, path: expectText(f.path, `${name}.path`), maxWeight: maxWeight() };
      break;
  }
  return { ...check, id: checkId(check) };
}

/**
 * What makes two checks the same exchange: every field but the start jitter
 * (which only spreads the first run). Patterns by their source.
 */
function checkId(check: CheckBody): string {
  const parts: string[] = [];
  for (const key of Object.keys(check).sort()) {
    if (key === 'jitterMs') continue;
    const v = (check as unknown as Record<string, unknown>)[key];
    parts.push(`${key}=${JSON.stringify(v instanceof RegExp ? v.source : v)}`);
  }
  return parts.join(';');
}
