// Polling for the system tests: the agents, etcd and the servers they start
// settle in their own time (seconds in the emulated VM), so a test waits for
// what it expects, bounded.

/**
 * Polls `check` every half second until it gives a value (not undefined or
 * false); a check that throws is tried again. After `timeoutMs`, throws with
 * the last error and `context()` (e.g. the agents' logs).
 */
export async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 90_000, context: () => string = () => ''): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) {
      const more = context();
      throw new Error(`gave up waiting for ${what}${last ? `: ${(last as Error).message}` : ''}${more ? `\n${more}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
