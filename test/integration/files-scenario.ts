// The file calls of src/linux/files.ts, each with what it returned or the
// code it failed with: run on Node in the test itself, and on Bun (libc
// through bun:ffi) as `bun files-scenario.ts ROOT NAMES.json`,
// so both runtimes' answers can be compared. Paths in the answers are
// relative to ROOT.
import { files, O_CREAT, O_EXCL, O_RDONLY, O_WRONLY } from '../../src/linux/files.ts';

export type Outcome = { op: string; value?: unknown; code?: string; syscall?: string; path?: string };

export function runScenario(root: string, names: string[]): Outcome[] {
  const fs = files();
  const out: Outcome[] = [];
  const rel = (p: unknown) => (typeof p === 'string' ? p.replace(root, '<root>') : p);
  const step = (op: string, call: () => unknown): void => {
    try {
      const value = call();
      out.push({ op, value: Array.isArray(value) ? [...value].sort() : rel(value) });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      out.push({ op, code: e.code, syscall: e.syscall, path: rel(e.path) as string | undefined });
    }
  };
  const dir = `${root}/a/b/c`;
  step('makeDirs new', () => fs.makeDirs(dir));
  step('makeDirs again', () => fs.makeDirs(dir));
  step('makeDirs trailing slash', () => fs.makeDirs(`${dir}/`));
  step('exists dir', () => fs.exists(dir));
  step('exists missing', () => fs.exists(`${root}/nope`));
  step('exists NUL', () => fs.exists(`${dir}\0/x`));
  step('list empty', () => fs.list(dir));
  step('list missing', () => fs.list(`${root}/nope`));
  for (const [i, name] of names.entries()) {
    step(`create ${i}`, () => {
      const fd = fs.open(`${dir}/${name}`, O_WRONLY | O_CREAT | O_EXCL, 0o644);
      const data = Buffer.from(`content of ${name}\n`);
      fs.write(fd, data, 0, data.length);
      fs.close(fd);
      return 'made';
    });
    step(`create ${i} again`, () => fs.open(`${dir}/${name}`, O_WRONLY | O_CREAT | O_EXCL, 0o644));
    step(`read ${i}`, () => fs.readText(`${dir}/${name}`));
  }
  step('list names', () => fs.list(dir));
  const file = `${root}/file`;
  step('writeText', () => fs.writeText(file, 'x'.repeat(10_000)));
  step('readText long', () => fs.readText(file).length);
  step('overwrite in place', () => {
    const fd = fs.open(file, O_WRONLY | O_CREAT, 0o644);
    const data = Buffer.from('short');
    fs.write(fd, data, 0, data.length, 0);
    fs.truncate(fd, data.length);
    fs.close(fd);
    return fs.readText(file);
  });
  step('read from fd', () => {
    const fd = fs.open(file, O_RDONLY);
    const buf = Buffer.alloc(16);
    const n = fs.read(fd, buf, 3, 10);
    fs.close(fd);
    return buf.toString('utf8', 3, 3 + n);
  });
  step('readText missing', () => fs.readText(`${root}/nope`));
  step('readText a directory', () => fs.readText(dir));
  step('open under a file', () => fs.open(`${file}/x`, O_RDONLY));
  step('makeDirs over a file', () => fs.makeDirs(file));
  step('makeDirs under a file', () => fs.makeDirs(`${file}/x/y`));
  step('removeDir not empty', () => fs.removeDir(`${root}/a`));
  step('remove missing', () => fs.remove(`${root}/nope`));
  step('remove file', () => fs.remove(file));
  step('exists removed', () => fs.exists(file));
  step('close bad fd', () => fs.close(987654));
  return out;
}

// Run as a program (on Bun): ROOT, then a JSON file of the names.
const [, script, root, namesFile] = process.argv;
if (script?.endsWith('files-scenario.ts') && root && namesFile) {
  const names = JSON.parse(files().readText(namesFile)) as string[];
  process.stdout.write(JSON.stringify(runScenario(root, names)));
}
