// Replacing a file so that a reader (the plugin reading the subnet file, a
// container runtime scanning its CNI conf dir) sees the old file or the new
// one, never half of one: write a temp file in the same directory, fsync,
// rename over the target, fsync the directory so the rename survives a crash.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { messageOf } from '../text/error-message.ts';

export function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
}

/** `fill` writes the new content into the temp file's descriptor. */
export function writeFileAtomically(path: string, mode: number, fill: (fd: number) => void): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  // A dot name with a .tmp ending: no CNI runtime's directory scan (.conf,
  // .conflist, .json) picks the file up while it is being written.
  const temp = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      fill(fd);
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw new Error(`cannot write ${path}: ${messageOf(err)}; check that ${dir} is writable and has space`, { cause: err });
  }
  const dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
