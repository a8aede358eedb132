// What the running kernel supports. Old kernels ignore attributes they do
// not know, so a feature they lack would silently do nothing: such requests
// are refused up front instead, with the version they need.
import * as os from 'os';
import { IpvsError } from './errors';

/** [major, minor] of a kernel release string such as '6.1.0-56-amd64'. */
export function parseRelease(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function atLeast(version: [number, number], major: number, minor: number): boolean {
  return version[0] > major || (version[0] === major && version[1] >= minor);
}

/** Features whose attributes old kernels drop without an error. */
export const FEATURES = {
  mixedFamily: { since: [3, 18], what: 'a destination of the other address family' },
  gueTunnel: { since: [5, 2], what: 'GUE tunnels' },
  greTunnel: { since: [5, 3], what: 'GRE tunnels' },
  tunnelChecksum: { since: [5, 3], what: 'tunnel checksum options' },
  syncDaemonOptions: { since: [4, 7], what: 'sync daemon max length, multicast group, port and TTL' },
} as const;
export type Feature = keyof typeof FEATURES;

/** Schedulers newer than the oldest kernels, for a better ENOENT message. */
export const SCHEDULER_SINCE: Record<string, [number, number]> = {
  fo: [3, 19],
  ovf: [4, 3],
  mh: [4, 18],
  twos: [6, 2],
};

export class KernelFeatures {
  readonly version: [number, number];
  constructor(readonly release: string = os.release()) {
    this.version = parseRelease(release);
  }

  has(feature: Feature): boolean {
    const [major, minor] = FEATURES[feature].since;
    return atLeast(this.version, major, minor);
  }

  /** Throws an IpvsError (EOPNOTSUPP) when the kernel lacks `feature`. */
  require(feature: Feature, operation: string, object: string): void {
    if (this.has(feature)) return;
    const [major, minor] = FEATURES[feature].since;
    throw new IpvsError(`${operation} ${object}: this kernel (${this.release}) lacks ${FEATURES[feature].what}, which came in Linux ${major}.${minor}`, {
      code: 'EOPNOTSUPP',
      errno: 95,
      operation,
      object,
    });
  }

  /** '; twos needs Linux 6.2 or later, this kernel is 6.1.0' or ''. */
  schedulerHint(scheduler: string): string {
    const since = Object.prototype.hasOwnProperty.call(SCHEDULER_SINCE, scheduler) ? SCHEDULER_SINCE[scheduler] : undefined;
    if (!since || atLeast(this.version, since[0], since[1])) return '';
    return `; ${scheduler} needs Linux ${since[0]}.${since[1]} or later, this kernel is ${this.release}`;
  }
}
