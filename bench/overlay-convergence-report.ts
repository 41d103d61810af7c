// The convergence benchmark's result: its JSON document
// (bench/results/overlay-convergence.json), the goals judged on it and the
// tables printed from it. Each size has several runs, flannel's and weftd's
// alternating; a goal compares weftd with flannel at the same size, pooling
// the rounds (convergence samples pooled, sync and RSS averaged).
import type { MachineInfo } from './lib/machine.ts';
import { percentile } from './lib/stats.ts';

/** weftd's own targets (docs/benchmarks.md), besides the comparison with flannel. */
export const TARGET = { convergeP99Ms: 100, convergeAt: 1000, syncMs: 5000, syncAt: 5000, rssMb: 150, rssAt: 5000 };
/** Below this many peers the Node runtime's own pages (~55 MB) dominate RSS: reported, not judged. */
export const RSS_JUDGED_FROM = 1000;

export const DAEMONS = ['flannel', 'weftd'] as const;
export type DaemonName = (typeof DAEMONS)[number];

export type Flags = { sizes: number[]; rounds: number; samples: number; spacingMs: number; concurrency: number };

/** From /proc/PID/status: RSS, its peak, and the part of RSS that is file pages (mostly the executable's own code and data). */
export type Memory = { rssKb: number; hwmKb: number; fileKb: number };

export type SyncResult = {
  /** weftd: the later of /readyz 200 and the last entry; flannel (no readiness): the last entry. From the spawn. */
  ms: number;
  /** weftd's /readyz 200; null for flannel. */
  readyMs: number | null;
  /** From the monitors' timestamps, or 'dump' when they lost events and a kernel dump saw the last entry. */
  lastEntryMs: number;
  lastEntryFrom: 'monitor' | 'dump';
  entries: number;
  memoryAfter: Memory;
  load1: number;
};
export type ConvergeResult = {
  samples: number;
  spacingMs: number;
  /** Create request sent → FDB, neighbour and route in the kernel, per converged Node. */
  latenciesMs: number[];
  /** Create request sent → its ADDED event on the bench's own watch: the API server's part. */
  deliveryMs: number[];
  /** That event on the bench's watch → the first of the three entries: the daemon's way to the kernel. */
  firstAfterDeliveryMs: number[];
  /** That event on the bench's watch → the last of the three entries: the daemon's part. */
  afterDeliveryMs: number[];
  p50: number;
  p99: number;
  timedOut: number;
  memoryAfter: Memory;
  load1: number;
};
export type RunResult = { daemon: DaemonName; round: number; sync: SyncResult; converge: ConvergeResult; unexpectedDeletions: number };
export type SizeResult = { peers: number; runs: RunResult[] };

export type Verdict = { what: string; value: number | null; limit: number | null; unit: string; met: boolean | null };
export type Result = {
  machine: MachineInfo;
  config: Flags;
  sizes: SizeResult[];
  goals: Verdict[];
  monitorProblems: string[];
};

export const mb = (kb: number) => kb / 1024;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
// Nearest-rank, as the goals' p50s are (lib/stats' median averages the two
// middle samples); null when no sample was split.
const p50 = (xs: number[]) => (xs.length > 0 ? percentile(xs, 50) : null);
const fixed = (digits: number) => (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));
const f1 = fixed(1);
const f2 = fixed(2);

/** A convergence sample's parts, split where the bench's own watch got the event. */
type SplitKey = 'deliveryMs' | 'firstAfterDeliveryMs' | 'afterDeliveryMs';

const runsOf = (s: SizeResult, d: DaemonName) => s.runs.filter((r) => r.daemon === d);
const pooled = (s: SizeResult, d: DaemonName) => runsOf(s, d).flatMap((r) => r.converge.latenciesMs);

