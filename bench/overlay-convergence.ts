// `make bench-overlay`: how fast weftd converges and what it costs at scale.
// A real control plane (etcd + kube-apiserver) and ONE node namespace running
// dist/weftd with its shipped timers (testbed's Cluster); every other node is
// a fake Node object created through the API (pod CIDR and VTEP annotations,
// see overlay-fake-nodes.ts). Nothing is ever sent to a fake peer: only the
// measured node's kernel tables are read.
//
// For each size N (default 100, 1000, 5000 peers):
//   sync     weftd started on an empty kernel (VXLAN device deleted) with N
//            Nodes in the API server → every FDB, neighbour and route entry
//            in the kernel and /readyz 200; RSS after it
//   converge S new Nodes created one by one, --spacing-ms apart: from the
//            moment each create request is sent to its FDB, neighbour AND
//            route entries all being in the kernel (timestamps of
//            `ip -ts monitor` / `bridge -timestamp monitor` in the namespace)
//
// Targets: converge p99 <= 100 ms at 1000, sync <= 5 s at 5000, RSS <= 150 MB
// at 5000. Prints a table and JSON; writes bench/results/overlay-convergence.json
// and keeps weftd's log next to it.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { WEFT_ROUTE_PROTOCOL } from '../src/overlay/kernel-state.ts';
import { Cluster, type ClusterNode, SHIPPED_TIMERS } from '../testbed/cluster.ts';
import { inParallel } from '../testbed/parallel.ts';
import { CACHE_BIN, DIST, requireBuilt } from '../testbed/paths.ts';
import { waitReady } from '../testbed/process.ts';
import { must } from '../testbed/shell.ts';
import { runScript, type Teardown } from '../testbed/teardown.ts';
import { failUsage, parseFlagsOrExit, wholeNumber } from './lib/flags.ts';
import { KubeApi, wallMs } from './lib/kube-api.ts';
import { machineInfo } from './lib/machine.ts';
import { monitorNetns } from './lib/netlink-monitor.ts';
import { publish, RESULTS } from './lib/results.ts';
import { percentile } from './lib/stats.ts';
import {
  type ConvergeResult,
  type Flags,
  type Memory,
  mb,
  type Result,
  type SizeResult,
  type SyncResult,
  table,
  verdicts,
} from './overlay-convergence-report.ts';
import { FAKE_CLUSTER_CIDR, fakeNode, fakePeer, MAX_PEERS } from './overlay-fake-nodes.ts';
import { type Expectation, entriesOf, Watcher } from './overlay-kernel-watch.ts';

const ARTIFACTS = join(RESULTS, 'overlay-convergence');
const DEVICE = 'weft.1';

const USAGE = `usage: node bench/overlay-convergence.ts [--sizes 100,1000,5000] [--samples 100] [--spacing-ms 75] [--concurrency 32]
  --sizes        peer counts to measure at, ascending (each: sync, then convergence)
  --samples      Nodes created one by one per convergence series (default 100)
  --spacing-ms   time between two of those creations (default 75)
  --concurrency  creates in flight while filling the API server (default 32)`;

function parseFlags(): Flags {
  const values = parseFlagsOrExit(USAGE, () =>
    parseArgs({
      options: {
        sizes: { type: 'string', default: '100,1000,5000' },
        samples: { type: 'string', default: '100' },
        'spacing-ms': { type: 'string', default: '75' },
        concurrency: { type: 'string', default: '32' },
        help: { type: 'boolean', default: false },
      },
    }),
  );
  const int = (flag: string, v: string, min: number) => wholeNumber(USAGE, flag, v, min);
  const sizes = values.sizes.split(',').map((s) => int('sizes', s.trim(), 1));
  if (sizes.some((s, i) => i > 0 && s <= sizes[i - 1]!)) failUsage(USAGE, '--sizes must ascend');
  const samples = int('samples', values.samples, 1);
  if (sizes.at(-1)! + samples > MAX_PEERS) failUsage(USAGE, `--sizes: at most ${MAX_PEERS - samples} peers`);
  return { sizes, samples, spacingMs: int('spacing-ms', values['spacing-ms'], 1), concurrency: int('concurrency', values.concurrency, 1) };
}

function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

type BenchParts = { flags: Flags; c: Cluster; api: KubeApi; watcher: Watcher; monitorProblems: () => string[] };

