// libc through Bun's FFI: the calls the plugin makes itself on Bun instead
// of spawning `ip` and `nft` (netlink sockets, setns) and instead of loading
// Bun's node:fs (src/linux/files.ts). `bun:ffi` is asked for at the first
// call, so Node (weftd, the unit tests) never loads it. Nothing is decided
// here.

/** The part of bun:ffi used here (Bun's own types are not installed: type checks run on Node). */
type BunFfi = {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: unknown };
  read: { i32(pointer: number, offset: number): number };
  CString: new (pointer: number, byteOffset?: number) => { toString(): string };
};

/** A pointer returned by libc (opendir, readdir): a number, 0 for NULL. */
type Pointer = number;

type Libc = {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
  send(fd: number, data: Uint8Array, length: number, flags: number): number | bigint;
  recv(fd: number, buffer: Uint8Array, length: number, flags: number): number | bigint;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  open(path: Uint8Array, flags: number, mode: number): number;
  read(fd: number, buffer: Uint8Array, length: number): number | bigint;
  write(fd: number, data: Uint8Array, length: number): number | bigint;
  pwrite(fd: number, data: Uint8Array, length: number, offset: number): number | bigint;
  ftruncate(fd: number, length: number): number;
  access(path: Uint8Array, mode: number): number;
  mkdir(path: Uint8Array, mode: number): number;
  rmdir(path: Uint8Array): number;
  unlink(path: Uint8Array): number;
  opendir(path: Uint8Array): Pointer | null;
  readdir(dir: Pointer): Pointer | null;
  closedir(dir: Pointer): number;
  strerror(errno: number): { toString(): string };
  __errno_location(): Pointer;
};

type LoadedLibc = {
  libc: Libc;
  /** errno as the last call left it. */
  errno: () => number;
  /** The C string at `pointer` + `offset`. */
  cString: (pointer: Pointer, offset: number) => string;
};

let loaded: LoadedLibc | undefined;

export function libc(): LoadedLibc {
  if (loaded) return loaded;
  const ffi = process.getBuiltinModule('bun:ffi') as BunFfi | undefined;
  if (!ffi) throw new Error('libc calls need Bun (bun:ffi), and this runtime is not Bun: this is a bug in weft, report it');
  const fn = (args: string[], returns: string) => ({ args, returns });
  // One dlopen for all of them: binding a symbol costs little, loading bun:ffi most.
  const { symbols } = ffi.dlopen('libc.so.6', {
    socket: fn(['i32', 'i32', 'i32'], 'i32'),
    setsockopt: fn(['i32', 'i32', 'i32', 'ptr', 'u32'], 'i32'),
    send: fn(['i32', 'ptr', 'u64', 'i32'], 'i64_fast'),
    recv: fn(['i32', 'ptr', 'u64', 'i32'], 'i64_fast'),
    close: fn(['i32'], 'i32'),
    setns: fn(['i32', 'i32'], 'i32'),
    open: fn(['ptr', 'i32', 'u32'], 'i32'),
    read: fn(['i32', 'ptr', 'u64'], 'i64_fast'),
    write: fn(['i32', 'ptr', 'u64'], 'i64_fast'),
    pwrite: fn(['i32', 'ptr', 'u64', 'i64'], 'i64_fast'),
    ftruncate: fn(['i32', 'i64'], 'i32'),
    access: fn(['ptr', 'i32'], 'i32'),
    mkdir: fn(['ptr', 'u32'], 'i32'),
    rmdir: fn(['ptr'], 'i32'),
    unlink: fn(['ptr'], 'i32'),
    opendir: fn(['ptr'], 'ptr'),
    readdir: fn(['ptr'], 'ptr'),
    closedir: fn(['ptr'], 'i32'),
    strerror: fn(['i32'], 'cstring'),
    __errno_location: fn([], 'ptr'),
  });
  const c = symbols as Libc;
  loaded = {
    libc: c,
    errno: () => ffi.read.i32(c.__errno_location(), 0),
    cString: (pointer, offset) => new ffi.CString(pointer, offset).toString(),
  };
  return loaded;
}

/** libc's text for an errno, the words iproute2 prints ("File exists"). */
export function errnoText(errno: number): string {
  return String(libc().libc.strerror(errno));
}

/** An Error for the last failed call, `what` first, with its errno. */
export function lastError(what: string): Error & { errno: number } {
  const errno = libc().errno();
  return Object.assign(new Error(`${what}: ${errnoText(errno)}`), { errno });
}
