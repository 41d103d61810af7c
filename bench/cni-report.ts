// The CNI benchmark's result: the JSON document (bench/results/cni.json), the
// targets judged on it (on unrounded numbers) and the one table printed from it.
import type { Held } from './cni-held.ts';
import type { PluginName } from './cni-plugins.ts';
import type { MachineInfo } from './lib/machine.ts';
import type { PssPeak, PssSample } from './lib/pss.ts';
import type { Summary } from './lib/stats.ts';

/** Latency percentiles, and the mean CPU time of cnitool and the plugin together. */
export type OpStats = Summary & { cpuMs: number };
export type OpSummaries = { add: OpStats; del: OpStats };

export type BurstResult = {
  n: number;
  rounds: number;
  /** Medians over the timed rounds, and each round's. */
  addWallMs: number;
  delWallMs: number;
  addWallMsEach: number[];
  delWallMsEach: number[];
  /** CPU time of the whole burst (cnitool's included) over its operations. */
  addCpuMsPerOp: number;
  delCpuMsPerOp: number;
  /** From one more burst, sampled: the plugins' summed PSS at its highest. */
  peakPss: { add: PssPeak; del: PssPeak };
  distinctAddresses: number | null;
};

/** The programs cnitool's plugin ran (the plugin itself first), from strace. */
export type Processes = { add: string[]; del: string[] };

export type PluginInfo = { runtime: string; executableBytes: number };

export const WEFTS = ['weft-bun', 'weft-bun-ip', 'weft-node'] as const;
export type WeftName = (typeof WEFTS)[number];

/** weft's number against the reference's, and whether it is within `limit` times it. */
export type Ratio = { weft: number; reference: number; ratio: number; limit: number; met: boolean } | null;
export type Targets = { addP50: Ratio; delP50: Ratio; burstAddWall: Ratio; peakPss: Ratio };

export type CniBenchResult = {
  machine: MachineInfo;
  runtimes: { node: string; bun: string; deno?: string };
  config: {
    iterations: number;
    warmup: number;
    measured: number;
    concurrency: number;
    rounds: number;
    skipped: PluginName[];
    /** What --weft-set added to every weft's network config. */
    weftSettings: Record<string, unknown>;
  };
  plugins: Partial<Record<PluginName, PluginInfo>>;
  sequential: Partial<Record<PluginName, OpSummaries>>;
  concurrent: Partial<Record<PluginName, BurstResult>>;
  processes: Partial<Record<PluginName, Processes>> | null;
  /** The same number of copies of each plugin that reads stdin first, held at that read (bench/cni-held.ts). */
  held: { processes: number; plugins: Partial<Record<PluginName, Held>> };
  targets: Partial<Record<WeftName, Targets>>;
};

// The goals of docs/benchmarks.md, as multiples of the reference.
export const LIMITS = { addP50: 1.3, delP50: 1.3, burstAddWall: 1.3, peakPss: 3 };

/** The higher of the ADD and the DEL burst's peaks. */
export function peakOf(b: BurstResult): PssSample {
  return b.peakPss.add.peak.mib >= b.peakPss.del.peak.mib ? b.peakPss.add.peak : b.peakPss.del.peak;
}

export function peakMib(b: BurstResult): number {
  return peakOf(b).mib;
}

function ratio(weft: number | undefined, reference: number | undefined, limit: number): Ratio {
  if (weft === undefined || reference === undefined) return null;
  return { weft, reference, ratio: weft / reference, limit, met: weft <= limit * reference };
}

export function deriveTargets(result: Pick<CniBenchResult, 'sequential' | 'concurrent'>): CniBenchResult['targets'] {
  const { sequential: seq, concurrent: con } = result;
  const targets: CniBenchResult['targets'] = {};
  for (const weft of WEFTS) {
    if (!seq[weft] && !con[weft]) continue;
    const pss = (name: PluginName) => (con[name] ? peakMib(con[name]) : undefined);
    targets[weft] = {
      addP50: ratio(seq[weft]?.add.p50, seq.reference?.add.p50, LIMITS.addP50),
      delP50: ratio(seq[weft]?.del.p50, seq.reference?.del.p50, LIMITS.delP50),
      burstAddWall: ratio(con[weft]?.addWallMs, con.reference?.addWallMs, LIMITS.burstAddWall),
      peakPss: ratio(pss(weft), pss('reference'), LIMITS.peakPss),
    };
  }
  return targets;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  ');
}

const ms = (n: number): string => n.toFixed(1);
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);

function verdict(t: Ratio): string {
  if (!t) return 'not measured';
  return `${t.ratio.toFixed(2)}x ${t.met ? 'met' : 'MISSED'}`;
}

