// What the log says about skipped nodes: a line when a node is first skipped
// or its problem changes, and one when it is no longer skipped; nothing on
// the passes in between, which would repeat every line twice a minute for as
// long as the node stays as it is.
import type { Skipped, SkipReason } from '../overlay/types.ts';

// A node still waiting for its pod CIDR or VTEP is normal while it joins;
// the metric counts those.
const LOGGED: ReadonlySet<SkipReason> = new Set(['malformed', 'conflict', 'kernel-refused']);

/** node → the line last logged for it. */
export type SkipLog = ReadonlyMap<string, string>;

export function skipLine(s: Skipped): string {
  return `skipping node ${s.node}: it ${s.problem} [${s.reason}]`;
}

export function skipLogLines(before: SkipLog, skipped: Skipped[]): { lines: string[]; after: SkipLog } {
  const after = new Map<string, string>();
  const lines: string[] = [];
  for (const s of skipped) {
    if (!LOGGED.has(s.reason)) continue;
    const line = skipLine(s);
    after.set(s.node, line);
    if (before.get(s.node) !== line) lines.push(line);
  }
  for (const node of before.keys()) {
    if (!after.has(node)) lines.push(`node ${node} is no longer skipped`);
  }
  return { lines, after };
}
