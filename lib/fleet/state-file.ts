// The agent's last applied desired state on disk, so that an agent restarted
// while the store is down serves what it served before (seesaw keeps its last
// accepted config the same way), and so that an older store revision never
// replaces a newer one across restarts. Written whole to a temporary file
// beside it, then renamed over it: a crash leaves the old file or the new.
import * as fs from 'fs';
import * as path from 'path';
import type { DesiredService } from '../types';
import { describe } from '../validate';

export interface SavedState {
  /** The store revision this state was read at. */
  revision: number;
  /** The effective desired state (overrides applied) as stored, one JSON text per service. */
  services: string[];
}

const VERSION = 1;

/** The saved state in `file`, or undefined when there is none. A file that is not one is an error (never silently dropped). */
export async function readState(file: string): Promise<SavedState | undefined> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: { version?: unknown; revision?: unknown; services?: unknown };
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`the agent's state file ${file} is not JSON: ${(error as Error).message}`);
  }
  if (value?.version !== VERSION || !Number.isSafeInteger(value.revision) || !Array.isArray(value.services) || !value.services.every((s) => typeof s === 'string'))
    throw new TypeError(`the agent's state file ${file} is not one (version ${VERSION}, revision, services): received ${describe(value)}`);
  return { revision: value.revision as number, services: value.services as string[] };
}

/** Replaces `file` with `state`, atomically (temporary file, fsync, rename). */
export async function writeState(file: string, state: SavedState): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await fs.promises.open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify({ version: VERSION, revision: state.revision, services: state.services }));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(temporary, file);
}

/** The services of a saved state, parsed. */
export function savedServices(state: SavedState): DesiredService[] {
  return state.services.map((text) => JSON.parse(text) as DesiredService);
}
