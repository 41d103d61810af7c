// The PSS sampler's thread (bench/lib/pss.ts): walks /proc until told to
// stop, then posts the sample with the highest summed PSS.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { PssPeak, PssSample } from './pss.ts';
import { smapsRollupKib } from './smaps-rollup.ts';

const { parentPid, stopFlag } = workerData as { parentPid: number; stopFlag: Int32Array };

type Proc = { ppid: number; comm: string };

/** ppid and comm from /proc/PID/stat; undefined once the process is gone. */
function readProc(pid: number): Proc | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = stat.lastIndexOf(')');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(stat.slice(close + 2).split(' ')[1]) };
}

const pssKib = (pid: number): number | undefined => smapsRollupKib(pid)?.Pss;

function pids(): number[] {
  return readdirSync('/proc')
    .map(Number)
    .filter((pid) => Number.isInteger(pid));
}

// Processes already running when sampling starts are none of the burst's
// (its processes are the parent's new children and theirs); a process keeps
// its parent, so each new one's is read once.
const before = new Set(pids());
const parentOf = new Map<number, number>();

function sample(): PssSample {
  const children = new Map<number, number[]>();
  for (const pid of pids()) {
    if (before.has(pid)) continue;
    let ppid = parentOf.get(pid);
    if (ppid === undefined) {
      const p = readProc(pid);
      if (!p) continue;
      ppid = p.ppid;
      parentOf.set(pid, ppid);
    }
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  let kib = 0;
  const byCommand: Record<string, number> = {};
  // Below each direct child of the parent (cnitool). A process whose comm is
  // still its parent's has not exec'd yet and shares its parent's memory.
  const below = (children.get(parentPid) ?? []).flatMap((pid) => {
    const parentComm = readProc(pid)?.comm;
    return (children.get(pid) ?? []).map((child) => ({ pid: child, parentComm }));
  });
  while (below.length > 0) {
    const { pid, parentComm } = below.pop()!;
    const comm = readProc(pid)?.comm;
    if (comm === undefined) continue;
    for (const child of children.get(pid) ?? []) below.push({ pid: child, parentComm: comm });
    if (comm === parentComm) continue;
    const pss = pssKib(pid);
    if (pss === undefined) continue;
    kib += pss;
    byCommand[comm] = (byCommand[comm] ?? 0) + 1;
  }
  const processes = Object.values(byCommand).reduce((a, b) => a + b, 0);
  return { mib: kib / 1024, processes, byCommand };
}

// Among 50 runnable plugin processes on 2 cores, a thread of normal priority
// samples too seldom to see the peak: this one (the thread alone, by its id)
// goes ahead of them. The sampled burst is slower for it, and not timed.
setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), -10);

let peak: PssSample = { mib: 0, processes: 0, byCommand: {} };
let samples = 0;
const pause = new Int32Array(new SharedArrayBuffer(4));
parentPort!.postMessage('ready');
while (Atomics.load(stopFlag, 0) === 0) {
  const s = sample();
  samples++;
  if (s.mib > peak.mib) peak = s;
  // A short pause leaves the CPU to the burst between samples.
  Atomics.wait(pause, 0, 0, 1);
}
parentPort!.postMessage({ peak, samples } satisfies PssPeak);
