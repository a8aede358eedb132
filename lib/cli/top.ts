// `ipvs top`: a live view of the table. Every interval it reads the table
// once (services(), a batch at a time), computes rates from the change of the
// counters, and redraws in place on the terminal's alternate screen with the
// cursor hidden; keys change the sort at once. q, Ctrl-C, SIGINT, SIGTERM and
// SIGHUP quit with the terminal restored (main screen, cursor, cooked mode)
// and exit status 0.
// When standard output is not a terminal it prints plain frames instead
// (as `top -b`), e.g. for logging.
import { CliError, withHandle, type Context } from './context';
import { parseFlags } from './flags';
import { addCounters, groupsOf, renderFrame, setRates, sortGroups, SORT_KEYS, SORT_NAMES, type SortKey, type TopGroup } from './topview';
import { RateHistory, type Counters, type Rates } from './rates';

/** Services per batch of a refresh's read. */
const READ_BATCH = 1024;
/** Rows are made as their batch is read, their rates set once the whole sample is. */
const NO_RATES: ReadonlyMap<string, Rates | undefined> = new Map();

export const TOP_HELP = `Usage: ipvs top [--interval SECONDS] [--sort KEY] [--reverse] [--count N]
A live view of the virtual services and their destinations: active and
inactive connections, and connections, packets and bytes per second (in and
out) from the change of the kernel's counters between reads. The kernel
updates those counters every 2 seconds, so rates are taken over 2 s at least
(with a shorter interval, from an older read). Columns that do not fit the terminal's width are left out (the sorted
one never); '-' means no rate yet.
  --interval S   seconds between refreshes (default 2; 0.1 to 3600)
  --sort KEY     ${SORT_NAMES.join(', ')} (default packets)
  --reverse      smallest first (names: last first)
  --count N      quit after N refreshes
Keys:
  n  sort by name (address order)     c  sort by connections/s
  a  sort by active connections       p  sort by packets/s (in + out)
  i  sort by inactive connections     b  sort by bytes/s (in + out)
  w  sort by weight                   r  reverse the order
  space  refresh now                  q, Ctrl-C  quit
Without a terminal on standard output, prints a frame per refresh.
`;

export interface TopOptions {
  interval: number;
  sort: SortKey;
  reverse: boolean;
  count?: number;
}

export function topOptions(args: string[]): TopOptions | 'help' {
  const p = parseFlags(args, { interval: 'value', sort: 'value', reverse: 'flag', count: 'value', help: 'flag' }, { d: 'interval', n: 'count' });
  if (p.flags.has('help')) return 'help';
  if (p.positionals.length) throw new CliError(`unexpected argument ${p.positionals[0]} (see ipvs top --help)`);
  const intervalText = String(p.flags.get('interval') ?? '2');
  const interval = Number(intervalText);
  if (!/^\d+(\.\d+)?$/.test(intervalText) || interval < 0.1 || interval > 3600) throw new CliError(`--interval needs seconds from 0.1 to 3600, not '${intervalText}'`);
  const sort = String(p.flags.get('sort') ?? 'packets') as SortKey;
  if (!SORT_NAMES.includes(sort)) throw new CliError(`--sort needs one of ${SORT_NAMES.join(', ')}, not '${sort}'`);
  const countText = p.flags.get('count');
  if (countText !== undefined && !/^[1-9]\d*$/.test(String(countText))) throw new CliError(`--count needs a whole number above 0, not '${countText}'`);
  return { interval, sort, reverse: p.flags.has('reverse'), count: countText === undefined ? undefined : Number(countText) };
}

/** The terminal top draws on. */
export interface Terminal {
  /** Whether output is a terminal (else: plain frames). */
  readonly interactive: boolean;
  columns(): number;
  rows(): number;
  write(text: string): void;
  /** Starts delivering keys (raw mode); returns a function that stops it and restores the mode. */
  keys(onKey: (key: string) => void): () => void;
  onResize(listener: () => void): () => void;
}

