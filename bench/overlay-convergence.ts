// `make bench-overlay`: how fast weftd converges and what it costs at scale.
// A real control plane (etcd + kube-apiserver) and ONE node namespace running
// dist/weftd; every other node is a fake Node object created through the API
// (pod CIDR and VTEP annotations, see overlay-fake-nodes.ts). Nothing is ever
// sent to a fake peer: only the measured node's kernel tables are read.
//
// For each size N (default 100, 1000, 5000 peers):
//   sync     weftd started on an empty kernel (VXLAN device deleted) with N
//            Nodes in the API server → every FDB, neighbour and route entry
//            in the kernel and /readyz 200; RSS after it
//   restart  weftd restarted with the entries already in place → /readyz 200
//   converge S new Nodes created one by one, --spacing-ms apart: from the
//            moment each create request is sent to its FDB, neighbour AND
//            route entries all being in the kernel (timestamps of
//            `ip -ts monitor` / `bridge -timestamp monitor` in the namespace)
//
// Targets: converge p99 <= 100 ms at 1000, sync <= 5 s at 5000, RSS <= 150 MB
// at 5000. Prints a table and JSON; writes bench/results/overlay-convergence.json
// and keeps weftd's log (and profiles, with --cpu-prof) next to it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { failUsage, parseFlagsOrExit, wholeNumber } from './lib/flags.ts';
import { WEFT_ROUTE_PROTOCOL } from '../src/overlay/kernel-state.ts';
import { CLUSTER_CIDR, Cluster, type ClusterNode } from '../test/support/cluster.ts';
import { summarizeCpuProfile } from './lib/cpuprofile.ts';
import { inParallel, KubeApi, wallMs } from './lib/kube-api.ts';
import { machineInfo } from './lib/machine.ts';
import { type KernelEvent, monitorNetns } from './lib/netlink-monitor.ts';
import { percentile, round2 } from './lib/stats.ts';
import { Teardown } from './lib/teardown.ts';
import { type ConvergeResult, type DiagnosticsResult, type Flags, mb, type RestartResult, type Result, roundDeep, type SizeResult, type SyncResult, table, verdicts } from './overlay-convergence-report.ts';
import { passCommandCosts, rawListCost } from './overlay-diagnostics.ts';
import { FAKE_CLUSTER_CIDR, fakeNode, fakePeer, type FakePeer, MAX_PEERS } from './overlay-fake-nodes.ts';
import { stopProcess } from '../test/support/process.ts';
import { healthForwarder, httpOverUnix, parseMetrics, readMemory, startWeftd, type Weftd, weftdLogSince } from './overlay-weftd.ts';
import { SYSTEM_PATH } from '../test/support/host.ts';

const repo = join(import.meta.dirname, '..');
const RESULTS = join(repo, 'bench', 'results');
const ARTIFACTS = join(RESULTS, 'overlay-convergence');
const DEVICE = 'weft.1';
const SYSTEM_ENV = { PATH: SYSTEM_PATH };

const USAGE = `usage: node bench/overlay-convergence.ts [--sizes 100,1000,5000] [--samples 100] [--spacing-ms 75]
       [--concurrency 32] [--node-size realistic|minimal] [--weftd sea|source] [--cpu-prof] [--heap-prof] [--weftd-env K=V]...
  --sizes        peer counts to measure at, ascending (each: sync, restart, convergence)
  --samples      Nodes created one by one per convergence series (default 100)
  --spacing-ms   time between two of those creations (default 75)
  --concurrency  creates in flight while filling the API server (default 32)
  --node-size    realistic: Nodes carry a kubelet's status (labels, conditions, images); minimal: name, pod CIDR, annotations
  --weftd        sea: dist/weftd (default); bundle: node dist/.sea/weftd.cjs, the same code, takes node flags
                 ; source: node cmd/weftd.ts (implied by --cpu-prof/--heap-prof: readable names)
  --node-flags=  "FLAGS" for node in bundle/source mode, e.g. --node-flags="--max-semi-space-size=1"
  --cpu-prof     profile weftd (node --cpu-prof), summarise where its CPU time went
  --heap-prof    sampling heap profile of weftd (node --heap-prof), kept under bench/results/overlay-convergence/
  --weftd-env    KEY=VALUE for weftd's environment (repeatable), e.g. NODE_OPTIONS=--max-semi-space-size=1
  --weftd-bin    run this single executable instead of dist/weftd (e.g. one built with other SEA settings)
  --weftd-root   run DIR/cmd/weftd.ts from source instead (a patched copy, to measure a change before making it)`;


