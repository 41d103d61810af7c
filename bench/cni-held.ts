// Memory at the same concurrency, before any work: `count` copies of each
// plugin whose first executable reads its config from stdin first, started
// at once and held at that read (their stdin stays open), then their summed
// PSS, split into the executables' pages (file-backed and shared, so counted
// once however many copies map them) and each copy's own memory (anonymous).
// A burst's peak (bench/cni-phases.ts) also depends on how many processes a
// plugin's speed keeps alive at once; this does not. It is what a runtime
// costs a node for each plugin it runs at once, whatever the plugin then
// does. Each copy is then given an empty stdin, which every plugin refuses
// before it touches anything.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SYSTEM_PATH } from '../testbed/shell.ts';
import type { Plugin, PluginName } from './cni-plugins.ts';
import type { Session } from './cni-session.ts';
import { smapsRollupKib } from './lib/smaps-rollup.ts';

export type Held = {
  processes: number;
  /** Summed PSS. */
  mib: number;
  /** The part of it that maps files: the executables and their libraries. */
  fileMib: number;
  /** The part that is each process's own: heap, stacks, written data. */
  ownMib: number;
};

// Start-up to the stdin read takes tens of ms; only a plugin that never
// reads stdin reaches this.
const HOLD_TIMEOUT_MS = 10_000;

/** Whether one of the process's threads is blocked in read(2) on fd 0 (/proc/PID/task/TID/syscall: "0 0x0 …"). */
function readingStdin(pid: number): boolean {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return threads.some((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').startsWith('0 0x0 ');
    } catch {
      return false;
    }
  });
}

/** Pss, Pss_File and Pss_Anon of one held process, in KiB. */
function pssKib(pid: number): { pss: number; file: number; anon: number } {
  const rollup = smapsRollupKib(pid);
  if (!rollup) throw new Error(`process ${pid} ended while it was held at its stdin read`);
  const field = (name: string): number => {
    const kib = rollup[name];
    if (kib === undefined) throw new Error(`/proc/${pid}/smaps_rollup has no ${name} line: this kernel does not split PSS into file and anonymous pages`);
    return kib;
  };
  return { pss: field('Pss'), file: field('Pss_File'), anon: field('Pss_Anon') };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

async function holdOne(session: Session, plugin: Plugin, count: number, netnsPath: string): Promise<Held> {
  const env = { PATH: SYSTEM_PATH, CNI_COMMAND: 'ADD', CNI_NETNS: netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: plugin.cniPath.join(':') };
  const children: ChildProcess[] = [];
  const forget = session.teardown.add(`${plugin.name} processes held at their stdin read (kill them)`, () => {
    for (const c of children) c.kill('SIGKILL');
  });
  try {
    for (let i = 0; i < count; i++) {
      const child = spawn(plugin.executables[0]!, [], { env: { ...env, CNI_CONTAINERID: `held-${i}` }, stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('error', () => {}); // an exit before the read is reported below
      children.push(child);
    }
    const deadline = Date.now() + HOLD_TIMEOUT_MS;
    for (const child of children) {
      while (!(child.pid !== undefined && readingStdin(child.pid))) {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
          throw new Error(`${plugin.name} (${plugin.executables[0]}) ended before it read stdin: it cannot be held there`);
        }
        if (Date.now() > deadline) throw new Error(`${plugin.name} (${plugin.executables[0]}) did not read stdin within ${HOLD_TIMEOUT_MS} ms`);
        await sleep(2);
      }
    }
    let pss = 0;
    let file = 0;
    let anon = 0;
    for (const child of children) {
      const p = pssKib(child.pid!);
      pss += p.pss;
      file += p.file;
      anon += p.anon;
    }
    for (const child of children) child.stdin!.end();
    await Promise.all(children.map(exited));
    return { processes: count, mib: pss / 1024, fileMib: file / 1024, ownMib: anon / 1024 };
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
    forget();
  }
}

/** Each plugin that reads stdin first, `count` copies held at once; one plugin at a time. */
export async function measureHeld(session: Session, count: number, netnsPath: string): Promise<Partial<Record<PluginName, Held>>> {
  const result: Partial<Record<PluginName, Held>> = {};
  for (const plugin of session.plugins.filter((p) => p.readsStdin)) result[plugin.name] = await holdOne(session, plugin, count, netnsPath);
  process.stderr.write(`held: ${count} of each plugin at their stdin read\n`);
  return result;
}
