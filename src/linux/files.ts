// The plugin's file calls: one small set, on either runtime. On Bun they are
// libc calls through bun:ffi, which the plugin loads for netlink anyway:
// loading Bun's node:fs cost 1.3 ms of CPU and of wall time per process in a
// compiled executable that had loaded bun:ffi already (300 interleaved runs;
// a whole ADD on Bun is about 20 ms), where one more file call through FFI
// cost 0.04 ms. On Node (weftd, the tests) they are node:fs's. A failure is
// an Error with Node's `code`, `errno`, `syscall` and `path`, so callers test
// `code` alike on both.
import { errnoText, libc } from './libc.ts';

// Linux's values, which are also what Node's fs.constants hold on Linux.
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const O_CLOEXEC = 0o2000000;
const F_OK = 0;
const EINTR = 4;
const ENOENT = 2;
const EEXIST = 17;

type Files = {
  exists(path: string): boolean;
  readText(path: string): string;
  /** Creates or truncates, then writes all of it. */
  writeText(path: string, text: string): void;
  /** The names in a directory, without . and .., in the directory's order. */
  list(dir: string): string[];
  /** mkdir -p: the topmost directory it made, or undefined when `dir` was there. */
  makeDirs(dir: string): string | undefined;
  removeDir(dir: string): void;
  remove(path: string): void;
  open(path: string, flags: number, mode?: number): number;
  read(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  /** At `position` when given (pwrite), else at the file offset. */
  write(fd: number, data: Uint8Array, offset: number, length: number, position?: number): number;
  truncate(fd: number, length: number): void;
  close(fd: number): void;
};

function nodeFiles(): Files {
  const fs = process.getBuiltinModule('node:fs');
  return {
    exists: (path) => fs.existsSync(path),
    readText: (path) => fs.readFileSync(path, 'utf8'),
    writeText: (path, text) => fs.writeFileSync(path, text),
    list: (dir) => fs.readdirSync(dir),
    makeDirs: (dir) => fs.mkdirSync(dir, { recursive: true }),
    removeDir: (dir) => fs.rmdirSync(dir),
    remove: (path) => fs.unlinkSync(path),
    open: (path, flags, mode = 0o666) => fs.openSync(path, flags, mode),
    read: (fd, buffer, offset, length) => fs.readSync(fd, buffer, offset, length, null),
    write: (fd, data, offset, length, position) => fs.writeSync(fd, data, offset, length, position ?? null),
    truncate: (fd, length) => fs.ftruncateSync(fd, length),
    close: (fd) => fs.closeSync(fd),
  };
}

// errno → Node's code, for the failures a file call can meet.
const CODES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  5: 'EIO',
  9: 'EBADF',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  23: 'ENFILE',
  24: 'EMFILE',
  27: 'EFBIG',
  28: 'ENOSPC',
  30: 'EROFS',
  36: 'ENAMETOOLONG',
  39: 'ENOTEMPTY',
  40: 'ELOOP',
  122: 'EDQUOT',
};

