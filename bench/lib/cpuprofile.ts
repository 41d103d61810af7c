// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went:
// self time and inclusive time per function, heaviest first.
import { readFileSync } from 'node:fs';

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
};
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type FunctionCost = { fn: string; selfMs: number; totalMs: number };
export type ProfileSummary = { file: string; wallMs: number; sampledMs: number; top: FunctionCost[] };

function label(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? `${url.replace(/^.*\/(node_modules\/|work\/main\/)/, '$1')}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

export function summarizeCpuProfile(file: string, topN = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let sampled = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const ms = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    let id: number | undefined = p.samples[i]!;
    const leaf = byId.get(id)!;
    if (leaf.callFrame.functionName === '(idle)') continue;
    sampled += ms;
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + ms);
    const seen = new Set<string>();
    while (id !== undefined) {
      const l = label(byId.get(id)!);
      if (!seen.has(l)) {
        seen.add(l);
        total.set(l, (total.get(l) ?? 0) + ms);
      }
      id = parent.get(id);
    }
  }
  const fns = [...new Set([...self.keys(), ...total.keys()])]
    .filter((fn) => fn !== '(root)')
    .map((fn) => ({ fn, selfMs: self.get(fn) ?? 0, totalMs: total.get(fn) ?? 0 }));
  const bySelf = [...fns].sort((a, b) => b.selfMs - a.selfMs).slice(0, topN);
  const byTotal = [...fns].sort((a, b) => b.totalMs - a.totalMs).slice(0, topN);
  const top = [...new Map([...byTotal, ...bySelf].map((f) => [f.fn, f])).values()];
  return { file, wallMs: (p.endTime - p.startTime) / 1000, sampledMs: sampled, top };
}

export function renderProfile(s: ProfileSummary, rows = 25): string {
  const lines = [`${s.file}: ${Math.round(s.wallMs)} ms wall, ${Math.round(s.sampledMs)} ms on CPU (not idle)`, '  total ms   self ms  function'];
  for (const f of [...s.top].sort((a, b) => b.totalMs - a.totalMs).slice(0, rows)) {
    lines.push(`  ${f.totalMs.toFixed(1).padStart(8)}  ${f.selfMs.toFixed(1).padStart(8)}  ${f.fn}`);
  }
  return lines.join('\n');
}
