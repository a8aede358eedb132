// The drain state file of `ipvs apply --drain`: when each draining destination's
// drain began, kept between runs. Each run is a process of its own, so
// without this file a timeout S would start again at every run and never
// pass. One file per network namespace; written whole or not at all; a file
// that is not a drain state is an error, never silently replaced (that would
// restart every drain's clock).
import * as fs from 'fs';
import * as path from 'path';
import { DrainClock } from '../index';
import { CliError } from './context';

export const DRAIN_STATE_DIR = '/run/ipvs';

/**
 * The default state file of a network namespace: /run/ipvs/drains-INODE.json,
 * INODE being the namespace's inode number (`stat -L -c %i /proc/self/ns/net`),
 * which names the namespace however it was reached (--netns NAME, a
 * /proc/PID/ns/net path, or `ip netns exec`). `netnsPath` is the handle's
 * namespace path, undefined for the process's own.
 */
export function defaultDrainState(netnsPath: string | undefined): string {
  const namespace = netnsPath ?? '/proc/self/ns/net';
  let inode: number;
  try {
    inode = fs.statSync(namespace).ino;
  } catch (error) {
    throw new CliError(`cannot name the drain state file of ${namespace}: ${(error as Error).message}; give one with --drain-state FILE`, 2);
  }
  return path.join(DRAIN_STATE_DIR, `drains-${inode}.json`);
}

/** The clock saved in `file`, or a new one when there is no file yet. */
export async function readDrainClock(file: string): Promise<DrainClock> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new DrainClock();
    throw new CliError(`cannot read the drain state ${file}: ${(error as Error).message}`, 2);
  }
  try {
    return DrainClock.from(JSON.parse(text), 'drain state');
  } catch (error) {
    throw new CliError(
      `the drain state ${file} is not one (${(error as Error).message}); nothing was sent. Repair it, or remove it to start every drain's clock again`,
      2,
    );
  }
}

/**
 * Saves `clock` to `file` (its directory made if missing): written to a
 * temporary file beside it, flushed, then renamed over it, so that a crash
 * or a full disk leaves the old state or the new one, never part of one.
 */
export async function writeDrainClock(file: string, clock: DrainClock): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const out = await fs.promises.open(temporary, 'w', 0o644);
    try {
      await out.writeFile(`${JSON.stringify(clock)}\n`);
      await out.sync();
    } finally {
      await out.close();
    }
    await fs.promises.rename(temporary, file);
  } catch (error) {
    await fs.promises.rm(temporary, { force: true });
    // The table was changed; only the drains' start times are lost (a later run restarts their clocks).
    throw new CliError(`cannot save the drain state ${file}: ${(error as Error).message}`, 255);
  }
}
