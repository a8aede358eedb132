// Plans and results in ipvsadm's own words: each operation prints as the
// rule that does it (-A, -E, -D, -a, -e, -d), so a plan reads like a rules
// file and can be pasted into one.
import type { ApplyResult, BatchResult, ChangeResult, Destination, DestinationSpec, Operation, Service, ServiceSpec } from '../index';
import { formatRules } from '../rules';
import type { Context } from './context';

/** A spec with the defaults the kernel applies filled in, in the listed shape formatRules takes. */
function listed(spec: ServiceSpec, destinations: DestinationSpec[] = []): Service {
  const family = spec.family ?? (spec.address?.includes(':') ? 'ipv6' : 'ipv4');
  const persistence = spec.persistence
    ? { timeout: spec.persistence.timeout ?? 360, netmask: spec.persistence.netmask ?? (family === 'ipv6' ? 128 : 32) }
    : null;
  return {
    ...spec,
    family,
    scheduler: spec.scheduler ?? 'wlc',
    persistence,
    persistenceEngine: spec.persistenceEngine ?? null,
    onePacket: spec.onePacket ?? false,
    schedulerFlags: { fallback: false, port: false, flag3: false, ...spec.schedulerFlags },
    stats: null,
    destinations: destinations.map(
      (d): Destination => ({
        address: d.address,
        family: d.address.includes(':') ? 'ipv6' : 'ipv4',
        port: d.port ?? spec.port ?? 0,
        weight: d.weight ?? 1,
        forwarding: d.forwarding ?? 'route',
        upperThreshold: d.upperThreshold ?? 0,
        lowerThreshold: d.lowerThreshold ?? 0,
        tunnel: d.forwarding === 'tunnel' ? { type: d.tunnel?.type ?? 'ipip', checksum: d.tunnel?.checksum ?? 'none', ...(d.tunnel?.port ? { port: d.tunnel.port } : {}) } : null,
        activeConnections: 0,
        inactiveConnections: 0,
        persistentConnections: 0,
        stats: null,
      }),
    ),
  } as Service;
}

/** The rule that performs an operation, e.g. '-a -t 1.1.1.1:80 -r 2.2.2.2:80 -m -w 100'. */
export function describeOperation(op: Operation): string {
  const lines = (service: ServiceSpec, destination?: DestinationSpec) =>
    formatRules([listed(service, destination ? [destination] : [])], { thresholds: true }).trimEnd().split('\n');
  const serviceWords = (service: ServiceSpec) => lines(service)[0].replace(/^-A (.*?) -s .*$/, '$1');
  switch (op.operation) {
    case 'addService':
      return lines(op.service)[0];
    case 'editService':
      return lines(op.service)[0].replace(/^-A/, '-E');
    case 'deleteService':
      return `-D ${serviceWords(op.service as ServiceSpec)}`;
    case 'addDestination':
      return lines(op.service as ServiceSpec, op.destination)[1];
    case 'editDestination':
      return lines(op.service as ServiceSpec, op.destination)[1].replace(/^-a/, '-e');
    case 'drainDestination':
      return `${lines(op.service as ServiceSpec, op.destination)[1].replace(/^-a/, '-e')}  # drain`;
    case 'deleteDestination': {
      const d = lines(op.service as ServiceSpec, op.destination)[1];
      return d.replace(/^-a (.* -r \S+).*$/, '-d $1');
    }
  }
}

/**
 * Whether a change counts against the exit status: 'failed', 'unknown' and
 * 'unsent' (never sent: not applied either); with `strict` (ipvsadm -R's
 * rule, and --atomic's), 'already' too.
 */
export function isFailure(c: ChangeResult, strict = false): boolean {
  return c.status === 'failed' || c.status === 'unknown' || c.status === 'unsent' || (strict && c.status === 'already');
}

/** How many changes of a result count against the exit status (see isFailure). */
export function failureCount(result: ApplyResult | BatchResult, strict = false): number {
  const n = result.counts;
  return n.failed + n.unknown + n.unsent + (strict ? n.already : 0);
}

/** What the kernel said of a change, in words: its error, and for an add that found its object, whether that differs. */
export function changeReason(c: ChangeResult): string {
  const said = c.error?.message ?? c.status;
  return c.differs ? `${said} with other settings` : said;
}

function changeLine(c: ChangeResult): string {
  const why = c.error || c.differs ? `: ${changeReason(c)}` : '';
  return `${c.status.padEnd(8)} ${describeOperation(c.operation)}${why}`;
}

/**
 * Prints an apply() or batch() result: the plan (or, when quiet, only what
 * did not take effect) and the counts. Returns the exit status: 0 when every
 * change took effect (or it was a dry run), 255 otherwise.
 */
export function printApplyResult(ctx: Context, result: ApplyResult | BatchResult, options: { dryRun?: boolean; quiet?: boolean; strict?: boolean } = {}): number {
  const bad = failureCount(result, options.strict);
  if (options.dryRun) {
    for (const c of result.changes) ctx.io.out(`${describeOperation(c.operation)}\n`);
    ctx.io.out(`# dry run: ${result.changes.length} change${result.changes.length === 1 ? '' : 's'} planned, nothing sent\n`);
    return 0;
  }
  for (const c of result.changes) {
    // A failure, or an add that found its object with other settings, is shown even when quiet.
    if (isFailure(c, options.strict) || c.differs) ctx.io.err(`${changeLine(c)}\n`);
    else if (!options.quiet) ctx.io.out(`${changeLine(c)}\n`);
  }
  const counts = Object.entries(result.counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  if (!options.quiet || bad) ctx.io.out(`# ${counts || 'no changes'}\n`);
  if (result.rollback) ctx.io.err(result.rollback.complete ? '# rolled back: the table is as it was\n' : '# rollback incomplete: some changes could not be undone\n');
  const draining = (result as ApplyResult).draining ?? [];
  for (const d of draining) ctx.io.out(`# draining ${d.destination.address} (${d.activeConnections} active, ${d.inactiveConnections} inactive connections)\n`);
  return bad ? 255 : 0;
}
