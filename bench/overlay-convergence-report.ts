// The convergence benchmark's result: its JSON document
// (bench/results/overlay-convergence.json), the targets judged on it and the
// human table printed from it.
import { type ProfileSummary, renderProfile } from './lib/cpuprofile.ts';
import type { MachineInfo } from './lib/machine.ts';
import { round2 } from './lib/stats.ts';
import type { CommandCost } from './overlay-diagnostics.ts';
import type { NodeSize } from './overlay-fake-nodes.ts';
import type { Memory, WeftdMode } from './overlay-weftd.ts';

export const TARGET = { convergeP99Ms: 100, convergeAt: 1000, syncMs: 5000, syncAt: 5000, rssMb: 150, rssAt: 5000 };

export type Flags = {
  sizes: number[];
  samples: number;
  spacingMs: number;
  concurrency: number;
  nodeSize: NodeSize;
  mode: WeftdMode;
  cpuProf: boolean;
  heapProf: boolean;
  weftdEnv: Record<string, string>;
  weftdRoot: string | undefined;
  nodeFlags: string[];
  weftdBin: string | undefined;
};

export type SyncResult = {
  peers: number;
  ms: number;
  readyMs: number;
  lastEntryMs: number | null;
  entries: number;
  monitorComplete: boolean;
  phasesMs: Record<string, number>;
  memoryAfter: Memory;
  heapUsedMb: number | null;
  /** V8's view (MB): heap committed, used, young generation committed, external + array buffers. */
  v8Mb: Record<string, number>;
  load1: number;
};
export type RestartResult = { peers: number; readyMs: number; entriesAdded: number; memoryAfter: Memory; load1: number };
export type ConvergeResult = {
  peersBefore: number;
  samples: number;
  spacingMs: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Same latencies measured by when this process read the monitor line (monotonic clock): a cross-check. */
  recvP50: number;
  recvP99: number;
  /** Create sent → the API server's watch event reached this process (what weftd waits on too). */
  apiP50: number | null;
  apiP99: number | null;
  /** That watch event → the last of the three entries in the kernel: weftd's own share. */
  weftdP50: number | null;
  weftdP99: number | null;
  timedOut: number;
  reconcilePasses: number;
  reconcileMeanMs: number | null;
  memoryAfter: Memory;
  load1: number;
};
export type DiagnosticsResult = { commands: CommandCost[]; rawList: { ms: number; mb: number; pages: number } };
export type SizeResult = { peers: number; sync: SyncResult; restart: RestartResult; diagnostics: DiagnosticsResult; converge: ConvergeResult };

// --- report ----------------------------------------------------------------

export type Verdict = { what: string; value: number | null; limit: number; unit: string; met: boolean | null };
export type Result = {
  machine: MachineInfo;
  config: Flags;
  sizes: SizeResult[];
  creation: { peers: number; ms: number; perSecond: number }[];
  targets: Verdict[];
  unexpectedDeletions: number;
  monitorProblems: string[];
  profiles: ProfileSummary[];
};

export const mb = (kb: number) => kb / 1024;
const f1 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(1));

export function verdicts(sizes: SizeResult[]): Verdict[] {
  const at = (n: number) => sizes.find((s) => s.peers === n);
  const conv = at(TARGET.convergeAt)?.converge;
  const sync = at(TARGET.syncAt)?.sync;
  const rss = at(TARGET.rssAt)?.sync;
  return [
    { what: `convergence p99 at ${TARGET.convergeAt} Nodes`, value: conv?.p99 ?? null, limit: TARGET.convergeP99Ms, unit: 'ms', met: conv ? conv.p99 <= TARGET.convergeP99Ms && conv.timedOut === 0 : null },
    { what: `initial sync of ${TARGET.syncAt} Nodes`, value: sync?.ms ?? null, limit: TARGET.syncMs, unit: 'ms', met: sync ? sync.ms <= TARGET.syncMs : null },
    { what: `RSS after sync at ${TARGET.rssAt} Nodes`, value: rss ? mb(rss.memoryAfter.rssKb) : null, limit: TARGET.rssMb, unit: 'MB', met: rss ? mb(rss.memoryAfter.rssKb) <= TARGET.rssMb : null },
  ];
}