function usageError(msg: string): never {
  return failUsage(USAGE, msg);
}

function parseFlags(): Flags {
  const values = parseFlagsOrExit(USAGE, () => parseArgs({
    options: {
      sizes: { type: 'string', default: '100,1000,5000' },
      samples: { type: 'string', default: '100' },
      'spacing-ms': { type: 'string', default: '75' },
      concurrency: { type: 'string', default: '32' },
      'node-size': { type: 'string', default: 'realistic' },
      weftd: { type: 'string', default: 'sea' },
      'cpu-prof': { type: 'boolean', default: false },
      'heap-prof': { type: 'boolean', default: false },
      'weftd-env': { type: 'string', multiple: true, default: [] },
      'weftd-root': { type: 'string' },
      'node-flags': { type: 'string', default: '' },
      'weftd-bin': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  }));
  const int = (flag: string, v: string, min: number) => wholeNumber(USAGE, flag, v, min);
  const sizes = values.sizes.split(',').map((s) => int('sizes', s.trim(), 1));
  if (sizes.some((s, i) => i > 0 && s <= sizes[i - 1]!)) usageError('--sizes must ascend');
  const samples = int('samples', values.samples, 1);
  if (sizes.at(-1)! + samples > MAX_PEERS) usageError(`--sizes: at most ${MAX_PEERS - samples} peers`);
  if (values['node-size'] !== 'realistic' && values['node-size'] !== 'minimal') usageError('--node-size: realistic or minimal');
  if (values.weftd !== 'sea' && values.weftd !== 'bundle' && values.weftd !== 'source') usageError('--weftd: sea, bundle or source');
  const nodeFlags = values['node-flags'].split(/\s+/).filter(Boolean);
  if (nodeFlags.length > 0 && values.weftd === 'sea' && !values['weftd-root']) usageError('--node-flags needs --weftd bundle or source (the single executable takes no node flags)');
  const cpuProf = values['cpu-prof'];
  const heapProf = values['heap-prof'];
  return {
    sizes,
    samples,
    spacingMs: int('spacing-ms', values['spacing-ms'], 1),
    concurrency: int('concurrency', values.concurrency, 1),
    nodeSize: values['node-size'],
    mode: values['weftd-root'] ? 'source' : (cpuProf || heapProf) && values.weftd === 'sea' ? 'source' : values.weftd,
    nodeFlags,
    weftdBin: values['weftd-bin'],
    weftdRoot: values['weftd-root'],
    cpuProf,
    heapProf,
    weftdEnv: Object.fromEntries(values['weftd-env'].map((kv) => {
      const i = kv.indexOf('=');
      if (i < 1) usageError(`--weftd-env ${kv}: want KEY=VALUE`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    })),
  };
}

// --- what the kernel must hold, and the monitor events that prove it ------

/** A set of kernel entries we wait for; done when each was seen with the right value. */
class Expectation {
  readonly seen = new Map<string, { tsMs: number; recvPerfMs: number }>();
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  readonly expected: Map<string, string>;
  readonly notBeforeMs: number;
  constructor(expected: Map<string, string>, notBeforeMs: number) {
    this.expected = expected;
    this.notBeforeMs = notBeforeMs;
  }

  offer(id: string, e: KernelEvent): void {
    if (e.deleted || e.tsMs < this.notBeforeMs || this.seen.has(id) || this.expected.get(id) !== e.value) return;
    this.seen.set(id, { tsMs: e.tsMs, recvPerfMs: e.recvPerfMs });
    if (this.seen.size === this.expected.size) this.resolveDone();
  }

  complete(): boolean {
    return this.seen.size === this.expected.size;
  }

  lastTsMs(): number {
    return Math.max(...[...this.seen.values()].map((s) => s.tsMs));
  }

  lastRecvPerfMs(): number {
    return Math.max(...[...this.seen.values()].map((s) => s.recvPerfMs));
  }
}

const entryId = (kind: string, key: string) => `${kind} ${key}`;

function entriesOf(p: FakePeer): [string, string][] {
  return [[entryId('fdb', p.vtepMac), p.vtepIp], [entryId('neigh', p.via), p.vtepMac], [entryId('route', p.podCidr), p.via]];
}

class Watcher {
  private readonly waiting = new Map<string, Expectation>();
  /** Deletions of fake peers' entries seen outside a flush: weftd should never make any. */
  unexpectedDeletions = 0;
  flushing = false;

  onEvent = (e: KernelEvent): void => {
    const id = entryId(e.kind, e.key);
    if (e.deleted) {
      if (!this.flushing && (e.kind === 'fdb' ? e.key.startsWith('0e:fe:') : e.key.startsWith('10.'))) this.unexpectedDeletions++;
      return;
    }
    const x = this.waiting.get(id);
    if (!x) return;
    x.offer(id, e);
    if (x.seen.has(id)) this.waiting.delete(id);
  };

  expect(entries: [string, string][], notBeforeMs: number): Expectation {
    const x = new Expectation(new Map(entries), notBeforeMs);
    for (const [id] of entries) this.waiting.set(id, x);
    return x;
  }

  forget(x: Expectation): void {
    for (const id of x.expected.keys()) if (this.waiting.get(id) === x) this.waiting.delete(id);
  }
}

// --- the benchmark ---------------------------------------------------------


class Bench {
  readonly teardown = new Teardown();
  c!: Cluster;
  node!: ClusterNode;
  api!: KubeApi;
  watcher = new Watcher();
  weftd: Weftd | undefined;
  created = 0;
  healthSocket = '';
  log = join(ARTIFACTS, 'weftd.log');
  creation: { peers: number; ms: number; perSecond: number }[] = [];
  monitorProblems: () => string[] = () => [];

  readonly flags: Flags;
  constructor(flags: Flags) {
    this.flags = flags;
  }

  async setUp(): Promise<void> {
    this.c = await Cluster.start(1);
    this.teardown.add('the cluster (control plane, node namespace, underlay bridge)', () => this.c.destroy());
    this.node = this.c.nodes[0]!;
    this.api = new KubeApi({ server: this.c.cp.server, caFile: this.c.cp.caFile, certFile: this.c.cp.certFile, keyFile: this.c.cp.keyFile }, this.flags.concurrency);
    this.teardown.add('API connections', () => this.api.close());
    this.healthSocket = join(this.c.dir, 'health.sock');
    const fwd = healthForwarder(this.node.netns, this.healthSocket, join(ARTIFACTS, 'socat-health.log'));
    this.teardown.add('health forwarder', () => stopProcess(fwd, 'SIGTERM', 10_000));
    const monitor = monitorNetns(this.node.netns, DEVICE, WEFT_ROUTE_PROTOCOL, 'eth0', this.watcher.onEvent);
    this.teardown.add('netlink monitors', () => monitor.stop());
    await monitor.ready;
    this.monitorProblems = monitor.problems;
    this.teardown.add('weftd', () => this.stopWeftd('SIGKILL'));
  }

  launchWeftd(): Weftd {
    const nodeFlags: string[] = [...this.flags.nodeFlags];
    if (this.flags.cpuProf) nodeFlags.push('--cpu-prof', '--cpu-prof-dir', ARTIFACTS);
    if (this.flags.heapProf) nodeFlags.push('--heap-prof', '--heap-prof-dir', ARTIFACTS);
    this.weftd = startWeftd({
      netns: this.node.netns,
      nodeName: this.node.name,
      kubeconfig: this.c.cp.kubeconfig,
      clusterCidrs: [CLUSTER_CIDR, FAKE_CLUSTER_CIDR],
      subnetFile: this.node.subnetFile,
      log: this.log,
      mode: this.flags.mode,
      nodeFlags,
      env: this.flags.weftdEnv,
      root: this.flags.weftdRoot,
      bin: this.flags.weftdBin,
    });
    return this.weftd;
  }

  async stopWeftd(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.weftd?.stop(signal);
    this.weftd = undefined;
  }

  async metrics(): Promise<Map<string, number>> {
    const r = await httpOverUnix(this.healthSocket, '/metrics');
    return r.status === 200 ? parseMetrics(r.body) : new Map();
  }

  /** Polls /readyz until 200; returns performance.now() of the first 200. */
  async waitReady(w: Weftd, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (!w.running()) throw new Error(`weftd exited while starting; see ${this.log}`);
      const r = await httpOverUnix(this.healthSocket, '/readyz', 1000);
      if (r.status === 200) return performance.now();
      await sleep(10);
    }
    throw new Error(`weftd not ready within ${timeoutMs} ms; see ${this.log}`);
  }

  /** Creates fake peers until there are `peers` of them. */
  async topUp(peers: number): Promise<void> {
    if (peers <= this.created) return;
    const todo = Array.from({ length: peers - this.created }, (_, i) => fakePeer(this.created + i + 1));
    const started = performance.now();
    await inParallel(todo, this.flags.concurrency, async (p) => {
      await this.api.createNode(fakeNode(p, this.flags.nodeSize));
    });
    const ms = performance.now() - started;
    this.created = peers;
    this.creation.push({ peers: todo.length, ms: round2(ms), perSecond: Math.round(todo.length / (ms / 1000)) });
    console.error(`  created ${todo.length} Nodes in ${(ms / 1000).toFixed(1)} s (${Math.round(todo.length / (ms / 1000))}/s, ${this.flags.concurrency} in flight)`);
  }

  private ip(args: string[]): string {
    return execFileSync('ip', ['-n', this.node.netns, ...args], { encoding: 'utf8', env: SYSTEM_ENV, maxBuffer: 256 << 20 });
  }

  /** Deletes the VXLAN device: the kernel drops every entry on it, as on a fresh node. */
  async flushKernel(): Promise<void> {
    this.watcher.flushing = true;
    try {
      if (/^weft\.1[ @]/m.test(this.ip(['-br', 'link', 'show']))) this.ip(['link', 'del', DEVICE]);
      const left = this.ip(['route', 'show', 'proto', String(WEFT_ROUTE_PROTOCOL)]).trim();
      if (left) throw new Error(`weft routes left after deleting ${DEVICE}: ${left.split('\n')[0]}`);
      await sleep(200); // let the monitors drain the deletions
    } finally {
      this.watcher.flushing = false;
    }
  }

  /** How many of the peers' entries the kernel holds now (a dump, not the monitors). */
  countKernelEntries(): number {
    const neigh = this.ip(['neigh', 'show', 'dev', DEVICE, 'nud', 'permanent']).split('\n').filter((l) => l.includes('lladdr 0e:fe:')).length;
    const routes = this.ip(['route', 'show', 'proto', String(WEFT_ROUTE_PROTOCOL)]).split('\n').filter((l) => l.startsWith('10.')).length;
    const fdb = execFileSync('bridge', ['-n', this.node.netns, 'fdb', 'show', 'dev', DEVICE], { encoding: 'utf8', env: SYSTEM_ENV, maxBuffer: 256 << 20 })
      .split('\n').filter((l) => l.startsWith('0e:fe:') && l.includes(' dst ')).length;
    return neigh + routes + fdb;
  }

  async measureSync(peers: number): Promise<SyncResult> {
    await this.stopWeftd();
    await this.topUp(peers);
    await this.flushKernel();
    const all = Array.from({ length: peers }, (_, i) => fakePeer(i + 1));
    const load1 = loadavg()[0]!;
    const x = this.watcher.expect(all.flatMap(entriesOf), wallMs());
    const problemsBefore = this.monitorProblems().length;
    const w = this.launchWeftd();
    const readyPerf = await this.waitReady(w, 300_000);
    const readyMs = readyPerf - w.startPerfMs;
    // Lost events (ENOBUFS) will never come: no use waiting for them.
    if (this.monitorProblems().length === problemsBefore) await Promise.race([x.done, sleep(5000)]);
    this.watcher.forget(x);
    const entries = this.countKernelEntries();
    if (entries !== peers * 3) throw new Error(`after sync the kernel holds ${entries} of the ${peers * 3} entries for ${peers} peers`);
    const monitorComplete = x.complete();
    const lastEntryMs = monitorComplete ? x.lastTsMs() - w.startWallMs : null;
    await sleep(1000);
    const memoryAfter = readMemory(w.pid);
    const m = await this.metrics();
    const phasesMs = this.phases(w);
    return {
      peers,
      ms: Math.max(readyMs, lastEntryMs ?? 0),
      readyMs,
      lastEntryMs,
      entries,
      monitorComplete,
      phasesMs,
      memoryAfter,
      heapUsedMb: m.has('weftd_nodejs_heap_size_used_bytes') ? m.get('weftd_nodejs_heap_size_used_bytes')! / 2 ** 20 : null,
      v8Mb: v8Memory(m),
      load1,
    };
  }

  /** Milestones from weftd's own log, ms after the spawn. */
  private phases(w: Weftd): Record<string, number> {
    const out: Record<string, number> = {};
    const milestones: [string, RegExp][] = [
      ['underlay detected (process up)', /^underlay /],
      ['own pod CIDR read', /has pod CIDR/],
      ['VTEP published', /^published VTEP/],
      ['Nodes listed', /^node watch: listed/],
      ['entries programmed', /^programmed \d+ peers/],
      ['subnet file written', /^wrote /],
    ];
    for (const { tsMs, msg } of weftdLogSince(this.log, w.logOffset)) {
      for (const [name, re] of milestones) if (!(name in out) && re.test(msg)) out[name] = Math.round(tsMs - w.startWallMs);
      const listed = /^node watch: listed (\d+) nodes in (\d+) pages in (\d+) ms/.exec(msg);
      if (listed && !('list itself (weftd)' in out)) out['list itself (weftd)'] = Number(listed[3]);
    }
    return out;
  }

  async measureRestart(peers: number): Promise<RestartResult> {
    await this.stopWeftd();
    const load1 = loadavg()[0]!;
    const w = this.launchWeftd();
    const readyPerf = await this.waitReady(w, 300_000);
    await sleep(1000);
    const m = await this.metrics();
    return { peers, readyMs: readyPerf - w.startPerfMs, entriesAdded: m.get('weft_entries_added_total') ?? NaN, memoryAfter: readMemory(w.pid), load1 };
  }

  async diagnostics(): Promise<DiagnosticsResult> {
    const p = fakePeer(1);
    const commands = passCommandCosts(this.node.netns, DEVICE, WEFT_ROUTE_PROTOCOL, { ip: p.via, mac: p.vtepMac, fdbMac: p.vtepMac, fdbDst: p.vtepIp });
    return { commands, rawList: await rawListCost(this.api) };
  }

  async measureConvergence(peersBefore: number): Promise<ConvergeResult> {
    if (!this.weftd) throw new Error('weftd is not running');
    const { samples, spacingMs } = this.flags;
    const load1 = loadavg()[0]!;
    const before = await this.metrics();
    const heard = new Map<string, number>();
    const watch = await this.api.watchNodes((type, name, recv) => {
      if (type === 'ADDED' && !heard.has(name)) heard.set(name, recv);
    });
    const runs: { name: string; sentWall: number; sentPerf: number; x: Expectation; created: Promise<unknown> }[] = [];
    const start = performance.now();
    for (let k = 0; k < samples; k++) {
      const wait = start + k * spacingMs - performance.now();
      if (wait > 0) await sleep(wait);
      const p = fakePeer(++this.created);
      const x = this.watcher.expect(entriesOf(p), wallMs() - 1);
      const run = { name: p.name, sentWall: 0, sentPerf: 0, x, created: Promise.resolve() as Promise<unknown> };
      run.created = this.api.createNode(fakeNode(p, this.flags.nodeSize), () => {
        run.sentWall = wallMs();
        run.sentPerf = performance.now();
      });
      run.created.catch(() => {}); // awaited below; handled here so an early failure cannot crash the run
      runs.push(run);
    }
    await Promise.all(runs.map((r) => r.created));
    await Promise.race([Promise.all(runs.map((r) => r.x.done)), sleep(30_000)]);
    watch.stop();
    const done = runs.filter((r) => r.x.complete());
    for (const r of runs) this.watcher.forget(r.x);
    const viaApi = done.filter((r) => heard.has(r.name));
    const apiMs = viaApi.map((r) => heard.get(r.name)! - r.sentPerf);
    const weftdMs = viaApi.map((r) => r.x.lastRecvPerfMs() - heard.get(r.name)!);
    if (done.length === 0) throw new Error('no new Node reached the kernel within 30 s');
    const lat = done.map((r) => r.x.lastTsMs() - r.sentWall);
    const recv = done.map((r) => r.x.lastRecvPerfMs() - r.sentPerf);
    const after = await this.metrics();
    const passes = (after.get('weft_reconcile_duration_seconds_count') ?? 0) - (before.get('weft_reconcile_duration_seconds_count') ?? 0);
    const passSeconds = (after.get('weft_reconcile_duration_seconds_sum') ?? 0) - (before.get('weft_reconcile_duration_seconds_sum') ?? 0);
    return {
      peersBefore,
      samples,
      spacingMs,
      p50: percentile(lat, 50),
      p90: percentile(lat, 90),
      p99: percentile(lat, 99),
      max: Math.max(...lat),
      recvP50: percentile(recv, 50),
      recvP99: percentile(recv, 99),
      apiP50: apiMs.length ? percentile(apiMs, 50) : null,
      apiP99: apiMs.length ? percentile(apiMs, 99) : null,
      weftdP50: weftdMs.length ? percentile(weftdMs, 50) : null,
      weftdP99: weftdMs.length ? percentile(weftdMs, 99) : null,
      timedOut: runs.length - done.length,
      reconcilePasses: passes,
      reconcileMeanMs: passes > 0 ? (passSeconds / passes) * 1000 : null,
      memoryAfter: readMemory(this.weftd.pid),
      load1,
    };
  }
}

function v8Memory(m: Map<string, number>): Record<string, number> {
  const pick: Record<string, string> = {
    heapTotal: 'weftd_nodejs_heap_size_total_bytes',
    heapUsed: 'weftd_nodejs_heap_size_used_bytes',
    newSpace: 'weftd_nodejs_heap_space_size_total_bytes{space="new"}',
    oldSpace: 'weftd_nodejs_heap_space_size_total_bytes{space="old"}',
    codeSpace: 'weftd_nodejs_heap_space_size_total_bytes{space="code"}',
    largeObjects: 'weftd_nodejs_heap_space_size_total_bytes{space="large_object"}',
    external: 'weftd_nodejs_external_memory_bytes',
  };
  const out: Record<string, number> = {};
  for (const [k, name] of Object.entries(pick)) if (m.has(name)) out[k] = m.get(name)! / 2 ** 20;
  return out;
}

async function main(): Promise<void> {
  const flags = parseFlags();
  if (process.getuid?.() !== 0) throw new Error('bench-overlay needs root (network namespaces, VXLAN devices)');
  for (const bin of ['.cache/bin/etcd', '.cache/bin/kube-apiserver', ...(flags.mode === 'sea' ? ['dist/weftd'] : flags.mode === 'bundle' ? ['dist/.sea/weftd.cjs'] : [])]) {
    if (!existsSync(join(repo, bin))) throw new Error(`${bin} is missing: run make build kube-tools`);
  }
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  const bench = new Bench(flags);
  bench.teardown.onSignals('bench-overlay');
  const sizes: SizeResult[] = [];
  try {
    console.error(`bench-overlay: control plane + 1 node namespace (load ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    await bench.setUp();
    for (const peers of flags.sizes) {
      console.error(`bench-overlay: ${peers} peers`);
      const sync = await bench.measureSync(peers);
      console.error(`  sync ${sync.ms.toFixed(0)} ms, RSS ${mb(sync.memoryAfter.rssKb).toFixed(1)} MB`);
      const restart = await bench.measureRestart(peers);
      console.error(`  restart ready in ${restart.readyMs.toFixed(0)} ms`);
      const diagnostics = await bench.diagnostics();
      const converge = await bench.measureConvergence(peers);
      console.error(`  convergence p50 ${converge.p50.toFixed(1)} ms p99 ${converge.p99.toFixed(1)} ms`);
      sizes.push({ peers, sync, restart, diagnostics, converge });
    }
    await bench.stopWeftd();
    const profiles = flags.cpuProf
      ? readdirSync(ARTIFACTS).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => summarizeCpuProfile(join(ARTIFACTS, f)))
      : [];
    const result: Result = {
      machine: machineInfo(),
      config: flags,
      sizes,
      creation: bench.creation,
      targets: verdicts(sizes),
      unexpectedDeletions: bench.watcher.unexpectedDeletions,
      monitorProblems: bench.monitorProblems(),
      profiles,
    };
    const json = JSON.stringify(roundDeep(result), null, 2);
    writeFileSync(join(RESULTS, 'overlay-convergence.json'), `${json}\n`);
    console.log(table(result));
    console.log();
    console.log(json);
  } catch (err) {
    await nextTurn();
    if (bench.teardown.interrupted) {
      console.error(`bench-overlay interrupted by ${bench.teardown.interrupted}, no result`);
      process.exitCode = 130;
    } else {
      console.error(`bench-overlay failed: ${(err as Error).stack ?? err}`);
      process.exitCode = 1;
    }
  } finally {
    const failed = await bench.teardown.run();
    for (const f of failed) console.error(`bench-overlay could not remove ${f}`);
    if (failed.length > 0) process.exitCode ||= 1;
  }
}

await main();
