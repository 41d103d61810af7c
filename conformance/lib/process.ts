// Runs a child process to completion and collects its output. Every plugin,
// cnitool and iproute2 call goes through here, so that an interrupt can wait
// for the calls still in flight before it undoes what they created.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { assertMayStart } from './cleanup.ts';

export type Completed = {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set to the limit when the process was killed for exceeding it. */
  timedOutAfterMs?: number;
  elapsedMs: number;
  stdout: string;
  stderr: string;
};

export type RunOptions = { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number };

// Far above any sane plugin call; only there so a hung plugin cannot hang the suite.
const TIMEOUT_MS = 30_000;
const inFlight = new Set<Promise<Completed>>();

/** Resolves for any exit status; rejects when the program cannot be started, or may not during shutdown. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<Completed> {
  const completion = new Promise<Completed>((resolve, reject) => {
    const cannotRun = (err: Error) => reject(new Error(`cannot run ${file}: ${err.message}; check that it exists and is executable`));
    assertMayStart(`${file} ${args.join(' ')}`);
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      // ETXTBSY and friends are thrown rather than emitted.
      return cannotRun(err as Error);
    }
    let stdout = '';
    let stderr = '';
    const limit = options.timeoutMs ?? TIMEOUT_MS;
    let timedOutAfterMs: number | undefined;
    const started = performance.now();
    const timer = setTimeout(() => {
      timedOutAfterMs = limit;
      child.kill('SIGKILL');
    }, limit);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => {
      clearTimeout(timer);
      cannotRun(err);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, timedOutAfterMs, elapsedMs: performance.now() - started, stdout, stderr });
    });
    // A program may exit without reading its stdin; the write then fails with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
  inFlight.add(completion);
  const forget = () => inFlight.delete(completion);
  completion.then(forget, forget);
  return completion;
}

/** Waits until every process started so far has exited. */
export async function settleInFlight(): Promise<void> {
  await Promise.allSettled([...inFlight]);
}

export function describeExit(completed: Completed): string {
  if (completed.timedOutAfterMs !== undefined) return `was killed after ${completed.timedOutAfterMs / 1000} s`;
  if (completed.signal) return `was killed by ${completed.signal}`;
  return `exited with status ${completed.exitCode}`;
}

/** "<what> exited with status 1 (stdout: …; stderr: …)" for a failure reason. */
export function describeFailure(what: string, completed: Completed): string {
  return `${what} ${describeExit(completed)} (${describeOutput(completed)})`;
}

/** stdout and stderr, shortened, for a failure reason. */
function describeOutput(completed: Completed): string {
  const parts: string[] = [];
  const stdout = completed.stdout.trim();
  const stderr = completed.stderr.trim();
  if (stdout) parts.push(`stdout: ${shorten(stdout)}`);
  if (stderr) parts.push(`stderr: ${shorten(stderr)}`);
  return parts.length > 0 ? parts.join('; ') : 'no output';
}

/** One line of at most 300 characters. */
export function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}
