// Every long-lived helper process (etcd, kube-apiserver, containerd, runc,
// weftd, socat, iperf3, the netlink monitors) starts here, under setpriv
// --pdeathsig: the kernel kills it when the thread that started it ends,
// however that ends. Exit handlers are not enough: ava ends its worker
// threads with terminate(), which runs none, and a benchmark may be killed.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { eventually } from './eventually.ts';
import { SYSTEM_PATH } from './shell.ts';

/** argv run so that it dies with its parent; also for a process another starts (runc a container's). */
export function diesWithParent(argv: string[]): string[] {
  return ['setpriv', '--pdeathsig', 'KILL', '--', ...argv];
}

export type LaunchOptions = {
  /** For messages; default the program's file name. */
  name?: string;
  /** Output and errors are appended to this file; without it they are dropped, or piped with `pipe`. */
  log?: string;
  pipe?: boolean;
  /** Added to an environment of the system PATH alone. */
  env?: Record<string, string>;
  /** Let the caller's process end while this one still runs (the kernel then kills it). */
  unref?: boolean;
};

export type Launched = {
  /** The program's name, for messages. */
  name: string;
  child: ChildProcess;
  log?: string;
  /** How it ended ("code 1", "SIGKILL", "not started: …"); undefined while it runs. */
  exitStatus(): string | undefined;
  ended: Promise<void>;
  /** Signals it and waits for it, with SIGKILL after `graceMs`; nothing if it has ended. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
};

export function launch(argv: string[], opts: LaunchOptions = {}): Launched {
  const out = opts.log === undefined ? undefined : openSync(opts.log, 'a');
  const output = out ?? (opts.pipe ? 'pipe' : 'ignore');
  const [setpriv, ...args] = diesWithParent(argv);
  const child = spawn(setpriv!, args, {
    stdio: ['ignore', output, output],
    env: { PATH: SYSTEM_PATH, ...opts.env },
  });
  if (out !== undefined) closeSync(out);
  if (opts.unref) child.unref();
  let status: string | undefined;
  const ended = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ?? `code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      status = `not started: ${err.message}; setpriv comes with util-linux`;
      resolve();
    });
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> => {
    if (status !== undefined) return;
    // An unref'd child's exit would not keep this process alive to see it.
    child.ref();
    child.kill(signal);
    const timeout = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await ended;
    clearTimeout(timeout);
  };
  return { name: opts.name ?? basename(argv[0]!), child, log: opts.log, exitStatus: () => status, ended, stop };
}

/**
 * Polls `ready` until it holds; fails as soon as the process ends instead,
 * or when time runs out, with the tail of its log either way.
 */
export async function waitReady(p: Launched, what: string, timeoutMs: number, ready: () => Promise<boolean>, everyMs = 50): Promise<void> {
  try {
    await eventually(what, async () => p.exitStatus() !== undefined || (await ready()), timeoutMs, everyMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logTail(p)}`);
  }
  const status = p.exitStatus();
  if (status !== undefined) throw new Error(`${p.name} exited (${status}) while starting:\n${logTail(p)}`);
}

export function logTail(p: { log?: string }, lines = 40): string {
  if (p.log === undefined) return '(no log)';
  try {
    return readFileSync(p.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
