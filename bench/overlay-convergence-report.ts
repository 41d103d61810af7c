// The convergence benchmark's result: its JSON document
// (bench/results/overlay-convergence.json), the targets judged on it and the
// human table printed from it.
import type { MachineInfo } from './lib/machine.ts';

export const TARGET = { convergeP99Ms: 100, convergeAt: 1000, syncMs: 5000, syncAt: 5000, rssMb: 150, rssAt: 5000 };

export type Flags = { sizes: number[]; samples: number; spacingMs: number; concurrency: number };

export type Memory = { rssKb: number; hwmKb: number };

export type SyncResult = {
  peers: number;
  /** The later of /readyz 200 and the last entry in the kernel, from the spawn. */
  ms: number;
  readyMs: number;
  /** null when the monitors lost events (ENOBUFS) in the burst. */
  lastEntryMs: number | null;
  entries: number;
  memoryAfter: Memory;
  load1: number;
};
export type ConvergeResult = {
  peersBefore: number;
  samples: number;
  spacingMs: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  timedOut: number;
  memoryAfter: Memory;
  load1: number;
};
export type SizeResult = { peers: number; sync: SyncResult; converge: ConvergeResult };

export type Verdict = { what: string; value: number | null; limit: number; unit: string; met: boolean | null };
export type Result = {
  machine: MachineInfo;
  config: Flags;
  sizes: SizeResult[];
  targets: Verdict[];
  unexpectedDeletions: number;
  monitorProblems: string[];
};

export const mb = (kb: number) => kb / 1024;
const f1 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(1));

export function verdicts(sizes: SizeResult[]): Verdict[] {
  const at = (n: number) => sizes.find((s) => s.peers === n);
  const conv = at(TARGET.convergeAt)?.converge;
  const sync = at(TARGET.syncAt)?.sync;
  const rss = at(TARGET.rssAt)?.sync;
  return [
    {
      what: `convergence p99 at ${TARGET.convergeAt} Nodes`,
      value: conv?.p99 ?? null,
      limit: TARGET.convergeP99Ms,
      unit: 'ms',
      met: conv ? conv.p99 <= TARGET.convergeP99Ms && conv.timedOut === 0 : null,
    },
    { what: `initial sync of ${TARGET.syncAt} Nodes`, value: sync?.ms ?? null, limit: TARGET.syncMs, unit: 'ms', met: sync ? sync.ms <= TARGET.syncMs : null },
    {
      what: `RSS after sync at ${TARGET.rssAt} Nodes`,
      value: rss ? mb(rss.memoryAfter.rssKb) : null,
      limit: TARGET.rssMb,
      unit: 'MB',
      met: rss ? mb(rss.memoryAfter.rssKb) <= TARGET.rssMb : null,
    },
  ];
}

export function table(r: Result): string {
  const out: string[] = [];
  const pad = (cells: (string | number)[], w: number[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]!) : String(c).padStart(w[i]!))).join('  ');
  out.push(`weftd convergence and scale (kubelet-sized Nodes; ${r.machine.nproc} CPUs, kernel ${r.machine.kernel}, Node ${r.machine.node})`);
  out.push('');
  out.push('initial sync (empty kernel → every entry programmed and /readyz 200), then RSS');
  let w = [8, 10, 10, 10, 10, 9, 9, 8];
  out.push(pad(['peers', 'sync ms', 'ready ms', 'entries', 'last entry', 'RSS MB', 'HWM MB', 'load1'], w));
  for (const s of r.sizes) {
    const y = s.sync;
    out.push(
      pad(
        [
          s.peers,
          f1(y.ms),
          f1(y.readyMs),
          y.entries,
          y.lastEntryMs === null ? 'lost*' : f1(y.lastEntryMs),
          f1(mb(y.memoryAfter.rssKb)),
          f1(mb(y.memoryAfter.hwmKb)),
          y.load1.toFixed(2),
        ],
        w,
      ),
    );
  }
  out.push('');
  out.push(`convergence: Node create sent → FDB + neighbour + route in the kernel (${r.config.samples} creates, ${r.config.spacingMs} ms apart; ms)`);
  w = [8, 8, 8, 8, 8, 8, 7];
  out.push(pad(['peers', 'p50', 'p90', 'p99', 'max', 'RSS MB', 'load1'], w));
  for (const s of r.sizes) {
    const c = s.converge;
    out.push(pad([s.peers, f1(c.p50), f1(c.p90), f1(c.p99), f1(c.max), f1(mb(c.memoryAfter.rssKb)), c.load1.toFixed(2)], w));
    if (c.timedOut > 0) out.push(`  ${c.timedOut} of ${c.samples} never converged within 30 s`);
  }
  if (r.unexpectedDeletions > 0) out.push(`WARNING: weftd deleted ${r.unexpectedDeletions} peer entries it should have kept`);
  if (r.sizes.some((s) => s.sync.lastEntryMs === null)) {
    out.push('* the netlink monitors lost events in a bulk sync (ENOBUFS: iproute2 cannot raise its socket buffer past net.core.rmem_max);');
    out.push('  that sync time is /readyz, which weftd sets only after the pass that programmed every entry (and a dump confirmed them all)');
  }
  for (const p of r.monitorProblems.filter((p) => !p.includes('No buffer space'))) out.push(`monitor: ${p}`);
  out.push('');
  for (const v of r.targets) {
    const value = v.value === null ? 'not measured' : `${f1(v.value)} ${v.unit}`;
    out.push(`target ${v.what} <= ${v.limit} ${v.unit}: ${value} -> ${v.met === null ? 'n/a' : v.met ? 'met' : 'MISSED'}`);
  }
  return out.join('\n');
}
