// The probe for each check type.
import type { CheckedCheck } from '../spec';
import { commandProbe } from './command';
import { dnsProbe } from './dns';
import { fileProbe } from './file';
import { httpProbe } from './http';
import { nativeProbes } from './native';
import { Run, runProbe } from './probe';
import { udpProbe } from './udp';

export type { ProbeResult, ProbeTarget, Run } from './probe';

/**
 * Starts one run of `check` against `target`; its result comes by the check's
 * timeout at the latest. TCP checks and HTTP checks without a body to read
 * run on the native probe engine (native.ts), the others on their probes here.
 */
export function startRun(check: CheckedCheck, target: { address: string; port: number }): Run {
  switch (check.type) {
    case 'tcp': return nativeProbes().start(check, target);
    case 'http': return check.body === undefined && check.digest === undefined ? nativeProbes().start(check, target) : runProbe(httpProbe, check, target);
    case 'https': return runProbe(httpProbe, check, target);
    case 'udp': return runProbe(udpProbe, check, target);
    case 'dns': return runProbe(dnsProbe, check, target);
    case 'command': return runProbe(commandProbe, check, target);
    case 'file': return runProbe(fileProbe, check, target);
  }
}