class Bench {
  created = 0;
  readonly flags: Flags;
  readonly c: Cluster;
  readonly node: ClusterNode;
  readonly api: KubeApi;
  readonly watcher: Watcher;
  readonly monitorProblems: () => string[];

  private constructor(p: BenchParts) {
    this.flags = p.flags;
    this.c = p.c;
    this.node = p.c.nodes[0]!;
    this.api = p.api;
    this.watcher = p.watcher;
    this.monitorProblems = p.monitorProblems;
  }

  /** The cluster of one node, a fast API client, and the netlink monitors listening in the node. */
  static async setUp(flags: Flags, teardown: Teardown): Promise<Bench> {
    const c = await Cluster.start(1, teardown);
    const node = c.nodes[0]!;
    // Before the cluster goes, with its directory.
    teardown.add("a copy of weftd's log", () => copyFileSync(node.weftdLog, join(ARTIFACTS, 'weftd.log')));
    const api = new KubeApi({ server: c.cp.server, caFile: c.cp.caFile, certFile: c.cp.certFile, keyFile: c.cp.keyFile }, flags.concurrency);
    teardown.add('API connections', () => api.close());
    const watcher = new Watcher();
    const monitor = monitorNetns(node.netns, DEVICE, WEFT_ROUTE_PROTOCOL, 'eth0', watcher.onEvent);
    teardown.add('netlink monitors', () => monitor.stop());
    await monitor.ready;
    return new Bench({ flags, c, api, watcher, monitorProblems: monitor.problems });
  }

  /** Starts weftd and waits for /readyz 200; returns when it was spawned and how long ready took. */
  async startWeftd(): Promise<{ startWallMs: number; readyMs: number; pid: number }> {
    const startWallMs = wallMs();
    const startPerfMs = performance.now();
    await this.c.startWeftd(this.node, ['--cluster-cidr', FAKE_CLUSTER_CIDR], SHIPPED_TIMERS);
    const weftd = this.node.weftd!;
    await waitReady(weftd, "weftd's /readyz", 300_000, async () => (await this.c.weftdHttp(this.node, '/readyz', 1000)).status === 200, 10);
    return { startWallMs, readyMs: performance.now() - startPerfMs, pid: weftd.child.pid! };
  }

  /** Creates fake peers until there are `peers` of them. */
  async topUp(peers: number): Promise<void> {
    if (peers <= this.created) return;
    const todo = Array.from({ length: peers - this.created }, (_, i) => fakePeer(this.created + i + 1));
    const started = performance.now();
    await inParallel(todo, this.flags.concurrency, async (p) => {
      await this.api.createNode(fakeNode(p));
    });
    const s = (performance.now() - started) / 1000;
    this.created = peers;
    console.error(`  created ${todo.length} Nodes in ${s.toFixed(1)} s (${Math.round(todo.length / s)}/s, ${this.flags.concurrency} in flight)`);
  }

  private ip(args: string[]): Promise<string> {
    return must('ip', ['-n', this.node.netns, ...args]);
  }

  /** Deletes the VXLAN device: the kernel drops every entry on it, as on a fresh node. */
  async flushKernel(): Promise<void> {
    this.watcher.flushing = true;
    try {
      if (/^weft\.1[ @]/m.test(await this.ip(['-br', 'link', 'show']))) await this.ip(['link', 'del', DEVICE]);
      const left = (await this.ip(['route', 'show', 'proto', String(WEFT_ROUTE_PROTOCOL)])).trim();
      if (left) throw new Error(`weft routes left after deleting ${DEVICE}: ${left.split('\n')[0]}`);
      await sleep(200); // let the monitors drain the deletions
    } finally {
      this.watcher.flushing = false;
    }
  }

  /** How many of the peers' entries the kernel holds now (a dump, not the monitors). */
  async countKernelEntries(): Promise<number> {
    const lines = async (cmd: string, args: string[], keep: (l: string) => boolean) =>
      (await must(cmd, ['-n', this.node.netns, ...args])).split('\n').filter(keep).length;
    return (
      (await lines('ip', ['neigh', 'show', 'dev', DEVICE, 'nud', 'permanent'], (l) => l.includes('lladdr 0e:fe:'))) +
      (await lines('ip', ['route', 'show', 'proto', String(WEFT_ROUTE_PROTOCOL)], (l) => l.startsWith('10.'))) +
      (await lines('bridge', ['fdb', 'show', 'dev', DEVICE], (l) => l.startsWith('0e:fe:') && l.includes(' dst ')))
    );
  }

