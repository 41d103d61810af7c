// The data-path benchmark's result: its JSON document
// (bench/results/overlay-dataplane.json), the target judged on it and the
// human table printed from it.
import type { IperfRun } from './lib/iperf.ts';
import type { MachineInfo } from './lib/machine.ts';
import { median } from './lib/stats.ts';

export type Flags = { runs: number; seconds: number; streams: number; knobs: boolean };

/** Throughput of one path over every round. */
export type PathSummary = { name: string; medianGbps: number; minGbps: number; maxGbps: number; retransmits: number; load1: number[]; runs: IperfRun[] };

export type MtuCheck = { label: string; podMtu: number; dfFits: boolean; dfTooBig: boolean; tooBigMessage: string; fragmentsDuringPing: number };

export type Result = {
  machine: MachineInfo;
  config: Flags;
  mtu: { underlay: number; vxlan: number; pod: number; checks: MtuCheck[]; fragmentsDuringIperf: number };
  /** weft first, then node → node, then the by-hand reference, then its variants. */
  paths: PathSummary[];
  target: { what: string; weftGbps: number; byHandGbps: number; ratio: number; byHandSpread: number; met: boolean };
};

export function summarize(name: string, runs: (IperfRun & { load1: number })[]): PathSummary {
  const g = runs.map((r) => r.gbps);
  return {
    name,
    medianGbps: median(g),
    minGbps: Math.min(...g),
    maxGbps: Math.max(...g),
    retransmits: runs.reduce((a, r) => a + r.retransmits, 0),
    load1: runs.map((r) => r.load1),
    runs: runs.map(({ load1: _l, ...r }) => r),
  };
}

/** weft against the by-hand path, with how much the reference alone moves from run to run. */
export function judge(weft: PathSummary, byHand: PathSummary): Result['target'] {
  const ratio = weft.medianGbps / byHand.medianGbps;
  return {
    what: 'weft pod→pod >= 100% of the by-hand flannel-style path',
    weftGbps: weft.medianGbps,
    byHandGbps: byHand.medianGbps,
    ratio,
    byHandSpread: (byHand.maxGbps - byHand.minGbps) / byHand.medianGbps,
    met: ratio >= 1,
  };
}

export function table(r: Result): string {
  const { target: t, paths } = r;
  const out: string[] = [];
  const w = Math.max(...paths.map((s) => s.name.length));
  out.push(
    `pod network data path, iperf3 TCP, ${r.config.streams} stream(s), ${r.config.runs} × ${r.config.seconds} s interleaved (${r.machine.nproc} CPUs, kernel ${r.machine.kernel})`,
  );
  out.push(`MTU: underlay ${r.mtu.underlay}, VXLAN ${r.mtu.vxlan}, pod ${r.mtu.pod}`);
  out.push('');
  out.push(
    `${'path'.padEnd(w)}  ${'median'.padStart(7)}  ${'min'.padStart(6)}  ${'max'.padStart(6)}  ${'vs hand'.padStart(7)}  ${'retr'.padStart(6)}  load1 per run`,
  );
  for (const s of paths) {
    const vsHand = `${Math.round((s.medianGbps / t.byHandGbps) * 100)}%`;
    out.push(
      `${s.name.padEnd(w)}  ${s.medianGbps.toFixed(2).padStart(7)}  ${s.minGbps.toFixed(2).padStart(6)}  ${s.maxGbps.toFixed(2).padStart(6)}  ${vsHand.padStart(7)}  ${String(s.retransmits).padStart(6)}  ${s.load1.map((l) => l.toFixed(2)).join(' ')}`,
    );
  }
  out.push('(Gbit/s)');
  out.push('');
  for (const m of r.mtu.checks) {
    out.push(
      `${m.label}: ping -M do -s ${m.podMtu - 28} ${m.dfFits ? 'crosses' : 'FAILS'}; -s ${m.podMtu - 27} ${m.dfTooBig ? `refused (${m.tooBigMessage})` : 'NOT refused'}; fragments/reassemblies on the nodes meanwhile: ${m.fragmentsDuringPing}`,
    );
  }
  out.push(`fragments/reassemblies on weft's nodes during all iperf runs: ${r.mtu.fragmentsDuringIperf}`);
  out.push('');
  const closeCall = Math.abs(1 - t.ratio) < t.byHandSpread ? " (by less than the reference's own run-to-run spread)" : '';
  out.push(`the by-hand runs alone spread over ${(t.byHandSpread * 100).toFixed(1)}% of their median`);
  out.push(
    `target weft pod→pod >= 100% of by hand: ${t.weftGbps.toFixed(2)} vs ${t.byHandGbps.toFixed(2)} Gbit/s = ${(t.ratio * 100).toFixed(1)}% -> ${t.met ? 'met' : `MISSED${closeCall}`}`,
  );
  return out.join('\n');
}
