// The rules format of ipvsadm -S / -R, both ways: rules text <-> typed rules,
// a table -> rules text, and rules -> the table they build or the operations
// that apply them (for batch() and apply()).
import { toDestination, toDestinationKey, toService, toServiceKey } from '../convert';
import { addressPort, ipvsadmDestinationOrder, ipvsadmServiceOrder, LineText, netmaskText, schedulerFlagNames, type Names } from './format';
import type { DesiredService, DestinationSpec, Operation, Service, ServiceKey } from '../index';
import { parseIpvsadmCommand, RulesError, type ParseOptions, type Rule, type Word } from './parse';

/** A rule with the line it came from (1-based). */
export type LineRule = Rule & { line: number };

export interface ParseRulesOptions extends ParseOptions {
  /** Named in error messages as 'NAME:LINE:COLUMN: ...'; default 'line N, column C: ...'. */
  source?: string;
}

/** The words of one line, with columns; `#` starts a comment; a leading `ipvsadm` (or `ipvs`) word is dropped. */
export function lineWords(line: string): Word[] {
  const words: Word[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) {
    if (m[0].startsWith('#')) break;
    words.push({ text: m[0], column: m.index + 1 });
  }
  if (words.length && (words[0].text === 'ipvsadm' || words[0].text === 'ipvs' || /\/ipvsadm$/.test(words[0].text))) words.shift();
  return words;
}

const RULE_COMMANDS = new Set(['add-service', 'edit-service', 'delete-service', 'add-server', 'edit-server', 'delete-server', 'clear', 'zero']);

/**
 * Parses rules text (what `ipvsadm -S` writes, `ipvsadm -R` reads, and
 * `-x`/`-y` thresholds on -a lines): one ipvsadm command per line, blank
 * lines and `#` comments allowed. Every line is read before anything is
 * returned; the first bad one throws a RulesError naming its line and column.
 */
export function parseRules(text: string, options: ParseRulesOptions = {}): LineRule[] {
  const rules: LineRule[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const words = lineWords(lines[i].replace(/\r$/, ''));
    if (words.length === 0) continue;
    try {
      const command = parseIpvsadmCommand(words, options);
      if (!RULE_COMMANDS.has(command.command))
        throw new RulesError(`'${words[0].text}' is not a rule: rules hold -A -E -D -a -e -d -C -Z`, words[0].column);
      checkRule(command as Rule);
      rules.push({ ...(command as Rule), line: i + 1 });
    } catch (error) {
      if (error instanceof RulesError) throw error.at(i + 1, options.source);
      // What ipvsadm's parser lets through but the kernel (and the facade) refuse:
      // a scheduler name no module can have, a lower threshold above the upper, ...
      if (error instanceof TypeError || error instanceof RangeError) throw new RulesError(error.message).at(i + 1, options.source);
      throw error;
    }
  }
  return rules;
}

/** Checks a rule as the facade will when it is applied, so that a parsed file never fails later without a line. */
function checkRule(rule: Rule): void {
  switch (rule.command) {
    case 'add-service':
    case 'edit-service':
      toService(rule.service);
      break;
    case 'delete-service':
      toServiceKey(rule.service);
      break;
    case 'add-server':
    case 'edit-server':
      toDestination(rule.destination, toServiceKey(rule.service));
      break;
    case 'delete-server':
      toDestinationKey(rule.destination, toServiceKey(rule.service));
      break;
    case 'zero':
      if (rule.service) toServiceKey(rule.service);
      break;
  }
}

export interface FormatRulesOptions {
  /**
   * Adds `-x N -y N` to -a lines whose destination has thresholds, which
   * `ipvsadm -S` drops (and `ipvsadm -R` reads). Default false: ipvsadm's text.
   */
  thresholds?: boolean;
  /** Host and port names instead of numbers (`ipvsadm -S` without -n). Default: numbers. */
  names?: Names;
  /** The order given instead of ipvsadm's sort (`--nosort`). */
  noSort?: boolean;
}

function serviceWords(s: Service | (ServiceKey & { family?: string }), names?: Names): string {
  if (s.fwmark !== undefined) return s.family === 'ipv6' ? `-f ${s.fwmark} -6` : `-f ${s.fwmark}`;
  const option = s.protocol === 'udp' ? '-u' : s.protocol === 'sctp' ? '--sctp-service' : '-t';
  return `${option} ${addressPort(s.address, s.port, s.protocol, { numeric: names === undefined, names })}`;
}

const FORWARD_SWITCH: Record<string, string> = { masq: '-m', tunnel: '-i', local: '-g', route: '-g', bypass: '-g' };
const CHECKSUM_OPTION: Record<string, string> = { none: '--tun-nocsum', checksum: '--tun-csum', remote: '--tun-remcsum' };

/**
 * The table as `ipvsadm -Sn` writes it (in ipvsadm's order, quirks included), one rule
 * per line; with `thresholds`, also what ipvsadm -S loses.
 */
