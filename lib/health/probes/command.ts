// A command: argv run without a shell, in a process group of its own, its
// output discarded (a full pipe nobody reads would hang it). At the deadline
// the whole group is killed (SIGKILL), and again after the command exits, so
// nothing it left behind survives the run: no script pile-up (keepalived
// #429). The run is over only when the process is reaped (Run.settled), and
// the scheduler never starts a check's next run before that.
import { spawn } from 'child_process';
import type { CheckedCheck } from '../spec';
import type { Probe, ProbeResult } from './probe';

type CommandCheck = Extract<CheckedCheck, { type: 'command' }>;

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already empty.
  }
}

/** What an exit status means: 0 up; with dynamicWeight 1 down and 2-255 up with weight status - 2 (clamped). */
export function exitResult(check: CommandCheck, code: number): ProbeResult {
  if (code === 0) return { ok: true, reason: 'exit 0' };
  if (check.dynamicWeight && code >= 2) return { ok: true, reason: `exit ${code}`, weight: Math.min(code - 2, check.maxWeight) };
  return { ok: false, reason: `exit ${code}` };
}

export const commandProbe: Probe<CommandCheck> = (check, target, context) =>
  new Promise((resolve) => {
    context.phase = 'exit';
    const child = spawn(check.command[0], check.command.slice(1), {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, IPVS_CHECK_ADDRESS: target.address, IPVS_CHECK_PORT: String(target.port) },
    });
    context.cancel = () => killGroup(child.pid);
    let spawnError: NodeJS.ErrnoException | undefined;
    child.once('error', (error: NodeJS.ErrnoException) => {
      spawnError = error;
      if (child.pid === undefined) {
        context.cancel = undefined;
        resolve({ ok: false, cannotRun: true, reason: `cannot run ${check.command[0]}: ${error.code ?? error.message}` });
      }
    });
    child.once('exit', (code, signal) => {
      context.cancel = undefined;
      killGroup(child.pid);
      if (spawnError !== undefined) resolve({ ok: false, cannotRun: true, reason: `cannot run ${check.command[0]}: ${spawnError.code ?? spawnError.message}` });
      else if (code !== null) resolve(exitResult(check, code));
      else resolve({ ok: false, reason: `killed by ${signal}` });
    });
  });
