// Notify commands (keepalived's notify_up / notify_down): argv run without a
// shell when a destination changes state, told what changed through the
// environment. Each runs in a process group of its own, output discarded,
// and the group is killed at NOTIFY_TIMEOUT_MS, so a hung notifier never
// piles up (keepalived #429 is the same failure for scripts).
import { spawn } from 'child_process';
import type { HealthEvent } from './monitor';

/** How long a notify command may run before its process group is killed. */
export const NOTIFY_TIMEOUT_MS = 10_000;

/** How a notify command ended: 'exit 0', 'exit 3', 'killed after 10 s', 'cannot run x: ENOENT'. */
export interface NotifyOutcome {
  ok: boolean;
  reason: string;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already empty.
  }
}

/**
 * Runs `argv` for `event` (state 'up' or 'down') with IPVS_SERVICE,
 * IPVS_DESTINATION_ADDRESS, IPVS_DESTINATION_PORT, IPVS_STATE, IPVS_CHECK
 * and IPVS_REASON set; resolves when its process is reaped.
 */
export function runNotify(argv: readonly string[], state: 'up' | 'down', event: HealthEvent, timeoutMs = NOTIFY_TIMEOUT_MS): Promise<NotifyOutcome> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      detached: true,
      stdio: 'ignore',
      env: {
        ...process.env,
        IPVS_SERVICE: event.service,
        IPVS_DESTINATION_ADDRESS: event.destination.address,
        IPVS_DESTINATION_PORT: String(event.destination.port),
        IPVS_STATE: state,
        IPVS_CHECK: event.check,
        IPVS_REASON: event.reason,
      },
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      killGroup(child.pid);
    }, timeoutMs);
    let spawnError: NodeJS.ErrnoException | undefined;
    const done = (outcome: NotifyOutcome) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      spawnError = error;
      if (child.pid === undefined) done({ ok: false, reason: `cannot run ${argv[0]}: ${error.code ?? error.message}` });
    });
    child.once('exit', (code, signal) => {
      // Whatever the command left running in its group goes with it.
      killGroup(child.pid);
      if (spawnError !== undefined) done({ ok: false, reason: `cannot run ${argv[0]}: ${spawnError.code ?? spawnError.message}` });
      else if (killed) done({ ok: false, reason: `killed after ${timeoutMs / 1000} s` });
      else if (code !== null) done({ ok: code === 0, reason: `exit ${code}` });
      else done({ ok: false, reason: `killed by ${signal}` });
    });
  });
}