  async measureSync(peers: number): Promise<SyncResult> {
    await this.c.stopWeftd(this.node);
    await this.topUp(peers);
    await this.flushKernel();
    const all = Array.from({ length: peers }, (_, i) => fakePeer(i + 1));
    const load1 = loadavg()[0]!;
    const x = this.watcher.expect(all.flatMap(entriesOf), wallMs());
    const problemsBefore = this.monitorProblems().length;
    const w = await this.startWeftd();
    // Lost events (ENOBUFS) will never come: no use waiting for them.
    if (this.monitorProblems().length === problemsBefore) await Promise.race([x.done, sleep(5000)]);
    this.watcher.forget(x);
    const entries = await this.countKernelEntries();
    if (entries !== peers * 3) throw new Error(`after sync the kernel holds ${entries} of the ${peers * 3} entries for ${peers} peers`);
    const lastEntryMs = x.complete() ? x.lastTsMs() - w.startWallMs : null;
    await sleep(1000);
    return { peers, ms: Math.max(w.readyMs, lastEntryMs ?? 0), readyMs: w.readyMs, lastEntryMs, entries, memoryAfter: readMemory(w.pid), load1 };
  }

  async measureConvergence(peersBefore: number): Promise<ConvergeResult> {
    const weftd = this.node.weftd;
    if (!weftd) throw new Error('weftd is not running');
    const { samples, spacingMs } = this.flags;
    const load1 = loadavg()[0]!;
    const runs: { sentWall: number; x: Expectation; created: Promise<unknown> }[] = [];
    const start = performance.now();
    for (let k = 0; k < samples; k++) {
      const wait = start + k * spacingMs - performance.now();
      if (wait > 0) await sleep(wait);
      const p = fakePeer(++this.created);
      const run = { sentWall: 0, x: this.watcher.expect(entriesOf(p), wallMs() - 1), created: Promise.resolve() as Promise<unknown> };
      run.created = this.api.createNode(fakeNode(p), () => (run.sentWall = wallMs()));
      run.created.catch(() => {}); // awaited below; handled here so an early failure cannot crash the run
      runs.push(run);
    }
    await Promise.all(runs.map((r) => r.created));
    await Promise.race([Promise.all(runs.map((r) => r.x.done)), sleep(30_000)]);
    const done = runs.filter((r) => r.x.complete());
    for (const r of runs) this.watcher.forget(r.x);
    if (done.length === 0) throw new Error('no new Node reached the kernel within 30 s');
    const lat = done.map((r) => r.x.lastTsMs() - r.sentWall);
    return {
      peersBefore,
      samples,
      spacingMs,
      p50: percentile(lat, 50),
      p90: percentile(lat, 90),
      p99: percentile(lat, 99),
      max: Math.max(...lat),
      timedOut: runs.length - done.length,
      memoryAfter: readMemory(weftd.child.pid!),
      load1,
    };
  }
}

await runScript('bench-overlay', async (teardown) => {
  const flags = parseFlags();
  if (process.getuid?.() !== 0) throw new Error('bench-overlay needs root (network namespaces, VXLAN devices)');
  for (const built of [join(CACHE_BIN, 'etcd'), join(CACHE_BIN, 'kube-apiserver'), join(DIST, 'weftd')]) requireBuilt(built, 'run make build kube-tools');
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  console.error(
    `bench-overlay: control plane + 1 node namespace (load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
  const bench = await Bench.setUp(flags, teardown);
  const sizes: SizeResult[] = [];
  for (const peers of flags.sizes) {
    console.error(`bench-overlay: ${peers} peers`);
    const sync = await bench.measureSync(peers);
    console.error(`  sync ${sync.ms.toFixed(0)} ms, RSS ${mb(sync.memoryAfter.rssKb).toFixed(1)} MB`);
    const converge = await bench.measureConvergence(peers);
    console.error(`  convergence p50 ${converge.p50.toFixed(1)} ms p99 ${converge.p99.toFixed(1)} ms`);
    sizes.push({ peers, sync, converge });
  }
  const result: Result = {
    machine: machineInfo(),
    config: flags,
    sizes,
    targets: verdicts(sizes),
    unexpectedDeletions: bench.watcher.unexpectedDeletions,
    monitorProblems: bench.monitorProblems(),
  };
  publish('overlay-convergence', result, table(result));
});
