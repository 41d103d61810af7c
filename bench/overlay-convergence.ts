// `make bench-overlay`: how fast weftd converges and what it costs at scale,
// against flannel v0.28.10 (vxlan backend, kube subnet manager) on the same
// Nodes in the same run. A real control plane (etcd + kube-apiserver) and a
// node namespace per run (testbed's Cluster), in which one daemon runs as the
// measured Node; every other node is a fake Node object created through the
// API carrying both daemons' VTEP annotations (see overlay-fake-nodes.ts).
// Nothing is ever sent to a fake peer: only the measured node's kernel tables
// are read. (The Cluster's own Nodes, one per namespace, have no VTEP: both
// daemons skip them.)
//
// The daemons never run together: both program routes to the same peer pod
// CIDRs. For each size N (default 100, 1000, 5000 peers), --rounds rounds,
// flannel first in odd rounds and weftd first in even ones; each run, in a
// fresh node namespace:
//   sync     the daemon started with N Nodes in the API server → every peer's
//            FDB, neighbour and route entry in the kernel (and for weftd
//            /readyz 200; flannel has no readiness); RSS 1 s after it
//   converge S new Nodes created one by one, --spacing-ms apart: from the
//            moment each create request is sent to its FDB, neighbour AND
//            route entries all being in the kernel (timestamps of
//            `ip -ts monitor` / `bridge -timestamp monitor` in the namespace);
//            the S Nodes are deleted again after the daemon stops; the bench
//            watches Nodes itself too, so each sample also splits into the
//            API server's delivery (create → the event on the bench's watch)
//            and the daemon's part after it (to its first entry, and to its
//            last), which compare the daemons within one run
//
// Goals: weftd's convergence p50 and p99, initial sync, and RSS (from 1000
// peers) <= flannel's; weftd's own targets besides. Prints a table and JSON;
// writes bench/results/overlay-convergence.json and keeps the logs next to it.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Cluster, type ClusterNode } from '../testbed/cluster.ts';
import { inParallel } from '../testbed/parallel.ts';
import { CACHE_BIN, DIST, requireBuilt } from '../testbed/paths.ts';
import { must } from '../testbed/shell.ts';
import { runScript, type Teardown } from '../testbed/teardown.ts';
import { failUsage, parseFlagsOrExit, wholeNumber } from './lib/flags.ts';
import { KubeApi, wallMs } from './lib/kube-api.ts';
import { machineInfo } from './lib/machine.ts';
import { monitorNetns } from './lib/netlink-monitor.ts';
import { pageInByFaults } from './lib/page-cache.ts';
import { publish, RESULTS } from './lib/results.ts';
import { percentile } from './lib/stats.ts';
import { type Daemon, FLANNELD, flannel, weftd } from './overlay-convergence-daemons.ts';
import {
  type ConvergeResult,
  DAEMONS,
  type DaemonName,
  type Flags,
  type Memory,
  mb,
  type Result,
  type RunResult,
  type SizeResult,
  type SyncResult,
  table,
  verdicts,
} from './overlay-convergence-report.ts';
import { fakeNode, fakePeer, MAX_PEERS, measuredNode } from './overlay-fake-nodes.ts';
import { entriesOf, Watcher } from './overlay-kernel-watch.ts';

const ARTIFACTS = join(RESULTS, 'overlay-convergence');
/** The Node both daemons run as (the Cluster's own node1 has a pod CIDR outside the fake cluster network). */
const MEASURED = 'measured';
/** How long a sync may take before the run fails. */
const SYNC_TIMEOUT_MS = 300_000;

const USAGE = `usage: node bench/overlay-convergence.ts [--sizes 100,1000,5000] [--rounds 2] [--samples 100] [--spacing-ms 75] [--concurrency 32]
  --sizes        peer counts to measure at, ascending (each: sync, then convergence, per daemon and round)
  --rounds       runs of each daemon per size, order alternating (default 2)
  --samples      Nodes created one by one per convergence series (default 100)
  --spacing-ms   time between two of those creations (default 75)
  --concurrency  creates in flight while filling the API server (default 32)`;