/** How many programs, and their file names. */
function programs(list: string[]): string {
  return list.length === 0 ? '-' : `${list.length}: ${list.map((p) => p.slice(p.lastIndexOf('/') + 1)).join(', ')}`;
}

// x the reference: against its held copies, the same number at the same
// point; and against its burst peak, what the PSS target is judged on.
function heldTable(result: CniBenchResult): string[] {
  const { held, concurrent } = result;
  const ref = held.plugins.reference;
  const refPeak = concurrent.reference ? peakMib(concurrent.reference) : undefined;
  const times = (mib: number, of: number | undefined): string => (of === undefined ? '-' : `${(mib / of).toFixed(2)}x`);
  const widths = [16, 8, 9, 9, 11, 13];
  const lines = [
    `${row([`${held.processes} held`, 'PSS MiB', 'file MiB', 'own MiB', 'x ref held', 'x ref peak'], widths)}` +
      `   (${held.processes} copies at once, each blocked in its read of stdin; file: executables' pages, counted once; own: anonymous)`,
  ];
  for (const [name, h] of Object.entries(held.plugins) as [PluginName, Held][]) {
    lines.push(row([name, ms(h.mib), ms(h.fileMib), ms(h.ownMib), times(h.mib, ref?.mib), times(h.mib, refPeak)], widths));
  }
  return lines;
}

export function table(result: CniBenchResult): string {
  const { machine, config, runtimes } = result;
  const lines = [
    `CNI plugin benchmark via cnitool: ${config.measured} iterations measured (+${config.warmup} warm-up), interleaved; ` +
      `${config.concurrency} at once, ${config.rounds} rounds (median)` +
      (Object.keys(config.weftSettings).length > 0 ? `; weft's config plus ${JSON.stringify(config.weftSettings)}` : ''),
    `node ${runtimes.node}, bun ${runtimes.bun}${runtimes.deno ? `, deno ${runtimes.deno}` : ''}, kernel ${machine.kernel}, ${machine.nproc} CPUs (${machine.cpu}), ${machine.date}`,
    '',
  ];
  const seqWidths = [11, 8, 8, 8, 8, 8, 8];
  lines.push(`${row(['plugin', 'ADD p50', 'ADD p95', 'DEL p50', 'DEL p95', 'ADD CPU', 'DEL CPU'], seqWidths)}   (ms; CPU: cnitool's and the plugin's)`);
  for (const [name, s] of Object.entries(result.sequential) as [PluginName, OpSummaries][]) {
    lines.push(row([name, ms(s.add.p50), ms(s.add.p95), ms(s.del.p50), ms(s.del.p95), ms(s.add.cpuMs), ms(s.del.cpuMs)], seqWidths));
  }
  lines.push('');
  const conWidths = [11, 8, 8, 8, 8, 9, 9, 9];
  lines.push(
    `${row([`${config.concurrency} at once`, 'ADD wall', 'DEL wall', 'ADD CPU', 'DEL CPU', 'PSS MiB', 'processes', 'size MB'], conWidths)}` +
      '   (ms; CPU per operation; summed PSS of the plugin processes at the peak; executables on disk)',
  );
  for (const name of Object.keys(result.plugins) as PluginName[]) {
    const c = result.concurrent[name];
    const size = mb(result.plugins[name]!.executableBytes);
    if (!c) continue;
    const peak = peakOf(c);
    lines.push(row([name, ms(c.addWallMs), ms(c.delWallMs), ms(c.addCpuMsPerOp), ms(c.delCpuMsPerOp), ms(peak.mib), peak.processes, size], conWidths));
  }
  lines.push('');
  const targetWidths = [24, 16, 16];
  const wefts = Object.keys(result.targets) as WeftName[];
  lines.push(row(['target (weft / reference)', ...wefts], targetWidths));
  const names: [keyof Targets, string][] = [
    ['addP50', `ADD p50 <= ${LIMITS.addP50}x`],
    ['delP50', `DEL p50 <= ${LIMITS.delP50}x`],
    ['burstAddWall', `${config.concurrency} ADDs wall <= ${LIMITS.burstAddWall}x`],
    ['peakPss', `peak PSS <= ${LIMITS.peakPss}x`],
  ];
  for (const [key, label] of names) lines.push(row([label, ...wefts.map((w) => verdict(result.targets[w]![key]))], targetWidths));
  lines.push('');
  lines.push(...heldTable(result));
  lines.push('');
  if (!result.processes) {
    lines.push('processes per operation: not counted (install strace)');
  } else {
    lines.push('programs each operation ran below cnitool (strace -f):');
    for (const [name, p] of Object.entries(result.processes) as [PluginName, Processes][]) {
      lines.push(`  ${name.padEnd(11)}  ADD ${programs(p.add)}; DEL ${programs(p.del)}`);
    }
  }
  return lines.join('\n');
}
