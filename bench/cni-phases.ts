// The two measurements: sequential ADD/DEL latency with the plugins
// interleaved, and a burst of concurrent ADDs then DELs.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Plugin, PluginName } from './cni-plugins.ts';
import type { ConcurrentResult, OpSummaries } from './cni-report.ts';
import { cnitool, cnitoolConcurrently, dropNetns, newNetns, type Session } from './cni-session.ts';
import { summarize } from './lib/stats.ts';

// The timed runs are synchronous; letting the event loop turn between
// iterations is what lets a Ctrl-C handler run and stop the benchmark.
async function checkpoint(session: Session): Promise<void> {
  await nextTurn();
  if (session.teardown.interrupted) throw new Error(`interrupted by ${session.teardown.interrupted}`);
}

// Every plugin runs once per iteration, each in a fresh netns, so machine
// noise lands on all of them alike. The first `warmup` iterations are dropped:
// they pay for the page cache, the first bridge creation and IPAM directories.
export async function measureSequential(session: Session, iterations: number, warmup: number): Promise<Partial<Record<PluginName, OpSummaries>>> {
  const { plugins } = session;
  const samples = new Map(plugins.map((p) => [p.name, { add: [] as number[], del: [] as number[] }]));
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
        s.add.push(add.ms);
        s.del.push(del.ms);
      }
    }
    if ((i + 1) % 10 === 0 || i + 1 === iterations) process.stderr.write(`sequential: ${i + 1}/${iterations} iterations\n`);
    await checkpoint(session);
  }
  const result: Partial<Record<PluginName, OpSummaries>> = {};
  for (const [name, s] of samples) result[name] = { add: summarize(s.add), del: summarize(s.del) };
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

// `count` pods arriving on a node at once: every ADD must succeed with its own
// address. The netns are made before the clock starts.
export async function measureConcurrent(session: Session, plugin: Plugin, count: number): Promise<ConcurrentResult> {
  const netnsNames: string[] = [];
  for (let j = 0; j < count; j++) netnsNames.push(await newNetns(session, `c${j}-${plugin.name}`));
  await checkpoint(session);
  const add = await cnitoolConcurrently(session, 'add', plugin, netnsNames);
  await checkpoint(session);
  const duplicates = duplicatesOf(add.addresses);
  if (add.addresses.length !== count || duplicates.length > 0) {
    throw new Error(
      `${count} concurrent ${plugin.name} ADDs returned ${add.addresses.length} addresses, want ${count} distinct; duplicated: ${duplicates.join(', ') || 'none'}`,
    );
  }
  const del = await cnitoolConcurrently(session, 'del', plugin, netnsNames);
  for (const netns of netnsNames) await dropNetns(session, netns);
  process.stderr.write(`concurrent: ${plugin.name} done\n`);
  return { n: count, addWallMs: add.wallMs, delWallMs: del.wallMs, distinctAddresses: new Set(add.addresses).size };
}
