// A long-lived `ip -force -batch -` (or `bridge`) fed line by line, so that
// applying a few entries costs a pipe round trip instead of a process start
// (13–20 ms each on a busy node). iproute2 reads its batch a line at a time
// and, with -force, answers each failed line on stderr with its error text and
// "Command failed -:N", N counting lines over the process's whole life. So
// every batch ends with a sentinel line that always fails (a device name
// longer than the kernel allows cannot exist): its "Command failed" line says
// the batch is done, and every named line before it is attributed by number.
// A failed `ip neigh` line ends the process without naming itself (see
// src/overlay/batch.ts): that surfaces as the error text after the last named
// line, and the next batch starts a new process. One that gives no answer in
// time is killed; the error it throws makes the caller read the kernel again.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { commandLine } from './command-words.ts';
import { type IpCommand, IpCommandError, parseBatchErrors } from './ip.ts';

export type BatchTool = 'ip' | 'bridge';

// Longer than IFNAMSIZ - 1 (15), so no device by this name can ever exist.
const SENTINEL_DEVICE = 'weft-end-of-batch';
const SENTINEL: Record<BatchTool, IpCommand> = {
  ip: ['link', 'show', 'dev', SENTINEL_DEVICE],
  bridge: ['fdb', 'show', 'dev', SENTINEL_DEVICE],
};

// A line takes iproute2 tens of microseconds; a start-up batch of 15000
// lines on a loaded node must not pass for a wedged process.
const PER_LINE_MS = 2;

export type BatchCoprocessOptions = {
  /** A named network namespace (/var/run/netns/NAME) to work in; default weftd's own. */
  netns?: string;
  /** A batch without its end marker after this long (plus 2 ms a line) means a wedged process: it is killed. Default 10000. */
  timeoutMs?: number;
  /** Each new process after the first, with why the one before ended. */
  onRestart?: (why: string) => void;
};

type Child = ChildProcessByStdio<Writable, null, Readable>;

type Running = {
  child: Child;
  /** Lines written so far: the next line is number written + 1. */
  written: number;
  stderr: string;
  /** Why it ended, once it did. */
  ended?: string;
  /** Ended by close(): nothing to report. */
  closing?: boolean;
  /** Called on every stderr chunk and on exit. */
  wake?: () => void;
};

export type BatchCoprocess = {
  /**
   * Runs the commands in order, going on past failed lines; rejects with an
   * IpCommandError naming each failed line by its index in `commands` (and
   * `unnamed`, the text of a failure that ended the process), or with a plain
   * Error when the process died or hung for no line's fault.
   */
  run(commands: IpCommand[]): Promise<void>;
  /** The process id now running, if any (for tests that kill it). */
  pid(): number | undefined;
  /**
   * Ends the process; the next batch starts a new one. iproute2 keeps each
   * device's index from the first line that names it: after a device is
   * recreated, a process that saw the old one must go.
   */
  close(): void;
};

export function createBatchCoprocess(tool: BatchTool, opts: BatchCoprocessOptions = {}): BatchCoprocess {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let current: Running | undefined;
  // Why the last process ended unasked, reported when the next one starts.
  let unasked: string | undefined;
  // One batch at a time: line numbers and stderr belong to the batch in flight.
  let queue: Promise<unknown> = Promise.resolve();

  function start(): Running {
    const where = opts.netns ? ['-n', opts.netns] : [];
    const child = spawn(tool, [...where, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] }) as Child;
    const running: Running = { child, written: 0, stderr: '' };
    if (unasked !== undefined) opts.onRestart?.(unasked);
    unasked = undefined;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      running.stderr += chunk;
      running.wake?.();
    });
    // A write to a process that just died fails here; its exit says why.
    child.stdin.on('error', () => {});
    const ended = (why: string): void => {
      if (running.ended !== undefined) return;
      running.ended = why;
      if (!running.closing) unasked = why;
      if (current === running) current = undefined;
      running.wake?.();
    };
    child.on('error', (err) => ended(`cannot run ${tool}: ${err.message}: install iproute2`));
    child.on('close', (code, signal) => ended(signal ? `${tool} -batch was killed by ${signal}` : `${tool} -batch exited with status ${code}`));
    return running;
  }

  async function runBatch(commands: IpCommand[]): Promise<void> {
    const lines = commands.map((c) => commandLine(c, tool));
    const proc = current ?? start();
    current = proc;
    const base = proc.written;
    const marker = base + lines.length + 1;
    proc.written = marker;
    proc.stderr = '';
    proc.child.stdin.write(`${[...lines, commandLine(SENTINEL[tool], tool)].join('\n')}\n`);

    const done = `Command failed -:${marker}\n`;
    const limitMs = timeoutMs + lines.length * PER_LINE_MS;
    const outcome = await new Promise<'done' | 'ended' | 'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), limitMs);
      proc.wake = () => {
        if (!proc.stderr.includes(done) && proc.ended === undefined) return;
        clearTimeout(timer);
        resolve(proc.stderr.includes(done) ? 'done' : 'ended');
      };
      proc.wake();
    });
    proc.wake = undefined;
    if (outcome === 'timeout') {
      proc.closing = true;
      proc.child.kill('SIGKILL');
      if (current === proc) current = undefined;
      unasked = `${tool} -batch gave no answer in ${limitMs} ms (${lines.length} line${lines.length === 1 ? '' : 's'})`;
      throw new Error(`${unasked}; killed it, and the next batch starts a new one`);
    }
    const text = outcome === 'done' ? proc.stderr.slice(0, proc.stderr.indexOf(done) + done.length) : proc.stderr;
    const parsed = parseBatchErrors(text);
    const failures = parsed.failures.map((f) => ({ index: f.index - base, reason: f.reason })).filter((f) => f.index < lines.length);
    if (failures.some((f) => f.index < 0)) throw new Error(`${tool} -batch named a line before this batch (${text.trim()}): this is a bug in weft, report it`);
    // A process that ended without an error text of its own was killed or
    // crashed: which lines ran is unknown, and no line is to blame.
    if (outcome === 'ended' && parsed.unnamed === undefined) throw new Error(`${proc.ended}; the next batch starts a new one`);
    const { unnamed } = parsed;
    if (failures.length === 0 && unnamed === undefined) return;
    const first = failures[0];
    const what = first ? `${lines[first.index]}: ${first.reason}` : `${tool} -batch ended: ${unnamed}`;
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more failed lines)` : '';
    throw new IpCommandError(`${what}${more}`, text, { failures, unnamed });
  }

  return {
    run(commands) {
      if (commands.length === 0) return Promise.resolve();
      const next = queue.then(() => runBatch(commands));
      queue = next.catch(() => {});
      return next;
    },
    pid: () => current?.child.pid,
    close() {
      if (!current) return;
      current.closing = true;
      current.child.stdin.end();
      current = undefined;
    },
  };
}
