// Shared by the kernel suite: it runs only where a real IPVS is reachable
// (inside scripts/sandbox: a throwaway VM or a fresh network namespace) and
// checks the kernel's state with ipvsadm, the independent reference.
import { execFileSync } from 'child_process';
import * as fs from 'fs';

export function ipvsadm(...args: string[]): string {
  return execFileSync('ipvsadm', args, { encoding: 'utf8' });
}

/** `ipvsadm -Sn`, one rule per element. */
export function savedRules(netns?: string): string[] {
  const out = netns
    ? execFileSync('ip', ['netns', 'exec', netns, 'ipvsadm', '-Sn'], { encoding: 'utf8' })
    : ipvsadm('-Sn');
  return out.split('\n').filter((line) => line.length > 0);
}

export function sh(command: string): string {
  return execFileSync('sh', ['-c', command], { encoding: 'utf8' });
}

/** Refuses to run against a machine's real table: only inside the sandbox. */
export function assertSandbox(): void {
  if (!process.env.IPVS_SANDBOX_ACTIVE)
    throw new Error('the kernel suite changes the IPVS table: run it through scripts/sandbox (npm test does)');
  if (!fs.existsSync('/proc/net/ip_vs')) sh('modprobe ip_vs');
}

/** Empties the table between tests. */
export function resetTable(): void {
  ipvsadm('-C');
}

/**
 * The usual suite setup: checks the sandbox, opens a handle before the suite
 * (closed after it), and empties the table before each test. Returns a getter.
 */
export function suiteHandle(): () => import('../../lib').IpvsHandle {
  let handle: import('../../lib').IpvsHandle | undefined;
  before(async function () {
    assertSandbox();
    const ipvs = await import('../../lib');
    handle = await ipvs.open();
  });
  after(async () => {
    await handle?.close();
  });
  beforeEach(resetTable);
  return () => handle!;
}