function libcFiles(): Files {
  // `n`: errno when it was read before another call could change it.
  const fail = (syscall: string, path?: string, n = libc().errno()): never => {
    const code = CODES[n] ?? `errno ${n}`;
    const where = path === undefined ? '' : ` '${path}'`;
    throw Object.assign(new Error(`${code}: ${errnoText(n)}, ${syscall}${where}`), { code, errno: -n, syscall, ...(path === undefined ? {} : { path }) });
  };
  // A NUL would end the C string early and name another file.
  const cPath = (path: string, syscall: string): Uint8Array => {
    if (path.includes('\0')) {
      throw Object.assign(new TypeError(`${syscall}: the path ${JSON.stringify(path)} holds a NUL byte`), {
        code: 'ERR_INVALID_ARG_VALUE',
        errno: 0,
        syscall,
        path,
      });
    }
    return Buffer.from(`${path}\0`);
  };
  // Retried on EINTR, as node:fs does: a signal is no failure of the call.
  const retrying = (call: () => number | bigint): number => {
    for (;;) {
      const n = Number(call());
      if (n >= 0 || libc().errno() !== EINTR) return n;
    }
  };
  const isDir = (path: string): boolean => libc().libc.access(cPath(`${path}/.`, 'access'), F_OK) === 0;

  // As node:fs does it: each missing parent first, then the directory, so a
  // failure names the call and the path the kernel refused.
  const makeDirs = (dir: string): string | undefined => {
    const mkdir = () => (libc().libc.mkdir(cPath(dir, 'mkdir'), 0o777) === 0 ? 0 : libc().errno());
    let errno = mkdir();
    if (errno === 0) return dir;
    let first: string | undefined;
    if (errno === ENOENT && parentDir(dir) !== dir) {
      first = makeDirs(parentDir(dir));
      errno = mkdir();
      if (errno === 0) return first ?? dir;
    }
    // There already, or made meanwhile by a concurrent ADD: as good, if a directory.
    if (errno === EEXIST && isDir(dir)) return first;
    return fail('mkdir', dir, errno);
  };

  const files: Files = {
    exists: (path) => !path.includes('\0') && libc().libc.access(cPath(path, 'access'), F_OK) === 0,
    readText(path) {
      const fd = files.open(path, O_RDONLY);
      try {
        let buffer = Buffer.allocUnsafe(4096);
        let length = 0;
        for (;;) {
          if (length === buffer.length) {
            const bigger = Buffer.allocUnsafe(buffer.length * 2);
            buffer.copy(bigger, 0, 0, length);
            buffer = bigger;
          }
          const n = files.read(fd, buffer, length, buffer.length - length);
          if (n === 0) return buffer.toString('utf8', 0, length);
          length += n;
        }
      } finally {
        files.close(fd);
      }
    },
    writeText(path, text) {
      const fd = files.open(path, O_WRONLY | O_CREAT | O_TRUNC);
      try {
        const data = Buffer.from(text);
        for (let off = 0; off < data.length; ) off += files.write(fd, data, off, data.length - off);
      } finally {
        files.close(fd);
      }
    },
    list(dir) {
      const { libc: c, cString } = libc();
      // 'scandir': the call node:fs names in its errors.
      const handle = c.opendir(cPath(dir, 'scandir'));
      if (!handle) return fail('scandir', dir);
      const names: string[] = [];
      try {
        for (let entry = c.readdir(handle); entry; entry = c.readdir(handle)) {
          // struct dirent on x86-64 glibc: d_ino (8), d_off (8), d_reclen (2), d_type (1), then d_name.
          const name = cString(entry, 19);
          if (name !== '.' && name !== '..') names.push(name);
        }
      } finally {
        c.closedir(handle);
      }
      return names;
    },
    makeDirs(dir) {
      return makeDirs(dir.replace(/(.)\/+$/, '$1'));
    },
    removeDir(dir) {
      if (libc().libc.rmdir(cPath(dir, 'rmdir')) !== 0) fail('rmdir', dir);
    },
    remove(path) {
      if (libc().libc.unlink(cPath(path, 'unlink')) !== 0) fail('unlink', path);
    },
    open(path, flags, mode = 0o666) {
      const p = cPath(path, 'open');
      const fd = retrying(() => libc().libc.open(p, flags | O_CLOEXEC, mode));
      return fd < 0 ? fail('open', path) : fd;
    },
    read(fd, buffer, offset, length) {
      const n = retrying(() => libc().libc.read(fd, buffer.subarray(offset, offset + length), length));
      return n < 0 ? fail('read') : n;
    },
    write(fd, data, offset, length, position) {
      const part = data.subarray(offset, offset + length);
      const { libc: c } = libc();
      const n = retrying(() => (position === undefined ? c.write(fd, part, length) : c.pwrite(fd, part, length, position)));
      return n < 0 ? fail('write') : n;
    },
    truncate(fd, length) {
      if (libc().libc.ftruncate(fd, length) !== 0) fail('ftruncate');
    },
    close(fd) {
      if (libc().libc.close(fd) !== 0) fail('close');
    },
  };
  return files;
}

/** The directory `path` is in, as dirname(1) says it. */
export function parentDir(path: string): string {
  const i = path.lastIndexOf('/');
  return i > 0 ? path.slice(0, i) : i === 0 ? '/' : '.';
}

let chosen: Files | undefined;
/** Bun's or Node's, picked at the first call (so a plugin that touches no file loads neither). */
export function files(): Files {
  chosen ??= process.versions.bun !== undefined ? libcFiles() : nodeFiles();
  return chosen;
}
