// Fingerprints of a service with its destinations, from the request shapes
// the addon takes (RawService, RawDestination). The addon computes the same
// from the kernel's dump (native/fingerprint.cc), so that a verify compares
// on a worker thread and hands JS only the services that differ.
//
// What goes in, as the kernel's numbers:
//   service: family; protocol, address, port (0, '' and 0 for a fwmark
//     service, which the kernel lists as TCP on the zero address); fwmark;
//     scheduler; flags without HASHED (0x2); persistenceEngine; and, only when
//     flags has PERSISTENT (0x1), timeout and netmask.
//   each destination: family, address, port, forwarding, weight,
//     upperThreshold, lowerThreshold, and, only for tunnel forwarding (2),
//     tunnelType, tunnelPort, tunnelFlags (absent = 0).
//   Counters, connection counts and stats are not part of it.
// Addresses must be canonical (as validate.ts's expectAddress() and the
// kernel's listing give them). Destinations are combined by adding their own
// fingerprints lane by lane, so their order does not matter.
//
// How: two 32-bit lanes. A number is one step per lane, h = (h ^ n) * prime
// then h ^= h >>> 15 (lane a) or 13 (lane b); a string is FNV-1a over its
// UTF-8 bytes, then the number 0x100 (never a byte) as its end. Lane a starts
// at 0x811c9dc5 with prime 0x01000193 (FNV-1a's), lane b at 0x9e3779b9 with
// 0x5bd1e995. Each destination and the service are finished by MurmurHash3's
// 32-bit finalizer. A service's input after its own fields: the number of
// destinations, then the sums of their lanes a and b (mod 2^32).
// The text form is 16 lower-case hex digits, lane a then lane b.
import type { RawDestination, RawService } from './addon';

const OFFSET_A = 0x811c9dc5;
const PRIME_A = 0x01000193;
const OFFSET_B = 0x9e3779b9 | 0;
const PRIME_B = 0x5bd1e995;
const END_OF_TEXT = 0x100;
const PERSISTENT = 0x1;
const HASHED = 0x2;
const TUNNEL = 2;

// The lanes being computed: module state, so that hashing allocates nothing.
let a = 0;
let b = 0;

function start(): void {
  a = OFFSET_A;
  b = OFFSET_B;
}

function number(v: number): void {
  a = Math.imul(a ^ v, PRIME_A);
  a ^= a >>> 15;
  b = Math.imul(b ^ v, PRIME_B);
  b ^= b >>> 13;
}

function byte(c: number): void {
  a = Math.imul(a ^ c, PRIME_A);
  b = Math.imul(b ^ c, PRIME_B);
}

function text(s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) byte(c);
    else utf8(s, i, c);
    // A surrogate pair is one code point of two units.
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
  }
  number(END_OF_TEXT);
}

/** The UTF-8 bytes of the code point at s[i] (c = s.charCodeAt(i) >= 0x80), as the addon sees the string. */
function utf8(s: string, i: number, c: number): void {
  let point = c;
  if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00)
    point = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00);
  else if (c >= 0xd800 && c < 0xe000) point = 0xfffd; // a lone surrogate: what a UTF-8 conversion writes
  if (point < 0x800) {
    byte(0xc0 | (point >> 6));
  } else if (point < 0x10000) {
    byte(0xe0 | (point >> 12));
    byte(0x80 | ((point >> 6) & 0x3f));
  } else {
    byte(0xf0 | (point >> 18));
    byte(0x80 | ((point >> 12) & 0x3f));
    byte(0x80 | ((point >> 6) & 0x3f));
  }
  byte(0x80 | (point & 0x3f));
}

/** MurmurHash3's 32-bit finalizer. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Two lower-case hex digits of each byte value. */
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => (i + 0x100).toString(16).slice(1));

/** 8 lower-case hex digits of a 32-bit lane (a table: Number#toString(16) was a third of a fingerprint's time). */
function hex(h: number): string {
  return HEX_BYTE[h >>> 24] + HEX_BYTE[(h >>> 16) & 0xff] + HEX_BYTE[(h >>> 8) & 0xff] + HEX_BYTE[h & 0xff];
}

/**
 * What a service's fingerprint takes of its destinations: how many, and the
 * sums of their lanes. A destination added, changed or removed changes them
 * in O(1) (addDestination), so that a model keeping them per service makes
 * a service's fingerprint without reading its other destinations.
 */
export interface DestinationSums {
  count: number;
  a: number;
  b: number;
}

/** The sums of no destination. */
export function noDestinations(): DestinationSums {
  return { count: 0, a: 0, b: 0 };
}

/** Adds one destination to `sums` (sign 1), or takes it out of them (sign -1). */
export function addDestination(sums: DestinationSums, d: RawDestination, sign: 1 | -1): void {
  start();
  number(d.family);
  text(d.address);
  number(d.port);
  number(d.forwarding);
  number(d.weight);
  number(d.upperThreshold);
  number(d.lowerThreshold);
  if (d.forwarding === TUNNEL) {
    number(d.tunnelType ?? 0);
    number(d.tunnelPort ?? 0);
    number(d.tunnelFlags ?? 0);
  }
  sums.count += sign;
  sums.a = (sums.a + sign * mix(a)) | 0;
  sums.b = (sums.b + sign * mix(b)) | 0;
}

/** The sums of a list of destinations. */
export function destinationSums(destinations: readonly RawDestination[]): DestinationSums {
  const sums = noDestinations();
  for (let i = 0; i < destinations.length; i++) addDestination(sums, destinations[i], 1);
  return sums;
}

/** The fingerprint of a service whose destinations have these sums (see fingerprint()). */
export function serviceFingerprint(service: RawService, sums: DestinationSums): string {
  const fwmark = service.fwmark ?? 0;
  const flags = service.flags & ~HASHED;
  start();
  number(service.family);
  number(fwmark ? 0 : service.protocol ?? 0);
  text(fwmark ? '' : service.address ?? '');
  number(fwmark ? 0 : service.port ?? 0);
  number(fwmark);
  text(service.scheduler);
  number(flags);
  text(service.persistenceEngine);
  if (flags & PERSISTENT) {
    number(service.timeout);
    number(service.netmask);
  }
  number(sums.count);
  number(sums.a);
  number(sums.b);
  return hex(mix(a)) + hex(mix(b));
}

/**
 * The fingerprint of a service and its destinations (in any order), as 16
 * lower-case hex digits: what addon.Fingerprints.set() takes and verify()
 * compares with the kernel's. See the head of this file for what is in it.
 */
export function fingerprint(service: RawService, destinations: readonly RawDestination[]): string {
  return serviceFingerprint(service, destinationSums(destinations));
}
