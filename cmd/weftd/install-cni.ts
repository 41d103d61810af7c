// weftd install-cni: puts the weft plugin into the node's CNI bin dir and the
// network config into its conf dir. The container runtime watches the conf
// dir and may exec the plugin at any moment, so both files appear atomically
// (temp file in the same directory, fsync, rename): a reader sees the old file
// or the new one, never half of one. Renaming also replaces a plugin binary
// that is running, where writing into it would fail with ETXTBSY.
//
// Every existing file at a target name is looked at with lstat and opened
// with O_NOFOLLOW: a symlink, FIFO, socket or device there is never read
// through or written through, only replaced by the rename (which replaces the
// link itself, so nothing lands outside the directory). A directory there is
// an error. Temp files that an interrupted run left behind are removed.
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfName, DEFAULT_CONF_NAME } from '../../src/daemon/cni-conf-order.ts';
import { writeAll, writeFileAtomically } from '../../src/linux/atomic-file.ts';
import { messageOf } from '../../src/text/error-message.ts';

const PLUGIN_NAME = 'weft';
const CHUNK = 1 << 20;

export type InstallCniOptions = {
  /** Path of the weft plugin executable to copy. */
  binary: string;
  binDir: string;
  confDir: string;
  /** File name in confDir; default 10-weft.conflist. */
  confName?: string;
  /** The network configuration list, as JSON text. */
  conflist: string;
};

/** Installs plugin and conflist; returns where they now are. Safe to re-run. */
export function installCni(opts: InstallCniOptions): { binary: string; conflist: string } {
  const confName = opts.confName ?? DEFAULT_CONF_NAME;
  checkConfName(confName);
  checkConflist(opts.conflist);
  checkBinary(opts.binary);
  const binary = join(opts.binDir, PLUGIN_NAME);
  const conflist = join(opts.confDir, confName);
  // Both targets before writing either, so a bad conf dir leaves no new plugin behind.
  checkTarget(binary, 'plugin');
  checkTarget(conflist, 'conflist');
  // The binary first: a runtime that sees the conflist must find the plugin.
  installFile(
    opts.binDir,
    PLUGIN_NAME,
    0o755,
    (fd) => copyInto(opts.binary, fd),
    (fd) => sameContent(opts.binary, fd),
  );
  const text = Buffer.from(opts.conflist);
  installFile(
    opts.confDir,
    confName,
    0o644,
    (fd) => writeAll(fd, text),
    (fd) => sameBytes(fd, text),
  );
  return { binary, conflist };
}

function checkConflist(text: string): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`CNI conflist is not valid JSON (${messageOf(err)}): pass the network configuration list as JSON text`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('CNI conflist is not a JSON object: pass {"cniVersion", "name", "plugins": [...]}');
  }
  const { name, plugins } = value as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') {
    throw new Error('CNI conflist has no "name": add the network\'s name, e.g. "name": "weft"');
  }
  if (!Array.isArray(plugins) || plugins.length === 0) {
    throw new Error(`CNI conflist ${JSON.stringify(name)} has no "plugins" list: add one with the weft plugin, e.g. "plugins": [{"type": "weft"}]`);
  }
  const first: unknown = plugins[0];
  const type = typeof first === 'object' && first !== null ? (first as Record<string, unknown>).type : undefined;
  if (type !== PLUGIN_NAME) {
    throw new Error(
      `CNI conflist ${JSON.stringify(name)} runs ${typeof type === 'string' ? `plugin type ${JSON.stringify(type)}` : 'a plugin without a "type"'} first, not weft: the first plugin gives the pod its interface and address, so put {"type": "weft"} first in "plugins" (chained plugins such as portmap go after it)`,
    );
  }
}

function checkBinary(path: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    throw new Error(`weft plugin binary ${path} cannot be read (${(err as NodeJS.ErrnoException).code}): pass the path of the weft executable`, { cause: err });
  }
  if (!isFile) throw new Error(`weft plugin binary ${path} is not a regular file: pass the path of the weft executable`);
}

/** A directory at a target name cannot be renamed over: say so before anything is written. */
function checkTarget(path: string, what: string): void {
  if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`${path} is a directory, where weft installs its ${what}: remove it (weft never makes one there) and re-run install-cni`);
  }
}

/**
 * Replaces `dir/name` with what `fill` writes, unless it is a regular file
 * for which `unchanged(fd)` says it already holds that: a re-run then leaves
 * the file (and the runtime's view of the conf dir) untouched.
 */
function installFile(dir: string, name: string, mode: number, fill: (fd: number) => void, unchanged: (fd: number) => boolean): void {
  mkdirSync(dir, { recursive: true });
  removeStaleTemps(dir, name);
  const path = join(dir, name);
  const fd = openExisting(path);
  if (fd !== undefined) {
    try {
      if (unchanged(fd)) {
        // Same bytes but, say, no longer executable: only the mode needs fixing.
        if ((fstatSync(fd).mode & 0o777) !== mode) fchmodSync(fd, mode);
        return;
      }
    } finally {
      closeSync(fd);
    }
  }
  writeFileAtomically(path, mode, fill);
}

/**
 * A descriptor for `path` if it is a regular file, else undefined (missing,
 * a symlink, a FIFO...: "different", to be replaced). O_NOFOLLOW and the
 * fstat close the gap between a look and the open; O_NONBLOCK keeps a FIFO
 * swapped in meanwhile from blocking the open.
 */
function openExisting(path: string): number | undefined {
  if (!lstatSync(path, { throwIfNoEntry: false })?.isFile()) return undefined;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENXIO') return undefined;
    throw err;
  }
  if (fstatSync(fd).isFile()) return fd;
  closeSync(fd);
  return undefined;
}

/**
 * Removes `.<name>.<8 hex>.tmp` regular files in `dir`: writeFileAtomically's
 * temp files for `name`, left by a run that was killed before its rename.
 */
function removeStaleTemps(dir: string, name: string): void {
  const pattern = new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[0-9a-f]{8}\\.tmp$`);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || !pattern.test(entry.name)) continue;
    try {
      unlinkSync(join(dir, entry.name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

function copyInto(source: string, fd: number): void {
  const src = openSync(source, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(src, buf, 0, CHUNK, null);
      if (n === 0) break;
      writeAll(fd, buf.subarray(0, n));
    }
  } finally {
    closeSync(src);
  }
}

/** Whether the open `installed` file holds the bytes of `source`, compared in chunks (the plugin is ~100 MB). */
function sameContent(source: string, installed: number): boolean {
  const a = openSync(source, 'r');
  try {
    if (fstatSync(a).size !== fstatSync(installed).size) return false;
    const bufA = Buffer.allocUnsafe(CHUNK);
    const bufB = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(a, bufA, 0, CHUNK, null);
      if (n === 0) return true;
      if (readFull(installed, bufB, n) !== n || !bufA.subarray(0, n).equals(bufB.subarray(0, n))) return false;
    }
  } finally {
    closeSync(a);
  }
}

function sameBytes(fd: number, data: Buffer): boolean {
  if (fstatSync(fd).size !== data.length) return false;
  const buf = Buffer.allocUnsafe(data.length);
  return readFull(fd, buf, data.length) === data.length && buf.equals(data);
}

/** Reads up to `n` bytes into `buf`, fewer only at end of file. */
function readFull(fd: number, buf: Buffer, n: number): number {
  let off = 0;
  while (off < n) {
    const got = readSync(fd, buf, off, n - off, null);
    if (got === 0) break;
    off += got;
  }
  return off;
}
