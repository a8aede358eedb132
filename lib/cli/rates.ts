// Rates for `ipvs top`: the change of the kernel's counters between two reads
// of the table, divided by the time between them. The kernel folds its
// per-CPU counters into the totals list() reads every 2 seconds, so a rate
// taken over less than that swings between 0 and twice the real value: rates
// are taken over at least 2 s, from an older read when refreshes are faster.
import type { Stats } from '../index';

export type Counters = Pick<Stats, 'conns' | 'inpkts' | 'outpkts' | 'inbytes' | 'outbytes'>;

export interface Rates {
  /** Connections per second. */
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

/** Counters read at one time, by row key. */
export interface Sample {
  /** Milliseconds (a monotonic clock). */
  at: number;
  counters: Map<string, Counters>;
}

function perSecond(now: bigint, before: bigint, seconds: number): number {
  return Number(now - before) / seconds;
}

/**
 * The rates of one row between two samples: undefined when there is no
 * earlier value, no time has passed, or a counter went down (zeroed, or the
 * service was deleted and added again): no honest rate then.
 */
export function rateBetween(before: Counters | undefined, now: Counters, seconds: number): Rates | undefined {
  if (!before || !(seconds > 0)) return undefined;
  if (now.conns < before.conns || now.inpkts < before.inpkts || now.outpkts < before.outpkts || now.inbytes < before.inbytes || now.outbytes < before.outbytes) return undefined;
  return {
    cps: perSecond(now.conns, before.conns, seconds),
    inpps: perSecond(now.inpkts, before.inpkts, seconds),
    outpps: perSecond(now.outpkts, before.outpkts, seconds),
    inbps: perSecond(now.inbytes, before.inbytes, seconds),
    outbps: perSecond(now.outbytes, before.outbytes, seconds),
  };
}

/** Every row's rates from the previous sample to this one. */
export function ratesOf(previous: Sample | undefined, current: Sample): Map<string, Rates | undefined> {
  const seconds = previous ? (current.at - previous.at) / 1000 : 0;
  const out = new Map<string, Rates | undefined>();
  for (const [key, counters] of current.counters) out.set(key, rateBetween(previous?.counters.get(key), counters, seconds));
  return out;
}

/** How often the kernel folds its per-CPU counters into the totals (ms). */
export const FOLD_MS = 2000;

/** The reads of the last few seconds, to take rates over at least `windowMs`. */
export class RateHistory {
  private samples: Sample[] = [];

  constructor(private readonly windowMs = FOLD_MS) {}

  /**
   * Adds a read; returns every row's rates since the newest earlier read at
   * least the window old (less 10% for timer jitter), or since the oldest
   * kept while there is none that old yet.
   */
  add(sample: Sample): Map<string, Rates | undefined> {
    let base = this.samples[0];
    for (const s of this.samples) if (sample.at - s.at >= this.windowMs * 0.9) base = s;
    this.samples = [...this.samples.filter((s) => base && s.at >= base.at), sample];
    return ratesOf(base, sample);
  }
}

/**
 * A rate or count in at most 5 characters: 999, 1.5K, 12.3K, 123K, 1.2M ...
 * (powers of 1000). Fractions below 10 keep one decimal (0.5), so a slow
 * trickle does not read as 0.
 */
export function compactNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value < 10 && value > 0 && !Number.isInteger(value)) return value.toFixed(1).replace(/\.0$/, '');
  if (value < 999.5) return String(Math.round(value));
  const units = ['K', 'M', 'G', 'T', 'P', 'E'];
  let v = value;
  let unit = -1;
  while (v >= 999.5 && unit < units.length - 1) {
    v /= 1000;
    unit++;
  }
  return (v < 9.95 ? v.toFixed(1) : String(Math.round(v))) + units[unit];
}
