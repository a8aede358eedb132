// IP addresses: the one definition of a valid address, and the one text form.
// The kernel's replies are formatted by inet_ntop; canonicalAddress() gives
// that same text for any accepted spelling ('2001:DB8::2', '2001:db8:0:0::2',
// '::ffff:1.2.3.4'), so addresses compare as strings once canonical.
import * as net from 'net';

/** 4 or 6 for a valid address without a zone id ('fe80::1%eth0' is refused); 0 otherwise. */
export function addressVersion(text: string): 0 | 4 | 6 {
  if (text.includes('%')) return 0;
  return net.isIP(text) as 0 | 4 | 6;
}

/**
 * The 32-bit value of a valid dotted IPv4 address ('1.2.3.4' -> 0x01020304).
 * Digit by digit, without splitting: listings sort by it (220,000 addresses).
 */
export function ipv4Number(text: string): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      value = (value << 8) | octet;
      octet = 0;
    } else octet = octet * 10 + c - 0x30;
  }
  return ((value << 8) | octet) >>> 0;
}

/** The IPv4 mask of a prefix length 0-32 (24 -> 0xffffff00). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The prefix length of a contiguous IPv4 mask (0xffffff00 -> 24), or undefined for a mask with holes (255.0.255.0). */
export function maskPrefix(mask: number): number | undefined {
  const inverted = ~mask >>> 0;
  return (inverted & (inverted + 1)) === 0 ? 32 - Math.log2(inverted + 1) : undefined;
}

/** Dotted text of a 32-bit value (0xffffff00 -> '255.255.255.0'). */
export function ipv4Text(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/** The eight 16-bit words of a valid IPv6 address. */
export function ipv6Words(text: string): number[] {
  let t = text;
  const words: number[] = [];
  const dot = t.lastIndexOf('.');
  let tail: number[] = [];
  if (dot >= 0) {
    const colon = t.lastIndexOf(':');
    const v4 = ipv4Number(t.slice(colon + 1));
    tail = [v4 >>> 16, v4 & 0xffff];
    t = t.slice(0, colon + 1) + '0';
  }
  const [head, rest] = t.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  if (rest !== undefined) {
    const right16 = right.length + (tail.length ? 1 : 0);
    const fill = 8 - left.length - right16;
    for (const g of left) words.push(parseInt(g, 16));
    for (let i = 0; i < fill; i++) words.push(0);
    for (const g of right) words.push(parseInt(g, 16));
  } else {
    for (const g of left) words.push(parseInt(g, 16));
  }
  if (tail.length) words.splice(words.length - 1, 1, ...tail);
  return words;
}

/** IPv6 text exactly as glibc's inet_ntop writes it (RFC 5952, with ::ffff:a.b.c.d forms). */
export function ipv6Text(words: number[]): string {
  let bestBase = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestBase = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestBase = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLength) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && bestBase === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
      return text + ipv4Text(((words[6] << 16) | words[7]) >>> 0);
    }
    text += words[i].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLength === 8) text += ':';
  return text;
}

/** The canonical text of an address already known valid of that version (no checks: the hot path). */
export function canonicalText(text: string, version: 4 | 6): string {
  return version === 4 ? text : ipv6Text(ipv6Words(text));
}

/**
 * The canonical text of an address (as the kernel's listings show it), e.g.
 * '2001:DB8:0::1' -> '2001:db8::1'. Public: checks its input, and refuses
 * what is not an address (of `version`, when given) with a TypeError or
 * RangeError naming `address`.
 */
export function canonicalAddress(text: string, version?: 4 | 6): string {
  if (typeof text !== 'string') throw new TypeError(`Expected an IPv4 or IPv6 address string for address but received ${typeof text}`);
  const found = addressVersion(text);
  if (found === 0 || (version !== undefined && found !== version)) {
    const excerpt = JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
    const what = version === undefined ? 'an IPv4 or IPv6 address (without a zone id)' : `an IPv${version} address${version === 6 ? ' (without a zone id)' : ''}`;
    throw new RangeError(`Expected ${what} for address but received ${excerpt}`);
  }
  return canonicalText(text, found);
}

/** 4 or 6 for an address already known to be valid (IPv6 text always has a colon). */
export function versionOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** 'address:port', or '[address]:port' for IPv6, as ipvsadm prints them. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** An address as the big-endian 32-bit words ipvsadm compares when sorting. */
export function addressWords(address: string): number[] {
  if (!address.includes(':')) return [ipv4Number(address)];
  const w = ipv6Words(address);
  return [0, 2, 4, 6].map((i) => w[i] * 0x10000 + w[i + 1]);
}
