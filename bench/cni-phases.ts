// The measurements: sequential ADD/DEL latency and CPU with the plugins
// interleaved; bursts of concurrent ADDs then DELs, timed, then once more
// with their memory sampled; and, once per plugin, the programs an ADD and a
// DEL run (strace).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Plugin, PluginName } from './cni-plugins.ts';
import type { BurstResult, OpSummaries, Processes } from './cni-report.ts';
import { cnitool, cnitoolConcurrently, cnitoolTraced, dropNetns, newNetns, type Op, type Session } from './cni-session.ts';
import { type PssPeak, samplePss } from './lib/pss.ts';
import { median, summarize } from './lib/stats.ts';

// The timed runs are synchronous; letting the event loop turn between
// iterations is what lets a Ctrl-C handler run and stop the benchmark.
async function checkpoint(session: Session): Promise<void> {
  await nextTurn();
  if (session.teardown.interrupted) throw new Error(`interrupted by ${session.teardown.interrupted}`);
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

// Every plugin runs once per iteration, each in a fresh netns, so machine
// noise lands on all of them alike. The first `warmup` iterations are dropped:
// they pay for the page cache, the first bridge creation and IPAM directories.
export async function measureSequential(session: Session, iterations: number, warmup: number): Promise<Partial<Record<PluginName, OpSummaries>>> {
  const { plugins } = session;
  const empty = () => ({ ms: [] as number[], cpuMs: [] as number[] });
  const samples = new Map(plugins.map((p) => [p.name, { add: empty(), del: empty() }]));
  for (let i = 0; i < iterations; i++) {
    // Rotating who goes first keeps any order effect (a cache one plugin
    // warms for the next) from favouring the same plugin every time.
    for (let k = 0; k < plugins.length; k++) {
      const plugin = plugins[(i + k) % plugins.length]!;
      const netns = await newNetns(session, `s${i}-${plugin.name}`);
      const add = cnitool(session, 'add', plugin, netns);
      const del = cnitool(session, 'del', plugin, netns);
      await dropNetns(session, netns);
      if (i >= warmup) {
        const s = samples.get(plugin.name)!;
        s.add.ms.push(add.ms);
        s.add.cpuMs.push(add.cpuMs);
        s.del.ms.push(del.ms);
        s.del.cpuMs.push(del.cpuMs);
      }
    }
    if ((i + 1) % 10 === 0 || i + 1 === iterations) process.stderr.write(`sequential: ${i + 1}/${iterations} iterations\n`);
    await checkpoint(session);
  }
  const result: Partial<Record<PluginName, OpSummaries>> = {};
  for (const [name, s] of samples) {
    result[name] = {
      add: { ...summarize(s.add.ms), cpuMs: mean(s.add.cpuMs) },
      del: { ...summarize(s.del.ms), cpuMs: mean(s.del.cpuMs) },
    };
  }
  return result;
}

function duplicatesOf(addresses: string[]): string[] {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const a of addresses) {
    if (seen.has(a)) duplicates.push(a);
    seen.add(a);
  }
  return duplicates;
}

type BurstOp = { wallMs: number; cpuMs: number; pss: PssPeak | undefined };
type Burst = { add: BurstOp; del: BurstOp; distinct: number };

// `count` pods arriving on a node at once, then leaving at once: every ADD
// must succeed, and with its own address. The netns are made before the
// clock starts. With `sampled`, the plugins' memory is sampled throughout.
async function burst(session: Session, plugin: Plugin, count: number, tag: string, sampled: boolean): Promise<Burst> {
  const netnsNames: string[] = [];
  for (let j = 0; j < count; j++) netnsNames.push(await newNetns(session, `${tag}${j}-${plugin.name}`));
  await checkpoint(session);
  const run = async (op: Op) => {
    const sampler = sampled ? await samplePss(process.pid) : undefined;
    // stop() answers the same peak however often it is called.
    const r = await cnitoolConcurrently(session, op, plugin, netnsNames).finally(() => sampler?.stop());
    return { ...r, pss: await sampler?.stop() };
  };
  const add = await run('add');
  await checkpoint(session);
  const duplicates = duplicatesOf(add.addresses);
  if (plugin.assignsAddresses && (add.addresses.length !== count || duplicates.length > 0)) {
    throw new Error(
      `${count} concurrent ${plugin.name} ADDs returned ${add.addresses.length} addresses, want ${count} distinct; duplicated: ${duplicates.join(', ') || 'none'}`,
    );
  }
  const del = await run('del');
  for (const netns of netnsNames) await dropNetns(session, netns);
  return { add, del, distinct: new Set(add.addresses).size };
}

// `rounds` timed bursts per plugin, the plugins interleaved and rotated like
// the sequential runs, then one sampled burst each for memory.
export async function measureBursts(session: Session, count: number, rounds: number): Promise<Partial<Record<PluginName, BurstResult>>> {
  const { plugins } = session;
  const timed = new Map(plugins.map((p) => [p.name, [] as Burst[]]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < plugins.length; k++) {
      const plugin = plugins[(r + k) % plugins.length]!;
      timed.get(plugin.name)!.push(await burst(session, plugin, count, `c${r}-`, false));
    }
    process.stderr.write(`concurrent: round ${r + 1}/${rounds} done\n`);
  }
  const result: Partial<Record<PluginName, BurstResult>> = {};
  for (const plugin of plugins) {
    const sampled = await burst(session, plugin, count, 'm-', true);
    const runs = timed.get(plugin.name)!;
    result[plugin.name] = {
      n: count,
      rounds,
      addWallMs: median(runs.map((b) => b.add.wallMs)),
      delWallMs: median(runs.map((b) => b.del.wallMs)),
      addWallMsEach: runs.map((b) => b.add.wallMs),
      delWallMsEach: runs.map((b) => b.del.wallMs),
      addCpuMsPerOp: mean(runs.map((b) => b.add.cpuMs)) / count,
      delCpuMsPerOp: mean(runs.map((b) => b.del.cpuMs)) / count,
      peakPss: { add: sampled.add.pss!, del: sampled.del.pss! },
      distinctAddresses: plugin.assignsAddresses ? sampled.distinct : null,
    };
  }
  process.stderr.write('concurrent: memory sampled\n');
  return result;
}

/**
 * The programs one ADD and one DEL run below cnitool, from `strace -f`;
 * null when strace is not installed.
 */
export async function measureProcesses(session: Session, tmp: string): Promise<Partial<Record<PluginName, Processes>> | null> {
  if (!['/usr/bin/strace', '/bin/strace'].some((p) => existsSync(p))) return null;
  const result: Partial<Record<PluginName, Processes>> = {};
  for (const plugin of session.plugins) {
    const netns = await newNetns(session, `p-${plugin.name}`);
    const add = cnitoolTraced(session, 'add', plugin, netns, join(tmp, `${plugin.name}-add.strace`));
    const del = cnitoolTraced(session, 'del', plugin, netns, join(tmp, `${plugin.name}-del.strace`));
    await dropNetns(session, netns);
    result[plugin.name] = { add, del };
  }
  return result;
}
