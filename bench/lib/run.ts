// Runs child processes for benchmarks and times them. The clock wraps the
// spawn itself, so every measured number includes the same fork/exec cost
// whichever plugin is behind the command, and stays comparable.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export type RunResult = {
  command: string;
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  // Set when the process could not be started or was killed by the timeout.
  error: string | null;
  ms: number;
  // CPU time (user + system) of the process and every descendant it waited
  // for; only runTimed measures it (concurrent runs share one total).
  cpuMs: number | null;
};

export type RunOptions = {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
};

function commandLine(file: string, args: string[]): string {
  return [file, ...args].join(' ');
}

// USER_HZ: what /proc/PID/stat counts CPU time in, 100 on every Linux port
// that matters here (x86-64, arm64).
const CLOCK_TICKS_PER_S = 100;

/**
 * CPU time, in ms, of every child this process has waited for (and of the
 * children they waited for): /proc/self/stat's cutime + cstime. The kernel
 * sums it in nanoseconds and shows it in clock ticks, so the difference over
 * one run is exact to 10 ms and a sum over many runs to much less.
 */
export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // cutime and cstime are fields 16 and 17 of proc(5); fields[0] is field 3.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS_PER_S;
}

function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

// Both spawn flavours kill a child that overruns with SIGTERM; say so plainly
// rather than leave a bare signal name that looks like someone else's kill.
function errorOf(spawnError: Error | undefined, signal: string | null, ms: number, timeoutMs: number): string | null {
  if (signal && ms >= timeoutMs) return `timed out after ${timeoutMs} ms`;
  return spawnError ? spawnError.message : null;
}

// Synchronous on purpose: nothing else runs in this process while the child
// does, which is the most precise timing Node offers.
export function runTimed(file: string, args: string[], options: RunOptions): RunResult {
  const cpuBefore = childrenCpuMs();
  const start = process.hrtime.bigint();
  const r = spawnSync(file, args, { env: options.env, encoding: 'utf8', timeout: options.timeoutMs });
  const ms = elapsedMs(start);
  const cpuMs = childrenCpuMs() - cpuBefore;
  return {
    command: commandLine(file, args),
    status: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    error: errorOf(r.error, r.signal, ms, options.timeoutMs),
    ms,
    cpuMs,
  };
}

function runAsync(file: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { env: options.env, timeout: options.timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let spawnError: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (status, signal) => {
      const ms = elapsedMs(start);
      const error = errorOf(spawnError, signal, ms, options.timeoutMs);
      resolve({ command: commandLine(file, args), status, signal, stdout, stderr, error, ms, cpuMs: null });
    });
  });
}

// Launches every command at once and times from the first launch to the last
// exit, which is what a node sees when many pods start together. cpuMs is the
// CPU time of all of them together (nothing else may run children meanwhile).
export async function runConcurrently(
  file: string,
  argsList: string[][],
  options: RunOptions,
): Promise<{ wallMs: number; cpuMs: number; results: RunResult[] }> {
  const cpuBefore = childrenCpuMs();
  const start = process.hrtime.bigint();
  const results = await Promise.all(argsList.map((args) => runAsync(file, args, options)));
  const wallMs = elapsedMs(start);
  return { wallMs, cpuMs: childrenCpuMs() - cpuBefore, results };
}

// Why a run failed, or null if it succeeded; one line per cause so a failed
// benchmark says exactly what broke.
export function failureOf(r: RunResult): string | null {
  if (r.error) return `${r.command}: ${r.error}`;
  if (r.signal) return `${r.command}: killed by ${r.signal}`;
  if (r.status !== 0) return `${r.command}: exit ${r.status}: ${(r.stderr || r.stdout).trim()}`;
  return null;
}
