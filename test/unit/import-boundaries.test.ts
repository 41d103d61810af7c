// The package graph, guarded: each folder of src/ may import only the folders
// below it, so the plugin never loads the daemon's code (or the daemon's
// dependencies), shared contracts have a neutral home, and no two folders
// import each other. A new import across folders must fit this table.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import test from 'ava';

// Folder → the src/ folders it may import. Lower layers first.
const ALLOWED: Record<string, string[]> = {
  text: [],
  net: ['text'],
  linux: ['net', 'text'],
  subnet: ['net', 'text', 'linux'],
  ipam: ['net', 'text', 'linux'],
  k8s: ['net', 'text'],
  overlay: ['net', 'text', 'linux', 'k8s'],
  cni: ['ipam', 'net', 'text', 'linux', 'subnet'],
  daemon: ['overlay', 'k8s', 'linux', 'net', 'text', 'subnet'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** Every src/ folder a file imports, relative imports only (packages are not ours). */
function importedFolders(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const folders: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const target = relative('src', normalize(join(dirname(file), m[1]!)));
    if (!target.startsWith('..')) folders.push(target.split('/')[0]!);
  }
  return folders;
}

test('every import across src/ folders goes down the layer table', (t) => {
  const wrong: string[] = [];
  for (const file of sources('src')) {
    const from = relative('src', file).split('/')[0]!;
    t.true(from in ALLOWED, `${file}: folder src/${from} is not in the layer table`);
    for (const to of importedFolders(file)) {
      if (to !== from && !ALLOWED[from]?.includes(to)) wrong.push(`${file} imports src/${to}`);
    }
  }
  t.deepEqual(wrong, []);
});

test('the layer table itself has no cycle', (t) => {
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (folder: string, path: string[]): void => {
    if (done.has(folder)) return;
    t.false(visiting.has(folder), `cycle: ${[...path, folder].join(' → ')}`);
    visiting.add(folder);
    for (const next of ALLOWED[folder] ?? []) visit(next, [...path, folder]);
    visiting.delete(folder);
    done.add(folder);
  };
  for (const folder of Object.keys(ALLOWED)) visit(folder, []);
});

test("the plugin's entry point reaches no daemon, overlay or API code", (t) => {
  const seen = new Set<string>();
  const walk = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) walk(normalize(join(dirname(file), m[1]!)));
  };
  walk('cmd/weft.ts');
  const reached = [...seen].filter((f) => /^src\/(daemon|overlay|k8s)\//.test(f));
  t.deepEqual(reached, []);
});
