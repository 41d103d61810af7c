// The IPAM data dirs as lines that compare equal exactly when no file or
// directory was made, removed or rewritten; allocation cursors count by
// name only, since an ADD and its DEL legitimately move them.
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { entriesOf, isAllocationCursor } from './ipam-state.ts';

export function snapshotDirs(dirs: readonly string[]): Set<string> {
  const lines = new Set<string>();
  for (const dir of dirs) walk(dir, lines);
  return lines;
}

function walk(path: string, lines: Set<string>): void {
  const entries = entriesOf(path);
  if (!entries) return;
  lines.add(`directory ${path}`);
  for (const entry of entries) {
    const child = join(path, entry);
    const stat = lstatSync(child, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isDirectory()) walk(child, lines);
    else if (!stat.isFile() || isAllocationCursor(entry)) lines.add(`file ${child}`);
    else lines.add(`file ${child} (sha256 ${createHash('sha256').update(readFileSync(child)).digest('hex').slice(0, 12)})`);
  }
}
