// Options of the readable subcommands: `--name`, `--name value`,
// `--name=value`, and positional words. (ipvsadm's own command line is read
// by lib/rules, which knows popt's ways; this is all the subcommands need, so
// no argument-parsing dependency.)
import { CliError } from './context';

/** 'flag' takes no value, 'value' one, 'optional' one when the next word is not an option. */
export type FlagKind = 'flag' | 'value' | 'optional';

export interface Parsed {
  flags: Map<string, string | true>;
  /** The order flags were given in (for options whose order matters, e.g. forwarding). */
  order: string[];
  positionals: string[];
}

/** Reads `args` against `spec` (long names without dashes; `aliases` maps other spellings to them). */
export function parseFlags(args: readonly string[], spec: Record<string, FlagKind>, aliases: Record<string, string> = {}): Parsed {
  const flags = new Map<string, string | true>();
  const order: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const given = a.replace(/^--?/, '').slice(0, eq < 0 ? undefined : eq - (a.startsWith('--') ? 2 : 1));
    const name = aliases[given] ?? given;
    const kind = spec[name];
    if (kind === undefined) throw new CliError(`unknown option '${a.slice(0, eq < 0 ? undefined : eq)}' (see --help)`);
    if (flags.has(name)) throw new CliError(`option '--${name}' given twice`);
    let value: string | true = true;
    if (eq >= 0) {
      if (kind === 'flag') throw new CliError(`option '--${name}' takes no value`);
      value = a.slice(eq + 1);
    } else if (kind === 'value') {
      if (i + 1 >= args.length) throw new CliError(`option '--${name}' needs a value`);
      value = args[++i];
    } else if (kind === 'optional' && i + 1 < args.length && !args[i + 1].startsWith('-')) {
      value = args[++i];
    }
    flags.set(name, value);
    order.push(name);
  }
  return { flags, order, positionals };
}
