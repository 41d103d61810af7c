// Long-lived helper processes (weftd, socat) for tests, the demo and the
// benchmarks: output appended to a log, killed by the kernel when the thread
// that started them ends, however it ends (setpriv --pdeathsig).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { SYSTEM_PATH } from './host.ts';

export type LaunchOptions = {
  env?: Record<string, string>;
  cwd?: string;
  /** Let the caller's process end while this one still runs (ava tests). */
  unref?: boolean;
};

export function launchLogged(args: string[], log: string, opts: LaunchOptions = {}): ChildProcess {
  const out = openSync(log, 'a');
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...args], {
    stdio: ['ignore', out, out],
    env: { PATH: SYSTEM_PATH, ...opts.env },
    cwd: opts.cwd,
  });
  closeSync(out);
  if (opts.unref) child.unref();
  return child;
}

/** Signals the process and waits for it, with SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timeout = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timeout);
}
