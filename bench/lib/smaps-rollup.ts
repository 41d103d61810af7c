// One process's memory totals from /proc/PID/smaps_rollup, shared by the
// PSS sampler of a burst (bench/lib/pss-worker.ts) and the held copies
// (bench/cni-held.ts).
import { readFileSync } from 'node:fs';

/** Each "Name: N kB" line of /proc/PID/smaps_rollup, in KiB by name; undefined once the process is gone. */
export function smapsRollupKib(pid: number): Record<string, number> | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const kib: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) kib[m[1]!] = Number(m[2]);
  return kib;
}
