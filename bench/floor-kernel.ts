// The floor of a Bun plugin that reaches the kernel itself, as weft does:
// bun:ffi loaded and libc bound (weft's netlink sockets, setns and file
// calls go through it, src/linux/libc.ts), stdin read to its end through
// libc's read, then `{}` written. bench/floor.ts is the floor of starting a
// runtime at all; this one is what any Bun plugin that speaks rtnetlink pays
// before its own work. Bun's types are not installed (type checks run on
// Node), so the part of bun:ffi used is typed here.
type Ffi = {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): {
    symbols: { read(fd: number, buffer: Uint8Array, length: number): number };
  };
};

const ffi = process.getBuiltinModule('bun:ffi') as Ffi;
const { symbols } = ffi.dlopen('libc.so.6', { read: { args: ['i32', 'ptr', 'u64'], returns: 'i64_fast' } });
const buffer = new Uint8Array(64 << 10);
while (symbols.read(0, buffer, buffer.length) > 0);
console.log('{}');
