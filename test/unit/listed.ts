// A table from rulesToTable in the shape list() returns (what formatRules
// takes), for the unit tests of the rules format.
import type { Destination, Service } from '../../lib';
import type { rulesToTable } from '../../lib/rules';

export function asListed(table: ReturnType<typeof rulesToTable>): Service[] {
  return table.map((s) => ({
    ...s,
    stats: null,
    destinations: (s.destinations ?? []).map(
      (d) =>
        ({
          ...d,
          family: d.address.includes(':') ? 'ipv6' : 'ipv4',
          tunnel: d.tunnel ?? null,
          activeConnections: 0,
          inactiveConnections: 0,
          persistentConnections: 0,
          stats: null,
        }) as Destination,
    ),
  })) as unknown as Service[];
}