export function formatRules(services: readonly Service[], options: FormatRulesOptions = {}): string {
  const text = new LineText();
  const names = options.names;
  for (const s of options.noSort ? services : ipvsadmServiceOrder(services)) {
    const out = text.lines;
    const svc = serviceWords(s, names);
    let line = `-A ${svc} -s ${s.scheduler}`;
    if (s.persistence) {
      line += ` -p ${s.persistence.timeout}`;
      const mask = netmaskText(s);
      if (mask !== undefined) line += ` -M ${mask}`;
    }
    if (s.persistenceEngine) line += ` --pe ${s.persistenceEngine}`;
    if (s.onePacket) line += ' -o';
    if (s.schedulerFlags.fallback || s.schedulerFlags.port || s.schedulerFlags.flag3) {
      // ipvsadm -S drops flag-3 of an sh or mh service (and writes a bare `-b`,
      // which -R refuses, when it is the only flag): write it, as -R reads it.
      const flags = schedulerFlagNames(s);
      if (s.schedulerFlags.flag3 && !flags.includes('flag-3')) flags.push('flag-3');
      line += ` -b ${flags.join(',')}`;
    }
    out.push(line);
    for (const d of options.noSort ? s.destinations : ipvsadmDestinationOrder(s.destinations)) {
      const dname = addressPort(d.address, d.port, s.protocol, { numeric: names === undefined, names });
      let rule = `-a ${svc} -r ${dname} ${FORWARD_SWITCH[d.forwarding]} -w ${d.weight}`;
      if (d.forwarding === 'tunnel' && d.tunnel) {
        rule += ` --tun-type ${d.tunnel.type}`;
        if (d.tunnel.type === 'gue') rule += ` --tun-port ${d.tunnel.port} ${CHECKSUM_OPTION[d.tunnel.checksum]}`;
        else if (d.tunnel.type === 'gre') rule += ` ${CHECKSUM_OPTION[d.tunnel.checksum]}`;
      }
      if (options.thresholds && (d.upperThreshold || d.lowerThreshold)) rule += ` -x ${d.upperThreshold} -y ${d.lowerThreshold}`;
      out.push(rule);
    }
    text.flushSome();
  }
  return text.toString();
}

function describeService(k: ServiceKey): string {
  return k.fwmark !== undefined ? `service fwmark ${k.fwmark}${k.family === 'ipv6' ? ' (ipv6)' : ''}` : `service ${k.protocol} ${addressPort(k.address, k.port, k.protocol)}`;
}

/**
 * The table a list of rules builds from an empty one, in the shape apply()
 * takes (what `ipvs restore --replace` makes the kernel equal). A rule that
 * cannot apply in order (a second -A of a service, -a to a service never
 * added, ...) throws a RulesError naming its line.
 */
export function rulesToTable(rules: readonly LineRule[], options: { source?: string } = {}): DesiredService[] {
  const table = new Map<string, DesiredService & { destinations: DestinationSpec[] }>();
  const fail = (r: LineRule, reason: string): never => {
    throw new RulesError(reason).at(r.line, options.source);
  };
  for (const r of rules) {
    if (r.command === 'clear') {
      table.clear();
      continue;
    }
    if (r.command === 'zero') continue; // counters are not part of a table
    const id = toServiceKey(r.service).id;
    const have = table.get(id);
    switch (r.command) {
      case 'add-service':
        if (have) fail(r, `${describeService(r.service)} already exists`);
        table.set(id, { ...r.service, destinations: [] });
        break;
      case 'edit-service':
        if (!have) fail(r, `${describeService(r.service)} does not exist`);
        table.set(id, { ...r.service, destinations: (have as { destinations: DestinationSpec[] }).destinations });
        break;
      case 'delete-service':
        if (!have) fail(r, `${describeService(r.service)} does not exist`);
        table.delete(id);
        break;
      default: {
        if (!have) fail(r, `${describeService(r.service)} does not exist`);
        const list = (have as { destinations: DestinationSpec[] }).destinations;
        const index = list.findIndex((d) => d.address === r.destination.address && d.port === r.destination.port);
        const dname = `destination ${addressPort(r.destination.address, r.destination.port, undefined)}`;
        if (r.command === 'add-server') {
          if (index >= 0) fail(r, `${dname} already exists in ${describeService(r.service)}`);
          list.push({ ...r.destination });
        } else if (index < 0) fail(r, `${dname} does not exist in ${describeService(r.service)}`);
        else if (r.command === 'edit-server') list[index] = { ...r.destination };
        else list.splice(index, 1);
      }
    }
  }
  return [...table.values()];
}

/** One step of applying rules: a batch of operations, or a flush or zero (which batch() does not take). */
export type RulesStep =
  | { kind: 'batch'; operations: Operation[]; lines: number[] }
  | { kind: 'clear'; line: number }
  | { kind: 'zero'; service?: ServiceKey; line: number };

/**
 * The rules as steps to send in order: runs of operations for batch() (each
 * with its rules' lines), split at -C and -Z. ipvsadm's -E and -e set every
 * setting (what the line does not give takes ipvsadm's default), and so do
 * these operations.
 */
export function rulesToSteps(rules: readonly LineRule[]): RulesStep[] {
  const steps: RulesStep[] = [];
  let current: Extract<RulesStep, { kind: 'batch' }> | null = null;
  const push = (op: Operation, line: number) => {
    if (current === null) {
      current = { kind: 'batch', operations: [], lines: [] };
      steps.push(current);
    }
    current.operations.push(op);
    current.lines.push(line);
  };
  for (const r of rules) {
    switch (r.command) {
      case 'clear':
        current = null;
        steps.push({ kind: 'clear', line: r.line });
        break;
      case 'zero':
        current = null;
        steps.push(r.service ? { kind: 'zero', service: r.service, line: r.line } : { kind: 'zero', line: r.line });
        break;
      case 'add-service':
        push({ operation: 'addService', service: r.service }, r.line);
        break;
      case 'edit-service':
        push({ operation: 'editService', service: r.service }, r.line);
        break;
      case 'delete-service':
        push({ operation: 'deleteService', service: r.service }, r.line);
        break;
      case 'add-server':
        push({ operation: 'addDestination', service: r.service, destination: r.destination }, r.line);
        break;
      case 'edit-server':
        push({ operation: 'editDestination', service: r.service, destination: r.destination }, r.line);
        break;
      case 'delete-server':
        push({ operation: 'deleteDestination', service: r.service, destination: r.destination }, r.line);
        break;
    }
  }
  return steps;
}