function parseFlags(): Flags {
  const values = parseFlagsOrExit(USAGE, () =>
    parseArgs({
      options: {
        sizes: { type: 'string', default: '100,1000,5000' },
        rounds: { type: 'string', default: '2' },
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
  return {
    sizes,
    rounds: int('rounds', values.rounds, 1),
    samples,
    spacingMs: int('spacing-ms', values['spacing-ms'], 1),
    concurrency: int('concurrency', values.concurrency, 1),
  };
}

function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), fileKb: kb('RssFile') };
}

/** One daemon's run: its node namespace, the monitors watching its device there, and what they saw. */
type Turn = { daemon: Daemon; node: ClusterNode; watcher: Watcher; problems: () => string[] };

const DAEMON_OF: Record<DaemonName, (c: Cluster, node: ClusterNode) => Daemon> = {
  flannel: (c, node) => flannel(c, node, MEASURED, ARTIFACTS),
  weftd: (c, node) => weftd(c, node, MEASURED),
};

class Bench {
  created = 0;
  readonly monitorProblems: string[] = [];
  readonly flags: Flags;
  readonly c: Cluster;
  readonly api: KubeApi;
  private readonly unused: ClusterNode[];

  private constructor(flags: Flags, c: Cluster, api: KubeApi) {
    this.flags = flags;
    this.c = c;
    this.api = api;
    this.unused = [...c.nodes];
  }

  /** A node namespace per run, the measured Node, and a fast API client. */
  static async setUp(flags: Flags, teardown: Teardown): Promise<Bench> {
    const c = await Cluster.start(flags.sizes.length * flags.rounds * DAEMONS.length, teardown);
    // Before the cluster goes, with its directory.
    teardown.add("a copy of weftd's logs", () => {
      for (const node of c.nodes) if (existsSync(node.weftdLog)) copyFileSync(node.weftdLog, join(ARTIFACTS, `weftd-${node.name}.log`));
    });
    const api = new KubeApi({ server: c.cp.server, caFile: c.cp.caFile, certFile: c.cp.certFile, keyFile: c.cp.keyFile }, flags.concurrency);
    teardown.add('API connections', () => api.close());
    // Its InternalIP: the first node's; each daemon publishes its own node's underlay address as its VTEP.
    await api.createNode(measuredNode(MEASURED, c.nodes[0]!.underlayIp));
    return new Bench(flags, c, api);
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

  /** Deletes the fake peers above `peers` (a convergence series'), so the next run starts with the same Nodes. */
  async trimTo(peers: number): Promise<void> {
    const extra = Array.from({ length: this.created - peers }, (_, i) => fakePeer(peers + i + 1));
    await inParallel(extra, this.flags.concurrency, async (p) => {
      await this.api.deleteNode(p.name);
    });
    this.created = peers;
  }

  /** How many of the peers' entries the kernel holds on the turn's device now (a dump, not the monitors). */
  async countKernelEntries(t: Turn): Promise<number> {
    const { device, routeProtocol } = t.daemon;
    const lines = async (cmd: string, args: string[], keep: (l: string) => boolean) =>
      (await must(cmd, ['-n', t.node.netns, ...args])).split('\n').filter(keep).length;
    if ((await lines('ip', ['-br', 'link', 'show'], (l) => l.startsWith(`${device} `) || l.startsWith(`${device}@`))) === 0) return 0;
    return (
      (await lines('ip', ['neigh', 'show', 'dev', device, 'nud', 'permanent'], (l) => l.startsWith('10.') && l.includes(' lladdr 0e:'))) +
      (await lines('ip', ['route', 'show', 'dev', device, 'proto', String(routeProtocol)], (l) => l.startsWith('10.'))) +
      (await lines('bridge', ['fdb', 'show', 'dev', device], (l) => l.startsWith('0e:') && l.includes(' dst 172.')))
    );
  }

  /** The daemon in a node namespace of its own, and the monitors there, listening before it starts. */
  async beginTurn(name: DaemonName, teardown: Teardown): Promise<Turn & { end: () => Promise<void> }> {
    const node = this.unused.shift();
    if (!node) throw new Error('no unused node namespace left: setUp made one per run');
    const daemon = DAEMON_OF[name](this.c, node);
    const stopDaemon = teardown.add(name, () => daemon.stop());
    const watcher = new Watcher();
    const monitor = monitorNetns(node.netns, daemon.device, daemon.routeProtocol, 'eth0', watcher.onEvent);
    const stopMonitor = teardown.add(`netlink monitors for ${name}`, () => monitor.stop());
    await monitor.ready;
    return {
      daemon,
      node,
      watcher,
      problems: monitor.problems,
      // Monitors first: a daemon may clean up on its way out, and that is no unexpected deletion.
      end: async () => {
        this.monitorProblems.push(...monitor.problems());
        stopMonitor();
        await monitor.stop();
        stopDaemon();
        await daemon.stop();
      },
    };
  }

  async measureSync(t: Turn, peers: number): Promise<{ sync: SyncResult; pid: number }> {
    const d = t.daemon;
    const all = Array.from({ length: peers }, (_, i) => fakePeer(i + 1));
    const load1 = loadavg()[0]!;
    const x = t.watcher.expect(all.flatMap(entriesOf), wallMs());
    const problemsBefore = t.problems().length;
    pageInByFaults(d.executable, ['--version']);
    const s = await d.start();
    const deadline = performance.now() + SYNC_TIMEOUT_MS;
    const failed = (why: string) => new Error(`${d.name} with ${peers} peers: ${why}\n${d.logTail()}`);
    // Lost events (ENOBUFS) will never come: then dumps tell when all is there.
    let dumpedAllAt: number | undefined;
    while (!x.complete()) {
      if (d.exitStatus() !== undefined) throw failed(`exited (${d.exitStatus()}) during its initial sync`);
      if (performance.now() > deadline) throw failed(`not every entry in the kernel after ${SYNC_TIMEOUT_MS / 1000} s`);
      if (t.problems().length > problemsBefore && (await this.countKernelEntries(t)) === peers * 3) {
        dumpedAllAt = wallMs();
        break;
      }
      await Promise.race([x.done, sleep(50)]);
    }
    t.watcher.forget(x);
    const entries = await this.countKernelEntries(t);
    if (entries !== peers * 3) throw failed(`after sync the kernel holds ${entries} of the ${peers * 3} entries for ${peers} peers`);
    const lastEntryMs = (dumpedAllAt ?? x.lastTsMs()) - s.startWallMs;
    await sleep(1000);
    const sync: SyncResult = {
      ms: Math.max(s.readyMs ?? 0, lastEntryMs),
      readyMs: s.readyMs,
      lastEntryMs,
      lastEntryFrom: dumpedAllAt === undefined ? 'monitor' : 'dump',
      entries,
      memoryAfter: readMemory(s.pid),
      load1,
    };
    return { sync, pid: s.pid };
  }

  async measureConvergence(t: Turn, pid: number): Promise<ConvergeResult> {
    const { samples, spacingMs } = this.flags;
    const load1 = loadavg()[0]!;
    const runs: { name: string; sentWall: number; x: ReturnType<Watcher['expect']>; created: Promise<unknown> }[] = [];
    const delivered = new Map<string, number>();
    const delivery = await this.api.watchAddedNodes(await this.api.nodesResourceVersion(), (name, atMs) => delivered.set(name, atMs));
    try {
      const start = performance.now();
      for (let k = 0; k < samples; k++) {
        const wait = start + k * spacingMs - performance.now();
        if (wait > 0) await sleep(wait);
        const p = fakePeer(++this.created);
        const run = { name: p.name, sentWall: 0, x: t.watcher.expect(entriesOf(p), wallMs() - 1), created: Promise.resolve() as Promise<unknown> };
        run.created = this.api.createNode(fakeNode(p), () => (run.sentWall = wallMs()));
        run.created.catch(() => {}); // awaited below; handled here so an early failure cannot crash the run
        runs.push(run);
      }
      await Promise.all(runs.map((r) => r.created));
      await Promise.race([Promise.all(runs.map((r) => r.x.done)), sleep(30_000)]);
    } finally {
      delivery.stop();
    }
    const done = runs.filter((r) => r.x.complete());
    for (const r of runs) t.watcher.forget(r.x);
    if (done.length === 0) throw new Error(`${t.daemon.name}: no new Node reached the kernel within 30 s\n${t.daemon.logTail()}`);
    const lat = done.map((r) => r.x.lastTsMs() - r.sentWall);
    const seen = done.flatMap((r) => {
      const at = delivered.get(r.name);
      return at === undefined ? [] : [{ api: at - r.sentWall, first: r.x.firstTsMs() - at, after: r.x.lastTsMs() - at }];
    });
    return {
      samples,
      spacingMs,
      latenciesMs: lat,
      deliveryMs: seen.map((s) => s.api),
      firstAfterDeliveryMs: seen.map((s) => s.first),
      afterDeliveryMs: seen.map((s) => s.after),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      timedOut: runs.length - done.length,
      memoryAfter: readMemory(pid),
      load1,
    };
  }

  /** One daemon at `peers`: sync on a fresh node, then a convergence series; the Nodes are as before it after. */
  async run(name: DaemonName, peers: number, round: number, teardown: Teardown): Promise<RunResult> {
    const t = await this.beginTurn(name, teardown);
    const d = t.daemon;
    try {
      const { sync, pid } = await this.measureSync(t, peers);
      console.error(`  ${d.name} round ${round}: sync ${sync.ms.toFixed(0)} ms, RSS ${mb(sync.memoryAfter.rssKb).toFixed(1)} MB`);
      const converge = await this.measureConvergence(t, pid);
      console.error(`  ${d.name} round ${round}: convergence p50 ${converge.p50.toFixed(1)} ms p99 ${converge.p99.toFixed(1)} ms`);
      return { daemon: d.name, round, sync, converge, unexpectedDeletions: t.watcher.unexpectedDeletions };
    } finally {
      await t.end();
      await this.trimTo(peers);
    }
  }
}

await runScript('bench-overlay', async (teardown) => {
  const flags = parseFlags();
  if (process.getuid?.() !== 0) throw new Error('bench-overlay needs root (network namespaces, VXLAN devices)');
  for (const built of [join(CACHE_BIN, 'etcd'), join(CACHE_BIN, 'kube-apiserver'), join(DIST, 'weftd')]) requireBuilt(built, 'run make build kube-tools');
  requireBuilt(FLANNELD, 'run make flannel');
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  console.error(
    `bench-overlay: control plane + a node namespace per run (load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
  const bench = await Bench.setUp(flags, teardown);
  const sizes: SizeResult[] = [];
  for (const peers of flags.sizes) {
    console.error(`bench-overlay: ${peers} peers`);
    await bench.topUp(peers);
    const runs: RunResult[] = [];
    for (let round = 1; round <= flags.rounds; round++) {
      const order = round % 2 === 1 ? DAEMONS : [...DAEMONS].reverse();
      for (const d of order) runs.push(await bench.run(d, peers, round, teardown));
    }
    sizes.push({ peers, runs });
  }
  const result: Result = { machine: machineInfo(), config: flags, sizes, goals: verdicts(sizes), monitorProblems: bench.monitorProblems };
  publish('overlay-convergence', result, table(result));
});
