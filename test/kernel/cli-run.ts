// Runs the `ipvs` command in-process for the kernel suite's CLI tests (the
// same main() bin/ipvs.js runs), with its output captured.
import * as fs from 'fs';
import type { Io } from '../../lib/cli/context';
import { main } from '../../lib/cli/main';

/** Runs `ipvs ARGS` in-process; returns its exit status and output. */
export async function ipvs(args: string[], stdin = ''): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stdin: async () => stdin,
    readFile: (p) => fs.promises.readFile(p, 'utf8'),
  };
  const status = await main(args, io);
  return { status, out, err };
}
