// The data-path benchmark's result: its JSON document
// (bench/results/overlay-dataplane.json), the targets judged on it (one per
// pod family, each against the by-hand path of that family) and the human
// table printed from it.
import type { Family } from '../src/net/address.ts';
import type { IperfRun } from './lib/iperf.ts';
import type { MachineInfo } from './lib/machine.ts';
import { median } from './lib/stats.ts';

export type Flags = { runs: number; seconds: number; streams: number; knobs: boolean };

/** What a path measures: weft, the weft nodes' underlay, the by-hand reference, or the reference with one knob changed. */
export type PathRole = 'weft' | 'node' | 'hand' | 'knob';

/** Throughput of one path over every round. */
export type PathSummary = {
  name: string;
  family: Family;
  role: PathRole;
  medianGbps: number;
  minGbps: number;
  maxGbps: number;
  retransmits: number;
  load1: number[];
  runs: IperfRun[];
};

/** The IP and ICMP echo headers a ping of `-s N` adds: N + these = the packet's size. */
export const ECHO_HEADERS: Record<Family, number> = { 4: 28, 6: 48 };

export type MtuCheck = {
  label: string;
  family: Family;
  podMtu: number;
  dfFits: boolean;
  dfTooBig: boolean;
  tooBigMessage: string;
  fragmentsDuringPing: number;
};

/** One weft cluster's MTUs: its underlay's, its VXLAN device's and its pods'. */
export type ClusterMtu = { family: Family; underlay: number; vxlanDevice: string; vxlan: number; pod: number };

export type Target = { family: Family; what: string; weftGbps: number; byHandGbps: number; ratio: number; byHandSpread: number; met: boolean };

export type Result = {
  machine: MachineInfo;
  config: Flags;
  mtu: { clusters: ClusterMtu[]; checks: MtuCheck[]; fragmentsDuringIperf: number };
  /** Per family: weft, node → node, the by-hand reference (then, for IPv4, its knob variants). */
  paths: PathSummary[];
  targets: Target[];
};

export function summarize(name: string, family: Family, role: PathRole, runs: (IperfRun & { load1: number })[]): PathSummary {
  const g = runs.map((r) => r.gbps);
  return {
    name,
    family,
    role,
    medianGbps: median(g),
    minGbps: Math.min(...g),
    maxGbps: Math.max(...g),
    retransmits: runs.reduce((a, r) => a + r.retransmits, 0),
    load1: runs.map((r) => r.load1),
    runs: runs.map(({ load1: _l, ...r }) => r),
  };
}

function pathOf(paths: PathSummary[], family: Family, role: PathRole): PathSummary {
  const p = paths.find((s) => s.family === family && s.role === role);
  if (!p) throw new Error(`no IPv${family} ${role} path among the measured ones (${paths.map((s) => s.name).join(', ')})`);
  return p;
}

/** weft of a family against the by-hand path of that family, with how much the reference alone moves from run to run. */
export function judge(paths: PathSummary[], family: Family): Target {
  const weft = pathOf(paths, family, 'weft');
  const byHand = pathOf(paths, family, 'hand');
  const ratio = weft.medianGbps / byHand.medianGbps;
  return {
    family,
    what: `weft IPv${family} pod→pod >= 100% of the by-hand flannel-style IPv${family} path`,
    weftGbps: weft.medianGbps,
    byHandGbps: byHand.medianGbps,
    ratio,
    byHandSpread: (byHand.maxGbps - byHand.minGbps) / byHand.medianGbps,
    met: ratio >= 1,
  };
}

export function table(r: Result): string {
  const { paths } = r;
  const out: string[] = [];
  const w = Math.max(...paths.map((s) => s.name.length));
  out.push(
    `pod network data path, iperf3 TCP, ${r.config.streams} stream(s), ${r.config.runs} × ${r.config.seconds} s interleaved (${r.machine.nproc} CPUs, kernel ${r.machine.kernel})`,
  );
  out.push(`MTU: ${r.mtu.clusters.map((m) => `IPv${m.family} cluster: underlay ${m.underlay}, ${m.vxlanDevice} ${m.vxlan}, pod ${m.pod}`).join('; ')}`);
  out.push('');
  out.push(
    `${'path'.padEnd(w)}  ${'median'.padStart(7)}  ${'min'.padStart(6)}  ${'max'.padStart(6)}  ${'vs hand'.padStart(7)}  ${'retr'.padStart(6)}  load1 per run`,
  );
  for (const s of paths) {
    const vsHand = `${Math.round((s.medianGbps / pathOf(paths, s.family, 'hand').medianGbps) * 100)}%`;
    out.push(
      `${s.name.padEnd(w)}  ${s.medianGbps.toFixed(2).padStart(7)}  ${s.minGbps.toFixed(2).padStart(6)}  ${s.maxGbps.toFixed(2).padStart(6)}  ${vsHand.padStart(7)}  ${String(s.retransmits).padStart(6)}  ${s.load1.map((l) => l.toFixed(2)).join(' ')}`,
    );
  }
  out.push('(Gbit/s; "vs hand" against the by-hand path of the same family)');
  out.push('');
  for (const m of r.mtu.checks) {
    const fits = m.podMtu - ECHO_HEADERS[m.family];
    out.push(
      `${m.label}: ping -M do -s ${fits} ${m.dfFits ? 'crosses' : 'FAILS'}; -s ${fits + 1} ${m.dfTooBig ? `refused (${m.tooBigMessage})` : 'NOT refused'}; fragments/reassemblies on the nodes meanwhile: ${m.fragmentsDuringPing}`,
    );
  }
  out.push(`fragments/reassemblies on weft's nodes during all iperf runs: ${r.mtu.fragmentsDuringIperf}`);
  for (const t of r.targets) {
    out.push('');
    const closeCall = Math.abs(1 - t.ratio) < t.byHandSpread ? " (by less than the reference's own run-to-run spread)" : '';
    out.push(`the by-hand IPv${t.family} runs alone spread over ${(t.byHandSpread * 100).toFixed(1)}% of their median`);
    out.push(
      `target weft IPv${t.family} pod→pod >= 100% of by hand: ${t.weftGbps.toFixed(2)} vs ${t.byHandGbps.toFixed(2)} Gbit/s = ${(t.ratio * 100).toFixed(1)}% -> ${t.met ? 'met' : `MISSED${closeCall}`}`,
    );
  }
  return out.join('\n');
}
