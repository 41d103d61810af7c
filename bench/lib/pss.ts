// Memory of a burst of processes: the summed PSS (proportional set size,
// /proc/PID/smaps_rollup) of every process below the given parent's direct
// children, sampled for as long as the burst runs. PSS splits each shared
// page among the processes mapping it, so the sum counts a page the plugins
// share (their executable's code) once, and their own memory in full.
//
// The sampling runs in a worker thread, so it keeps going while the main
// thread launches and reaps the burst. It costs CPU, and a burst sampled is
// slower than one that is not: the benchmark times bursts without it.
import { Worker } from 'node:worker_threads';

export type PssSample = {
  /** Summed PSS, in MiB, of the processes seen in that sample. */
  mib: number;
  processes: number;
  /** The processes by command name (their comm), e.g. { weft: 50, ip: 12 }. */
  byCommand: Record<string, number>;
};

export type PssPeak = { peak: PssSample; samples: number };

export type PssSampler = { stop(): Promise<PssPeak> };

/**
 * Starts sampling the processes below `parentPid`'s children (the children
 * themselves, e.g. cnitool, are left out), and resolves once the sampler
 * runs. A process counts from its exec on: before it, a forked process still
 * shares its parent's memory.
 */
export async function samplePss(parentPid: number): Promise<PssSampler> {
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL('./pss-worker.ts', import.meta.url), { workerData: { parentPid, stopFlag } });
  const exited = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the PSS sampler exited (${code}) before it reported`)));
  });
  const next = () => Promise.race([new Promise<unknown>((resolve) => worker.once('message', resolve)), exited]);
  await next(); // 'ready'
  const done = next() as Promise<PssPeak>;
  // Its rejection, if any, is reported by stop().
  done.catch(() => {});
  return {
    stop() {
      Atomics.store(stopFlag, 0, 1);
      return done;
    },
  };
}
