// Shared by the traffic suite: real packets through IPVS between network
// namespaces (lib/testing/topology). Runs only inside scripts/sandbox.
import * as fs from 'fs';
import * as os from 'os';
import { open, type IpvsHandle, type Service } from '../../lib';
import { Topology, type MarkMethod, type TopologyOptions } from '../../lib/testing/topology';

/** Refuses to run against a machine's real table: only inside the sandbox. */
export function assertSandbox(): void {
  if (!process.env.IPVS_SANDBOX_ACTIVE)
    throw new Error('the traffic suite changes the IPVS table and the network: run it through scripts/sandbox');
  if (!fs.existsSync('/proc/net/ip_vs')) throw new Error('no /proc/net/ip_vs: ip_vs is not loaded');
}

/** The running kernel's version as [major, minor]. */
export function kernelVersion(): [number, number] {
  const release = process.env.IPVS_SANDBOX_KERNEL || os.release();
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) throw new Error(`cannot read a kernel version from ${JSON.stringify(release)}`);
  return [Number(m[1]), Number(m[2])];
}

export function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = kernelVersion();
  return a > major || (a === major && b >= minor);
}

/** Fresh virtual addresses, one per test, so no connection of an earlier test is ever looked up. */
export function vipAllocator(thirdOctet: number): { v4(): string; v6(): string } {
  let n = 0;
  return {
    v4: () => `198.18.${thirdOctet}.${++n}`,
    v6: () => `2001:db8:ff:${thirdOctet.toString(16)}::${(++n).toString(16)}`,
  };
}

/** How many times each name occurs. */
export function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** The service with this virtual address (and port) from list(). */
export function findService(services: Service[], address: string, port?: number): Service {
  const s = services.find((x) => x.address === address && (port === undefined || x.port === port));
  if (!s) throw new Error(`no service ${address}${port === undefined ? '' : `:${port}`} in list()`);
  return s;
}

/** Prints a line under the test's title (mocha's reporter indentation). */
export function note(text: string): void {
  if (process.env.IPVS_TRAFFIC_QUIET !== '1') console.log(`      ${text}`);
}

/**
 * The kernel publishes its counters (conns, packets, bytes) from the rate
 * estimator, every 2 seconds: poll until `ready` holds, at most `ms`.
 */
export async function eventually<T>(probe: () => Promise<T | undefined | false>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** IPVS_TRAFFIC_MARK=nft|iptables|tc forces how fwmark tests mark packets; default the topology's choice. */
export function markMethod(): MarkMethod | undefined {
  const m = process.env.IPVS_TRAFFIC_MARK;
  if (m === undefined || m === '') return undefined;
  if (m !== 'nft' && m !== 'iptables' && m !== 'tc') throw new Error(`IPVS_TRAFFIC_MARK must be nft, iptables or tc, not ${m}`);
  return m;
}

/**
 * A suite's network and handle: before its tests a Topology and an IPVS
 * handle (given to `use`), the table flushed after each test, everything
 * torn down after the suite.
 */
export function useTrafficNetwork(options: TopologyOptions, use: (topo: Topology, handle: IpvsHandle) => void): void {
  let topo: Topology | undefined;
  let handle: IpvsHandle | undefined;
  before(async function () {
    assertSandbox();
    handle = await open();
    await handle.flush();
    topo = await Topology.create(options);
    use(topo, handle);
  });
  after(async function () {
    await handle?.flush();
    await handle?.close();
    await topo?.destroy();
  });
  afterEach(async () => handle?.flush());
}
