// DNS: one query for `name` to the destination as the only server (one try,
// the check's timeout), up when it answers with records (containing
// `expect` when given). A resolver of its own per run, so cancel() at the
// deadline touches nothing else.
import { promises as dns } from 'dns';
import { hostPort } from '../../address';
import type { CheckedCheck } from '../spec';
import { isCheckerError, Probe } from './probe';

type DnsCheck = Extract<CheckedCheck, { type: 'dns' }>;

export const dnsProbe: Probe<DnsCheck> = async (check, target, context) => {
  const resolver = new dns.Resolver({ timeout: check.timeoutMs, tries: 1 });
  resolver.setServers([hostPort(target.address, target.port)]);
  context.cancel = () => resolver.cancel();
  context.phase = 'answer';
  try {
    const addresses = check.recordType === 'AAAA' ? await resolver.resolve6(check.name) : await resolver.resolve4(check.name);
    if (check.expect !== undefined && !addresses.includes(check.expect))
      return { ok: false, reason: `DNS ${check.recordType} ${check.name} is ${addresses.join(', ')}, not ${check.expect}` };
    return { ok: true, reason: `DNS ${check.recordType} ${check.name} answered` };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    if (isCheckerError(error)) return { ok: false, cannotRun: true, reason: `cannot query: ${code}` };
    return { ok: false, reason: `DNS ${check.recordType} ${check.name}: ${code}` };
  } finally {
    context.cancel = undefined;
  }
};
