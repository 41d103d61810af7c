// weftd as the overlay benchmarks run it: inside a node's network namespace,
// either the single executable (dist/weftd, what ships) or the TypeScript
// sources under the pinned Node (for --cpu-prof / --heap-prof), with its
// /readyz and /metrics reachable from here through a Unix socket (socat in
// the namespace), and its memory read from /proc.
import type { ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { launchLogged, stopProcess } from '../test/support/process.ts';

const repo = join(import.meta.dirname, '..');
export const HEALTH_PORT = 9402;

/**
 * sea: dist/weftd, what ships. bundle: the same esbuild bundle (dist/.sea/weftd.cjs)
 * under the pinned node, which takes V8 flags. source: cmd/weftd.ts under node.
 */
export type WeftdMode = 'sea' | 'bundle' | 'source';

export type WeftdOptions = {
  netns: string;
  nodeName: string;
  kubeconfig: string;
  clusterCidrs: string[];
  subnetFile: string;
  log: string;
  mode: WeftdMode;
  /** Mode 'sea': another single executable than dist/weftd (e.g. one built with other settings). */
  bin?: string;
  /** Mode 'source': the checkout whose cmd/weftd.ts runs (default this one), e.g. a patched copy to try a change. */
  root?: string;
  /** Node flags for modes 'bundle' and 'source', e.g. ['--cpu-prof', '--cpu-prof-dir', dir]. */
  nodeFlags?: string[];
  extra?: string[];
  /** Extra environment, e.g. NODE_OPTIONS or MALLOC_ARENA_MAX, to see what changes memory. */
  env?: Record<string, string>;
};

export type Weftd = {
  pid: number;
  startPerfMs: number;
  startWallMs: number;
  /** Where this run's lines start in the log file. */
  logOffset: number;
  exited: Promise<void>;
  running(): boolean;
  stop(signal?: NodeJS.Signals): Promise<void>;
};

export function startWeftd(o: WeftdOptions): Weftd {
  const flags = [
    'run', '--node-name', o.nodeName, '--kubeconfig', o.kubeconfig,
    ...o.clusterCidrs.flatMap((c) => ['--cluster-cidr', c]),
    '--iface', 'eth0', '--subnet-file', o.subnetFile, '--health-addr', `127.0.0.1:${HEALTH_PORT}`,
    ...(o.extra ?? []),
  ];
  const node = join(repo, 'node_modules', 'node', 'bin', 'node');
  const program = o.mode === 'sea'
    ? [o.bin ?? join(repo, 'dist', 'weftd'), ...flags]
    : o.mode === 'bundle'
      ? [node, ...(o.nodeFlags ?? []), join(repo, 'dist', '.sea', 'weftd.cjs'), ...flags]
      : [node, ...(o.nodeFlags ?? []), join(o.root ?? repo, 'cmd', 'weftd.ts'), ...flags];
  let logOffset = 0;
  try {
    logOffset = statSync(o.log).size;
  } catch {
    // A new log.
  }
  const startWallMs = performance.timeOrigin + performance.now();
  const startPerfMs = performance.now();
  // `ip netns exec` and setpriv exec in place: the pid is weftd's own.
  const child = launchLogged(['ip', 'netns', 'exec', o.netns, ...program], o.log, { env: o.env, cwd: repo });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    pid: child.pid!,
    startPerfMs,
    startWallMs,
    logOffset,
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
    stop: (signal = 'SIGTERM') => stopProcess(child, signal, 30_000),
  };
}

/** The log lines weftd wrote since `offset`, as [wall ms, message]. */
export function weftdLogSince(log: string, offset: number): { tsMs: number; msg: string }[] {
  const text = readFileSync(log).subarray(offset).toString('utf8');
  const out: { tsMs: number; msg: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) weftd: (.*)$/.exec(line);
    if (m) out.push({ tsMs: Date.parse(m[1]!), msg: m[2]! });
  }
  return out;
}

/** A Unix socket here that reaches weftd's health server inside the namespace. */
export function healthForwarder(netns: string, socket: string, log: string): ChildProcess {
  return launchLogged(['ip', 'netns', 'exec', netns, 'socat', `UNIX-LISTEN:${socket},fork,unlink-early`, `TCP:127.0.0.1:${HEALTH_PORT}`], log, { cwd: repo });
}

export function httpOverUnix(socket: string, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/** Prometheus text → name{labels} → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

export type Memory = { rssKb: number; hwmKb: number; anonKb: number; fileKb: number };

export function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), anonKb: kb('RssAnon'), fileKb: kb('RssFile') };
}
