// The CNI benchmark's result: the JSON document (bench/results/cni.json), the
// targets judged on it (on unrounded times) and the human table printed from it.
import type { PluginName } from './cni-plugins.ts';
import type { MachineInfo } from './lib/machine.ts';
import type { Summary } from './lib/stats.ts';

export type OpSummaries = { add: Summary; del: Summary };

export type ConcurrentResult = { n: number; addWallMs: number; delWallMs: number; distinctAddresses: number };

// A target compares weft with the reference; null when either was skipped.
export type Target = { weftMs: number; referenceMs: number; met: boolean } | null;

export type CniBenchResult = {
  machine: MachineInfo;
  config: { iterations: number; warmup: number; measured: number; concurrency: number; skipped: PluginName[] };
  sequential: Partial<Record<PluginName, OpSummaries>>;
  derived: {
    // weft ADD p50 less the floor's (the Node single-executable start-up
    // weft cannot avoid) against the reference ADD p50.
    addP50OverFloor: Target;
    delP50: Target;
    // Not a target: the DEL gap with the start-up floor taken out, because the
    // floor alone costs about what the reference's whole DEL does.
    delP50OverFloor: Target;
  };
  concurrent: Partial<Record<PluginName, ConcurrentResult>>;
};

function target(weftMs: number | undefined, referenceMs: number | undefined): Target {
  if (weftMs === undefined || referenceMs === undefined) return null;
  return { weftMs, referenceMs, met: weftMs <= referenceMs };
}

export function deriveTargets(sequential: CniBenchResult['sequential']): CniBenchResult['derived'] {
  const { weft, reference, floor } = sequential;
  const overFloor = (op: 'add' | 'del') => (weft && floor ? weft[op].p50 - floor[op].p50 : undefined);
  return {
    addP50OverFloor: target(overFloor('add'), reference?.add.p50),
    delP50: target(weft?.del.p50, reference?.del.p50),
    delP50OverFloor: target(overFloor('del'), reference?.del.p50),
  };
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  ');
}

function ms(n: number): string {
  return n.toFixed(1);
}

function verdict(t: Target, what: string, [met, missed] = ['target met', 'TARGET MISSED']): string {
  if (!t) return `${what}: not measured (a plugin was skipped)`;
  return `${what}: ${ms(t.weftMs)} ms vs reference ${ms(t.referenceMs)} ms -> ${t.met ? met : missed}`;
}

export function table(result: CniBenchResult): string {
  const { machine, config } = result;
  const lines = [
    `CNI plugin benchmark via cnitool: ${config.measured} iterations measured (+${config.warmup} warm-up), interleaved`,
    `node ${machine.node}, kernel ${machine.kernel}, ${machine.nproc} CPUs (${machine.cpu}), ${machine.date}`,
    '',
  ];
  const seqWidths = [10, 9, 9, 9, 9];
  lines.push(`${row(['plugin', 'ADD p50', 'ADD p95', 'DEL p50', 'DEL p95'], seqWidths)}   (ms)`);
  for (const [name, s] of Object.entries(result.sequential) as [PluginName, OpSummaries][]) {
    lines.push(row([name, ms(s.add.p50), ms(s.add.p95), ms(s.del.p50), ms(s.del.p95)], seqWidths));
  }
  lines.push('');
  lines.push(verdict(result.derived.addP50OverFloor, 'weft ADD p50 - floor ADD p50'));
  lines.push(verdict(result.derived.delP50, 'weft DEL p50'));
  lines.push(verdict(result.derived.delP50OverFloor, '  not a target: weft DEL p50 - floor DEL p50', ['within', 'over']));
  lines.push('');
  const conWidths = [10, 9, 9, 10];
  lines.push(`${row([`${config.concurrency} at once`, 'ADD wall', 'DEL wall', 'distinct'], conWidths)}   (ms; distinct addresses)`);
  for (const [name, c] of Object.entries(result.concurrent) as [PluginName, ConcurrentResult][]) {
    lines.push(row([name, ms(c.addWallMs), ms(c.delWallMs), `${c.distinctAddresses}/${c.n}`], conWidths));
  }
  return lines.join('\n');
}