export function processTerminal(): Terminal {
  const out = process.stdout;
  const envSize = (name: string, fallback: number) => (Number(process.env[name]) > 0 ? Number(process.env[name]) : fallback);
  return {
    interactive: out.isTTY === true,
    columns: () => out.columns || envSize('COLUMNS', 80),
    rows: () => out.rows || envSize('LINES', 24),
    write: (text) => void out.write(text),
    keys(onKey) {
      const input = process.stdin;
      if (!input.isTTY) return () => undefined;
      input.setRawMode(true);
      input.setEncoding('utf8');
      const listener = (chunk: string) => {
        for (const key of chunk) onKey(key);
      };
      input.on('data', listener);
      input.resume();
      return () => {
        input.off('data', listener);
        input.setRawMode(false);
        input.pause();
      };
    },
    onResize(listener) {
      out.on('resize', listener);
      return () => void out.off('resize', listener);
    },
  };
}

// ANSI / xterm control sequences (every terminal emulator and tmux/screen know them).
const ENTER = '\x1b[?1049h\x1b[?25l'; // alternate screen, cursor hidden
const LEAVE = '\x1b[?25h\x1b[?1049l'; // cursor shown, main screen back
const HOME = '\x1b[H';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const INVERSE = '\x1b[7m';
const PLAIN = '\x1b[m';

const QUIT_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function runTop(ctx: Context, args: string[], terminal: Terminal = processTerminal()): Promise<number> {
  const options = topOptions(args);
  if (options === 'help') {
    ctx.io.out(TOP_HELP);
    return 0;
  }
  return withHandle(ctx, async (handle) => {
    let sort = options.sort;
    let reverse = options.reverse;
    let groups: TopGroup[] = [];
    const history = new RateHistory();
    let error: string | undefined;
    let quit = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      quit = true;
      wake?.();
    };

    const draw = () => {
      const frame = renderFrame(sortGroups(groups, sort, reverse), {
        width: terminal.columns(),
        height: terminal.interactive ? terminal.rows() : Number.MAX_SAFE_INTEGER,
        sort,
        reverse,
        interval: options.interval,
        time: new Date(),
        netns: ctx.netns,
        error,
      });
      if (!terminal.interactive) {
        terminal.write(frame.lines.join('\n') + '\n\n');
        return;
      }
      const h = frame.highlight;
      const lines = frame.lines.map((l, i) => (h && i === h.line ? l.slice(0, h.start) + INVERSE + l.slice(h.start, h.end) + PLAIN + l.slice(h.end) : l));
      terminal.write(HOME + lines.join(CLEAR_LINE_END + '\r\n') + CLEAR_LINE_END + CLEAR_BELOW);
    };

    const onKey = (key: string) => {
      if (key === 'q' || key === 'Q' || key === '\x03' || key === '\x04') return stop();
      if (key === 'r') reverse = !reverse;
      else if (key in SORT_KEYS) sort = SORT_KEYS[key as keyof typeof SORT_KEYS];
      else if (key === ' ') return wake?.();
      else return;
      draw();
    };

    const cleanups: Array<() => void> = [];
    // Last resort: whatever ends the process, the terminal is given back.
    const restoreOnExit = () => terminal.write(LEAVE);
    if (terminal.interactive) {
      terminal.write(ENTER);
      process.once('exit', restoreOnExit);
      cleanups.push(terminal.keys(onKey), terminal.onResize(draw));
    }
    for (const signal of QUIT_SIGNALS) process.on(signal, stop);
    try {
      for (let frames = 0; !quit; ) {
        const started = performance.now();
        try {
          // A batch at a time: what stays of the table is its rows and
          // counters, not its objects, and keys are answered between batches.
          const counters = new Map<string, Counters>();
          const read: TopGroup[] = [];
          for await (const batch of handle.services({ batchSize: READ_BATCH })) {
            addCounters(counters, batch);
            for (const group of groupsOf(batch, NO_RATES)) read.push(group);
          }
          setRates(read, history.add({ at: performance.now(), counters }));
          groups = read;
          error = undefined;
        } catch (e) {
          error = (e as Error).message;
        }
        if (quit) break;
        draw();
        if (options.count !== undefined && ++frames >= options.count) break;
        const wait = Math.max(0, options.interval * 1000 - (performance.now() - started));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      for (const signal of QUIT_SIGNALS) process.off(signal, stop);
      for (const cleanup of cleanups.reverse()) cleanup();
      if (terminal.interactive) {
        terminal.write(LEAVE);
        process.off('exit', restoreOnExit);
      }
    }
    return 0;
  });
}
