// Host and port names for listings without -n, as ipvsadm finds them
// (gethostbyaddr and getservbyport: /etc/hosts, DNS, /etc/services). Names
// are looked up before printing, all at once, so the formatter stays
// synchronous and a slow resolver is waited on once, not per line.
import { promises as dns } from 'dns';
import type { Names } from '../rules/format';
import { systemPortNames } from '../rules/services';

/** Names for every address given (looked up in parallel; an address without a name prints as itself). */
export async function lookupNames(addresses: Iterable<string>): Promise<Names> {
  const hosts = new Map<string, string | undefined>();
  await Promise.all(
    [...new Set(addresses)].map(async (address) => {
      try {
        hosts.set(address, (await dns.lookupService(address, 0)).hostname);
      } catch {
        hosts.set(address, undefined);
      }
    }),
  );
  const ports = systemPortNames();
  return {
    host: (address) => hosts.get(address),
    port: (port, protocol) => (protocol ? ports.name(port, protocol) : undefined),
  };
}
