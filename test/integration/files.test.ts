// src/linux/files.ts has two implementations: node:fs on Node, libc through
// bun:ffi on Bun (what the shipped plugin runs). The same calls, with file
// names fast-check makes up, must answer alike on both: the same values,
// and the same code, call and path for each failure.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { tempDir } from '../../testbed/fixtures.ts';
import { type Outcome, runScenario } from './files-scenario.ts';

const bun = join(dirname(createRequire(import.meta.url).resolve('@oven/bun-linux-x64/package.json')), 'bin', 'bun');

// Any name a directory entry can have: no "/" or NUL, not "." or "..", at most 255 bytes.
const entryName = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 60 })
  .filter((s) => !s.includes('/') && !s.includes('\0') && s !== '.' && s !== '..' && Buffer.byteLength(s) <= 255 && !/[\uD800-\uDFFF]/.test(s));

test('file calls answer alike on Node (node:fs) and on Bun (libc through bun:ffi)', (t) => {
  const names = [...new Set(fc.sample(entryName, { numRuns: 40, seed: 20261128 }).concat(['10.0.0.1', 'last_reserved_ip.0', 'with space', 'ünïcødé']))];
  const tmp = tempDir(t);
  const namesFile = join(tmp, 'names.json');
  writeFileSync(namesFile, JSON.stringify(names));
  const [onNode, onBun] = ['node', 'bun'].map((runtime) => {
    const root = join(tmp, runtime);
    mkdirSync(root);
    // Through JSON both ways, as Bun's answers come.
    const out =
      runtime === 'node'
        ? JSON.stringify(runScenario(root, names))
        : execFileSync(bun, [join(import.meta.dirname, 'files-scenario.ts'), root, namesFile], { encoding: 'utf8' });
    return JSON.parse(out) as Outcome[];
  }) as [Outcome[], Outcome[]];
  t.true(onNode.length > 40);
  t.deepEqual(onBun, onNode);
  // What the plugin relies on, said outright.
  const by = (op: string) => onBun.find((o) => o.op === op);
  t.deepEqual(by('makeDirs new'), { op: 'makeDirs new', value: '<root>/a' });
  t.deepEqual(by('makeDirs again'), { op: 'makeDirs again' });
  t.like(by('create 0 again'), { code: 'EEXIST', syscall: 'open' });
  t.like(by('list missing'), { code: 'ENOENT' });
  t.deepEqual(by('list names')?.value, [...names].sort());
});