export function table(r: Result): string {
  const out: string[] = [];
  const pad = (cells: (string | number)[], w: number[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]!) : String(c).padStart(w[i]!))).join('  ');
  const how = [r.config.mode, ...r.config.nodeFlags, ...Object.entries(r.config.weftdEnv).map(([k, v]) => `${k}=${v}`), ...(r.config.weftdRoot ? [`from ${r.config.weftdRoot}`] : []), ...(r.config.weftdBin ? [r.config.weftdBin] : [])].join(' ');
  out.push(`weftd convergence and scale (${r.config.nodeSize} Nodes, weftd ${how}; ${r.machine.nproc} CPUs, kernel ${r.machine.kernel}, Node ${r.machine.node})`);
  out.push('');
  let w = [8, 10, 10, 10, 10, 9, 9, 8, 8];
  out.push('initial sync (empty kernel → every entry programmed and /readyz 200), then RSS');
  out.push(pad(['peers', 'sync ms', 'ready ms', 'entries', 'last entry', 'RSS MB', 'HWM MB', 'heap MB', 'load1'], w));
  for (const s of r.sizes) {
    const y = s.sync;
    out.push(pad([s.peers, f1(y.ms), f1(y.readyMs), y.entries, y.lastEntryMs === null ? 'lost*' : f1(y.lastEntryMs), f1(mb(y.memoryAfter.rssKb)), f1(mb(y.memoryAfter.hwmKb)), f1(y.heapUsedMb), y.load1.toFixed(2)], w));
  }
  out.push('');
  out.push('  V8 memory after sync (MB): ' + r.sizes.map((s) => `${s.peers}: ${Object.entries(s.sync.v8Mb).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`).join(' | '));
  out.push('  where the sync time goes (ms after spawn, from weftd\'s log):');
  for (const s of r.sizes) out.push(`  ${String(s.peers).padStart(6)}: ${Object.entries(s.sync.phasesMs).map(([k, v]) => `${k} ${v}`).join(' | ')}`);
  out.push('');
  out.push('restart with every entry already in place (what an upgrade costs)');
  w = [8, 10, 14, 9, 9, 8];
  out.push(pad(['peers', 'ready ms', 'entries added', 'RSS MB', 'HWM MB', 'load1'], w));
  for (const s of r.sizes) out.push(pad([s.peers, f1(s.restart.readyMs), s.restart.entriesAdded, f1(mb(s.restart.memoryAfter.rssKb)), f1(mb(s.restart.memoryAfter.hwmKb)), s.restart.load1.toFixed(2)], w));
  out.push('');
  out.push(`convergence: Node create sent → FDB + neighbour + route in the kernel (${r.config.samples} creates, ${r.config.spacingMs} ms apart)`);
  w = [8, 8, 8, 8, 8, 9, 9, 10, 10, 7, 10, 8, 7];
  out.push(pad(['peers', 'p50', 'p90', 'p99', 'max', 'API p50', 'API p99', 'weftd p50', 'weftd p99', 'passes', 'pass mean', 'RSS MB', 'load1'], w));
  for (const s of r.sizes) {
    const c = s.converge;
    out.push(pad([s.peers, f1(c.p50), f1(c.p90), f1(c.p99), f1(c.max), f1(c.apiP50), f1(c.apiP99), f1(c.weftdP50), f1(c.weftdP99), c.reconcilePasses, f1(c.reconcileMeanMs), f1(mb(c.memoryAfter.rssKb)), c.load1.toFixed(2)], w));
    if (c.timedOut > 0) out.push(`  ${c.timedOut} of ${c.samples} never converged within 30 s`);
  }
  out.push('  (p50..max: kernel monitor timestamps vs the wall clock at send; API: send → watch event here; weftd: watch event → last entry; ms)');
  out.push('');
  out.push('what one reconcile pass runs, timed from outside (median of 7, spawn to exit, ms; output KB)');
  const cw = Math.max(...r.sizes[0]!.diagnostics.commands.map((c) => c.what.length));
  out.push(pad(['', ...r.sizes.map((s) => `${s.peers} peers`)], [cw, ...r.sizes.map(() => 18)]));
  r.sizes[0]!.diagnostics.commands.forEach((c, i) => {
    out.push(pad([c.what, ...r.sizes.map((s) => `${f1(s.diagnostics.commands[i]!.ms)} (${Math.round(s.diagnostics.commands[i]!.outputKb)} KB)`)], [cw, ...r.sizes.map(() => 18)]));
  });
  out.push(pad(['API server: raw paginated Node list (500/page)', ...r.sizes.map((s) => `${f1(s.diagnostics.rawList.ms)} (${f1(s.diagnostics.rawList.mb)} MB)`)], [cw, ...r.sizes.map(() => 18)]));
  out.push(pad(['weftd: the same list via client-node (its log)', ...r.sizes.map((s) => f1(s.sync.phasesMs['list itself (weftd)'] ?? null))], [cw, ...r.sizes.map(() => 18)]));
  out.push('');
  out.push(`Node creation through the API: ${r.creation.map((c) => `${c.peers} in ${(c.ms / 1000).toFixed(1)} s (${c.perSecond}/s)`).join(', ')}`);
  if (r.unexpectedDeletions > 0) out.push(`WARNING: weftd deleted ${r.unexpectedDeletions} peer entries it should have kept`);
  if (r.sizes.some((s) => s.sync.lastEntryMs === null)) {
    out.push('* the netlink monitors lost events in a bulk sync (ENOBUFS: iproute2 cannot raise its socket buffer past net.core.rmem_max);');
    out.push('  that sync time is /readyz, which weftd sets only after the pass that programmed every entry (and a dump confirmed them all)');
  }
  const otherProblems = r.monitorProblems.filter((p) => !p.includes('No buffer space'));
  for (const p of otherProblems) out.push(`monitor: ${p}`);
  out.push('');
  for (const v of r.targets) {
    const value = v.value === null ? 'not measured' : `${f1(v.value)} ${v.unit}`;
    out.push(`target ${v.what} <= ${v.limit} ${v.unit}: ${value} -> ${v.met === null ? 'n/a' : v.met ? 'met' : 'MISSED'}`);
  }
  for (const p of r.profiles) out.push('', renderProfile(p));
  return out.join('\n');
}

export function roundDeep<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isInteger(x) ? round2(x) : x))) as T;
}