/** The pooled p50 and p99 of a daemon's convergence at one size; null when nothing converged. */
export function pooledConvergence(s: SizeResult, d: DaemonName): { p50: number; p99: number } | null {
  const lat = pooled(s, d);
  return lat.length === 0 ? null : { p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

const meanSyncMs = (s: SizeResult, d: DaemonName) => mean(runsOf(s, d).map((r) => r.sync.ms));
const meanRssMb = (s: SizeResult, d: DaemonName) => mean(runsOf(s, d).map((r) => mb(r.sync.memoryAfter.rssKb)));

export function verdicts(sizes: SizeResult[]): Verdict[] {
  const out: Verdict[] = [];
  const vsFlannel = (what: string, weftd: number | null, flannel: number | null, unit: string, extraOk = true) =>
    out.push({
      what: `${what} <= flannel's`,
      value: weftd,
      limit: flannel,
      unit,
      met: weftd === null || flannel === null ? null : weftd <= flannel && extraOk,
    });
  for (const s of sizes) {
    const w = pooledConvergence(s, 'weftd');
    const f = pooledConvergence(s, 'flannel');
    const timedOut = runsOf(s, 'weftd').some((r) => r.converge.timedOut > 0);
    vsFlannel(`weftd convergence p50 at ${s.peers}`, w?.p50 ?? null, f?.p50 ?? null, 'ms', !timedOut);
    vsFlannel(`weftd convergence p99 at ${s.peers}`, w?.p99 ?? null, f?.p99 ?? null, 'ms', !timedOut);
    vsFlannel(`weftd initial sync at ${s.peers}`, meanSyncMs(s, 'weftd'), meanSyncMs(s, 'flannel'), 'ms');
    if (s.peers >= RSS_JUDGED_FROM) vsFlannel(`weftd RSS after sync at ${s.peers}`, meanRssMb(s, 'weftd'), meanRssMb(s, 'flannel'), 'MB');
  }
  const at = (n: number) => sizes.find((s) => s.peers === n);
  const conv = at(TARGET.convergeAt);
  const sync = at(TARGET.syncAt);
  const rss = at(TARGET.rssAt);
  const p99 = conv ? pooledConvergence(conv, 'weftd')?.p99 : undefined;
  const syncMs = sync ? Math.max(...runsOf(sync, 'weftd').map((r) => r.sync.ms)) : undefined;
  const rssMb = rss ? Math.max(...runsOf(rss, 'weftd').map((r) => mb(r.sync.memoryAfter.rssKb))) : undefined;
  const absolute = (what: string, value: number | undefined, limit: number, unit: string) =>
    out.push({ what: `${what} <= ${limit} ${unit}`, value: value ?? null, limit, unit, met: value === undefined ? null : value <= limit });
  absolute(`weftd convergence p99 at ${TARGET.convergeAt} (both rounds)`, p99, TARGET.convergeP99Ms, 'ms');
  absolute(`weftd initial sync of ${TARGET.syncAt} (slower round)`, syncMs, TARGET.syncMs, 'ms');
  absolute(`weftd RSS after sync at ${TARGET.rssAt} (larger round)`, rssMb, TARGET.rssMb, 'MB');
  return out;
}

/** "1.27" or "0.87–1.00": the spread over the rounds. */
function spread(xs: number[], digits: number): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo.toFixed(digits) === hi.toFixed(digits) ? lo.toFixed(digits) : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`;
}

const digitsFor = (ms: number) => (ms < 20 ? 1 : 0);

export function table(r: Result): string {
  const out: string[] = [];
  out.push(`flannel v0.28.10 and weftd on the same Nodes (${r.machine.nproc} CPUs, kernel ${r.machine.kernel}, Node ${r.machine.node})`);
  out.push(`${r.config.rounds} round(s) per size, order alternating; convergence: ${r.config.samples} creates ${r.config.spacingMs} ms apart per run`);
  out.push('');
  out.push('| peers | flannel sync | weftd sync | flannel conv p50 / p99 | weftd conv p50 / p99 | flannel RSS | weftd RSS |');
  out.push('|---|---|---|---|---|---|---|');
  for (const s of r.sizes) {
    const cells = [String(s.peers)];
    for (const d of DAEMONS)
      cells.push(
        `${spread(
          runsOf(s, d).map((x) => x.sync.ms / 1000),
          2,
        )} s`,
      );
    for (const d of DAEMONS) {
      const p50 = runsOf(s, d).map((x) => x.converge.p50);
      const p99 = runsOf(s, d).map((x) => x.converge.p99);
      cells.push(`${spread(p50, digitsFor(Math.min(...p50)))} / ${spread(p99, digitsFor(Math.min(...p99)))} ms`);
    }
    for (const d of DAEMONS)
      cells.push(
        `${spread(
          runsOf(s, d).map((x) => mb(x.sync.memoryAfter.rssKb)),
          0,
        )} MB`,
      );
    out.push(`| ${cells.join(' | ')} |`);
  }
  out.push('');
  out.push(
    "runs (sync from the spawn; ready = weftd /readyz 200; dump* = the monitors lost events, a kernel dump timed the last entry; file = the part of RSS that is file pages, mostly the executable's own)",
  );
  const w = [6, 8, 6, 9, 9, 11, 8, 8, 8, 8, 8, 8, 8, 7];
  const pad = (cells: (string | number)[]) => cells.map((c, i) => (i < 2 ? String(c).padEnd(w[i]!) : String(c).padStart(w[i]!))).join('  ');
  out.push(
    pad(['peers', 'daemon', 'round', 'sync ms', 'ready ms', 'last entry', 'p50 ms', 'p99 ms', 'API p50', 'own p50', 'RSS MB', 'file MB', 'HWM MB', 'load1']),
  );
  for (const s of r.sizes) {
    for (const x of s.runs) {
      const last = `${f1(x.sync.lastEntryMs)}${x.sync.lastEntryFrom === 'dump' ? '*' : ''}`;
      const mem = x.sync.memoryAfter;
      out.push(
        pad([
          s.peers,
          x.daemon,
          x.round,
          f1(x.sync.ms),
          f1(x.sync.readyMs),
          last,
          f1(x.converge.p50),
          f1(x.converge.p99),
          f1(p50(x.converge.deliveryMs)),
          f1(p50(x.converge.afterDeliveryMs)),
          f1(mb(mem.rssKb)),
          f1(mb(mem.fileKb)),
          f1(mb(mem.hwmKb)),
          x.sync.load1.toFixed(2),
        ]),
      );
      if (x.converge.timedOut > 0) out.push(`  ${x.converge.timedOut} of ${x.converge.samples} never converged within 30 s`);
      if (x.unexpectedDeletions > 0) out.push(`  WARNING: ${x.daemon} deleted ${x.unexpectedDeletions} peer entries it should have kept`);
    }
  }
  for (const p of r.monitorProblems.filter((p) => !p.includes('No buffer space'))) out.push(`monitor: ${p}`);
  out.push('');
  out.push(
    "convergence split at the bench's own watch of Nodes (pooled p50; API = the API server's delivery, own = the daemon's part after it, first = its first entry in the kernel):",
  );
  for (const s of r.sizes) {
    const part = (d: DaemonName, key: SplitKey) => f2(p50(runsOf(s, d).flatMap((x) => x.converge[key])));
    const both = (key: SplitKey) => `${part('flannel', key)} / ${part('weftd', key)}`;
    out.push(`  ${s.peers} peers: API ${both('deliveryMs')} ms, first ${both('firstAfterDeliveryMs')} ms, own ${both('afterDeliveryMs')} ms (flannel / weftd)`);
  }
  out.push('');
  for (const v of r.goals) {
    const shown = (n: number | null) => (n === null ? 'not measured' : `${f1(n)} ${v.unit}`);
    out.push(`goal ${v.what}: ${shown(v.value)} vs ${shown(v.limit)} -> ${v.met === null ? 'n/a' : v.met ? 'met' : 'MISSED'}`);
  }
  return out.join('\n');
}
