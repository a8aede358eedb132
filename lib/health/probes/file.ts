// A file holding a weight: one integer (surrounding whitespace allowed),
// clamped to the check's maxWeight. 0 keeps the destination up with no new
// connections (a drain an operator sets by writing the file); a missing file
// or one holding anything else is a failure, so deleting it depools.
import { promises as fs } from 'fs';
import type { CheckedCheck } from '../spec';
import type { Probe } from './probe';

type FileCheck = Extract<CheckedCheck, { type: 'file' }>;

/** Longer than any integer weight with whitespace around it: more is not a weight file. */
const MAX_FILE = 64;

export const fileProbe: Probe<FileCheck> = async (check, _target, context) => {
  context.phase = 'read';
  let text: string;
  try {
    const handle = await fs.open(check.path, 'r');
    try {
      const buffer = Buffer.alloc(MAX_FILE + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_FILE) return { ok: false, reason: `${check.path} is longer than a weight (${MAX_FILE} bytes)` };
      text = buffer.toString('utf8', 0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return { ok: false, reason: `cannot read ${check.path}: ${e.code ?? e.message}` };
  }
  const match = /^\s*(\d{1,10})\s*$/.exec(text);
  if (!match) return { ok: false, reason: `${check.path} holds no weight: ${JSON.stringify(text.slice(0, 20))}` };
  const weight = Math.min(Number(match[1]), check.maxWeight);
  return { ok: true, reason: `weight ${weight} from ${check.path}`, weight };
};
