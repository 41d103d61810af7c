// A long-lived `nft -i` fed one line per change, so that weftd's event passes
// change a set's elements for a pipe round trip instead of an nft process:
// starting a process forks weftd, which blocks its event loop for
// milliseconds (tens on a busy node). nft's interactive mode runs each line
// as one transaction (commands joined by ";" apply together or not at all)
// and answers a failed line on stderr with "Error: ...", the line and a
// caret line. Every line is followed by a sentinel that always fails
// (`list table inet`, a syntax error whatever the ruleset holds): its answer
// says the line is done, and any error before it is the line's.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { nftLine } from './command-words.ts';
import { type NftCommand, oneLine } from './nft.ts';

const SENTINEL = 'list table inet';
const SENTINEL_ANSWER = `\n${SENTINEL}\n`;

export type NftShellOptions = {
  /** A named network namespace (/var/run/netns/NAME) to work in; default weftd's own. */
  netns?: string;
  /** A line without its answer after this long means a wedged process: it is killed. Default 10000. */
  timeoutMs?: number;
};

export type NftShell = {
  /** Applies `commands` as one transaction; rejects with nft's error, or when the process died or hung. */
  run(commands: readonly NftCommand[]): Promise<void>;
  close(): void;
};

type Child = ChildProcessByStdio<Writable, null, Readable>;

export function createNftShell(opts: NftShellOptions = {}): NftShell {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let child: Child | undefined;
  let stderr = '';
  let wake: (() => void) | undefined;
  let ended: string | undefined;
  // One line at a time: answers are matched to lines by order.
  let last: Promise<void> = Promise.resolve();

  const start = (): Child => {
    const [file, ...args] = opts.netns ? ['ip', 'netns', 'exec', opts.netns, 'nft', '-i'] : ['nft', '-i'];
    const c = spawn(file!, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    stderr = '';
    ended = undefined;
    c.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      wake?.();
    });
    c.once('error', (err) => {
      ended = `cannot run nft: ${err.message}: install nftables`;
      wake?.();
    });
    c.once('exit', (code, signal) => {
      ended ??= `nft -i ended (${signal ?? `exit ${code}`})`;
      if (child === c) child = undefined;
      wake?.();
    });
    c.stdin.on('error', () => {});
    // A helper must never keep its owner running: weftd exits when it is done, and nft then reads EOF.
    c.unref();
    for (const pipe of [c.stdin, c.stderr]) (pipe as unknown as Socket).unref();
    return c;
  };

  const runOne = async (line: string): Promise<void> => {
    child ??= start();
    const c = child;
    c.stdin.write(`${line}\n${SENTINEL}\n`);
    const deadline = Date.now() + timeoutMs;
    // The end of the sentinel's answer, its caret line included; -1 until it is all here.
    const answerEnd = (): number => {
      const at = stderr.indexOf(SENTINEL_ANSWER);
      const end = at < 0 ? -1 : stderr.indexOf('\n', at + SENTINEL_ANSWER.length);
      return end < 0 ? -1 : end + 1;
    };
    while (answerEnd() < 0) {
      if (ended !== undefined) throw new Error(ended);
      const left = deadline - Date.now();
      if (left <= 0) {
        c.kill('SIGKILL');
        child = undefined;
        throw new Error(`nft -i gave no answer within ${timeoutMs} ms; killed it`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    const end = answerEnd();
    const answer = stderr.slice(0, end);
    stderr = stderr.slice(end);
    // What precedes the sentinel's own "Error:" line is this line's answer.
    const own = oneLine(answer.slice(0, answer.lastIndexOf('Error:', answer.indexOf(SENTINEL_ANSWER))));
    if (own !== '') throw new Error(`nft: ${own}`);
  };

  // Started now, not on the first change: that change is a Node event, and
  // starting a process is what this shell is for not doing on one.
  child = start();
  return {
    run(commands) {
      const line = commands.map(nftLine).join(' ; ');
      const run = last.catch(() => {}).then(() => runOne(line));
      last = run;
      return run;
    },
    close() {
      child?.stdin.end();
      child = undefined;
    },
  };
}
