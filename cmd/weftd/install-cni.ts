// weftd install-cni: puts the weft plugin into the node's CNI bin dir and the
// network config into its conf dir. The container runtime watches the conf
// dir and may exec the plugin at any moment, so both files appear atomically
// (temp file in the same directory, fsync, rename): a reader sees the old file
// or the new one, never half of one. Renaming also replaces a plugin binary
// that is running, where writing into it would fail with ETXTBSY.
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeAll, writeFileAtomically } from '../../src/linux/atomic-file.ts';
import { messageOf } from '../../src/text/error-message.ts';

export const DEFAULT_CONF_NAME = '10-weft.conflist';
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
  // The binary first: a runtime that sees the conflist must find the plugin.
  installFile(
    binary,
    0o755,
    (fd) => copyInto(opts.binary, fd),
    () => sameContent(opts.binary, binary),
  );
  const text = Buffer.from(opts.conflist);
  installFile(
    conflist,
    0o644,
    (fd) => writeAll(fd, text),
    () => sameBytes(conflist, text),
  );
  return { binary, conflist };
}

function checkConfName(confName: string): void {
  if (confName.includes('/') || !confName.endsWith('.conflist') || confName === '.conflist') {
    throw new Error(
      `CNI config name ${JSON.stringify(confName)} is not a file name ending in .conflist: runtimes read other extensions as a single plugin config, not a list; use e.g. ${DEFAULT_CONF_NAME}`,
    );
  }
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

/**
 * Replaces `path` with what `fill` writes, unless `unchanged()` says it
 * already holds that: a re-run then leaves the file (and the runtime's view
 * of the conf dir) untouched.
 */
function installFile(path: string, mode: number, fill: (fd: number) => void, unchanged: () => boolean): void {
  mkdirSync(dirname(path), { recursive: true });
  if (unchanged()) {
    // Same bytes but, say, no longer executable: only the mode needs fixing.
    if ((statSync(path).mode & 0o777) !== mode) chmodSync(path, mode);
    return;
  }
  writeFileAtomically(path, mode, fill);
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

/** Whether `installed` exists and holds the bytes of `source`, compared in chunks (the plugin is ~100 MB). */
function sameContent(source: string, installed: string): boolean {
  if (!existsSync(installed)) return false;
  const a = openSync(source, 'r');
  try {
    const b = openSync(installed, 'r');
    try {
      if (fstatSync(a).size !== fstatSync(b).size) return false;
      const bufA = Buffer.allocUnsafe(CHUNK);
      const bufB = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const n = readSync(a, bufA, 0, CHUNK, null);
        if (n === 0) return true;
        if (readSync(b, bufB, 0, n, null) !== n || !bufA.subarray(0, n).equals(bufB.subarray(0, n))) return false;
      }
    } finally {
      closeSync(b);
    }
  } finally {
    closeSync(a);
  }
}

function sameBytes(path: string, data: Buffer): boolean {
  return existsSync(path) && readFileSync(path).equals(data);
}
