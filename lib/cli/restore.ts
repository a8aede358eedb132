// Restoring rules (ipvs -R, ipvs restore): the whole text is parsed first, so
// a bad line changes nothing; then the rules go to the kernel through the
// batch path in one go (adding to the table), or through apply() (a diff
// that makes the table equal the file) with --replace.
import type { DesiredService, IpvsError, IpvsHandle } from '../index';
import { parseRules, rulesToSteps, rulesToTable, RulesError, type LineRule } from '../rules';
import { changeReason, describeOperation, isFailure, printApplyResult } from './report';
import { CliError, type Context } from './context';

export interface RestoreOptions {
  /** The input's name in messages ('-' or 'stdin' for standard input). */
  source: string;
  /** Make the table equal the rules (apply() with prune) instead of adding to it. */
  replace?: boolean;
  /** Undo what was applied when anything fails (batch onError 'rollback'). */
  atomic?: boolean;
  /** Print what would be sent; send nothing (with replace: apply's plan). */
  dryRun?: boolean;
}

/** The table rules build (for --replace), or a CliError naming the line (nothing sent). */
export function replacementTable(rules: LineRule[], source: string): DesiredService[] {
  try {
    return rulesToTable(rules, { source });
  } catch (error) {
    if (error instanceof RulesError) throw new CliError(`${error.message}; nothing was applied`, 2);
    throw error;
  }
}

/** Parses `text` as rules, or throws a CliError naming the line and column (nothing sent). */
export function readRules(text: string, source: string): LineRule[] {
  try {
    return parseRules(text, { source });
  } catch (error) {
    if (error instanceof RulesError) throw new CliError(`${error.message}; nothing was applied`, 2);
    throw error;
  }
}

/**
 * Refuses, before anything is sent, rules that --atomic could not undo: -C
 * (the flushed table is gone) and -Z (zeroed counters cannot be restored).
 * Every other rule is undone by a rollback: adds by deletes, deletes by adds
 * of what the kernel held, edits by edits back (the batch reads what they
 * overwrite before sending).
 */
export function checkUndoable(rules: readonly LineRule[], source: string): void {
  const bad = rules.find((r) => r.command === 'clear' || r.command === 'zero');
  if (bad === undefined) return;
  const what = bad.command === 'clear' ? '-C (clear the table)' : '-Z (zero counters)';
  throw new CliError(`${source}:${bad.line}: --atomic cannot undo ${what}; nothing was applied`, 2);
}

/**
 * Applies rules text. Returns the exit status: 0 when every rule took
 * effect, 255 (ipvsadm's status for a refused command) when any did not.
 * Unlike ipvsadm -R, which reports only its last line's status, any
 * failure is reported, each with its line.
 */
export async function restore(ctx: Context, handle: IpvsHandle, rules: LineRule[], options: RestoreOptions): Promise<number> {
  const onError = options.atomic ? 'rollback' : 'continue';
  // With --replace, -C and -Z only shape the table the rules build: nothing to undo.
  if (options.atomic && !options.replace) checkUndoable(rules, options.source);
  if (options.replace) {
    const desired = replacementTable(rules, options.source);
    const result = await handle.apply(desired, { prune: true, dryRun: options.dryRun, onError, strict: options.atomic });
    return printApplyResult(ctx, result, { dryRun: options.dryRun, quiet: !options.dryRun, strict: options.atomic });
  }
  let failures = 0;
  for (const step of rulesToSteps(rules)) {
    const where = (line: number) => `${options.source}:${line}`;
    if (options.dryRun) {
      if (step.kind === 'batch') step.operations.forEach((op, i) => ctx.io.out(`${where(step.lines[i])}: ${describeOperation(op)}\n`));
      else ctx.io.out(`${where(step.line)}: ${step.kind === 'clear' ? 'clear the table' : 'zero counters'}\n`);
      continue;
    }
    try {
      if (step.kind === 'clear') await handle.flush();
      else if (step.kind === 'zero') await handle.zero(step.service);
      else {
        // ipvsadm -R fails a line that adds what exists or deletes what is absent; so does this
        // (strict), and --atomic then undoes every line applied.
        const result = await handle.batch(step.operations, { onError, strict: true });
        result.changes.forEach((change, i) => {
          if (!isFailure(change, true)) return;
          failures++;
          ctx.io.err(`${where(step.lines[i])}: ${changeReason(change)}\n`);
        });
        if (result.rollback) ctx.io.err(result.rollback.complete ? 'rolled back: the table is as it was before this batch\n' : 'rollback incomplete: some changes could not be undone\n');
      }
    } catch (error) {
      failures++;
      ctx.io.err(`${where(step.kind === 'batch' ? step.lines[0] : step.line)}: ${(error as IpvsError).message}\n`);
    }
    if (failures && options.atomic) break;
  }
  return failures ? 255 : 0;
}
