// Reading the document `ipvs apply` takes: JSON, or YAML for a file named
// .yaml/.yml. Both hold the same shape: an array of services as list()
// returns them, or { services: [...] }. YAML is read with the `yaml`
// package (YAML 1.2 core schema, so `2001:db8::1` stays a string and no
// `yes`/`no` turns into a boolean); a syntax error names its line and column.
import type { DesiredService } from '../index';
import { CliError } from './context';

/** Whether `source` (a file name) is read as YAML. */
export function isYamlSource(source: string): boolean {
  return /\.ya?ml$/i.test(source);
}

function parseYaml(text: string, source: string): unknown {
  // loaded on use: only `apply FILE.yaml` needs it, and loading it costs every other command's start
  const { parseDocument } = require('yaml') as typeof import('yaml');
  const doc = parseDocument(text, { uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? `${source}:${at.line}:${at.col}` : source;
    // The package's message ends with the quoted source line; the position says it.
    throw new CliError(`${where}: not valid YAML: ${error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  return doc.toJS();
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${source}: not JSON: ${(error as Error).message}`);
  }
}

/**
 * The desired table in `text`, or a CliError naming the file (and for a
 * syntax error the line and column). The services' fields are checked later
 * by apply(), before anything is sent.
 */
export function readApplyDocument(text: string, source: string): DesiredService[] {
  const yaml = isYamlSource(source);
  const document = yaml ? parseYaml(text, source) : parseJson(text, source);
  const desired = Array.isArray(document) ? document : (document as { services?: unknown } | null)?.services;
  if (!Array.isArray(desired)) {
    throw new CliError(`${source}: expected ${yaml ? 'a list of services or a "services:" key holding one' : 'an array of services or { "services": [...] }'}`);
  }
  return desired as DesiredService[];
}
