// What every command runs with: where output goes, where input comes from,
// and how to reach IPVS (in which network namespace). Tests pass their own.
import * as fs from 'fs';
import { open, type IpvsHandle, type OpenOptions } from '../index';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** All of standard input. */
  stdin(): Promise<string>;
  readFile(path: string): Promise<string>;
}

/** The global options a command line gave (see takeGlobalOptions() in main.ts). */
export interface GlobalOptions {
  /** The --netns option: a name under /run/netns or a path. */
  netns?: string;
  /** The --worker-nice option: open()'s workerNice. */
  workerNice?: number;
}

export interface Context extends GlobalOptions {
  io: Io;
  /** Opens a handle on IPVS (of `netns`); the command closes it. */
  open(): Promise<IpvsHandle>;
  /** The program name for messages ('ipvs'). */
  program: string;
}

/** An error a command reports as one line on stderr, with an exit status. */
export class CliError extends Error {
  constructor(message: string, readonly status = 2) {
    super(message);
    this.name = 'CliError';
  }
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  stdin: () =>
    new Promise((resolve, reject) => {
      let data = '';
      process.stdin.setEncoding('utf8');
      process.stdin.on('data', (chunk) => (data += chunk));
      process.stdin.on('end', () => resolve(data));
      process.stdin.on('error', reject);
    }),
  readFile: (path) => fs.promises.readFile(path, 'utf8'),
};

/** open()'s options for the global options given (none: open()'s defaults). */
function openOptions(g: GlobalOptions): OpenOptions {
  const o: OpenOptions = {};
  if (g.netns !== undefined) o.netns = g.netns;
  if (g.workerNice !== undefined) o.workerNice = g.workerNice;
  return o;
}

export function processContext(g: GlobalOptions = {}, io: Io = processIo): Context {
  return { io, ...g, program: 'ipvs', open: () => open(openOptions(g)) };
}

/** Runs `body` with an open handle and closes it after. A failed open is exit status 2 (as ipvsadm's "Can't initialize ipvs"). */
export async function withHandle<T>(ctx: Context, body: (handle: IpvsHandle) => Promise<T>): Promise<T> {
  let handle: IpvsHandle;
  try {
    handle = await ctx.open();
  } catch (error) {
    throw new CliError(`Can't initialize ipvs: ${(error as Error).message}`, 2);
  }
  try {
    return await body(handle);
  } finally {
    await handle.close();
  }
}

/** Resolves with the signal when SIGINT or SIGTERM arrives (the long-running commands' way to stop cleanly). */
export function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise<NodeJS.Signals>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
