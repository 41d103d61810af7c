// A minimal, reproducible tar (ustar) writer: regular files, directories and
// symbolic links, owned by root, mtime 0, so the same input always gives the
// same bytes (and the same OCI digests). Enough for image layers and OCI
// archives. Names longer than ustar's 100 bytes are split into its 155-byte
// prefix field; longer still, a PAX `path` record carries them.

export type TarEntry =
  | { name: string; data: Buffer; mode: number; type?: 'file' }
  | { name: string; mode: number; type: 'dir' }
  | { name: string; target: string; type: 'symlink' };
/** The pause image's original shape: every entry a regular file. */
export type TarFile = { name: string; data: Buffer; mode: number };

const BLOCK = 512;

export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === 'dir' || e.type === 'symlink' ? Buffer.alloc(0) : e.data;
    const name = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    if (e.type === 'symlink' && Buffer.byteLength(e.target) > 100) throw new Error(`tar: link target ${e.target} of ${name} is longer than 100 bytes`);
    if (!splitName(name)) {
      // A PAX extended header carries the full path; the ustar name is a stub.
      const pax = paxRecord('path', name);
      parts.push(header({ name: 'PaxHeader', size: pax.length, mode: 0o644, type: 'x' }), pax, Buffer.alloc(padding(pax.length)));
    }
    const type = e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0';
    const mode = e.type === 'symlink' ? 0o777 : e.mode;
    parts.push(header({ name, size: data.length, mode, type, link: e.type === 'symlink' ? e.target : '' }), data, Buffer.alloc(padding(data.length)));
  }
  // End of archive: two zero blocks.
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** [prefix, name] fitting ustar's 155 + 100 bytes, split at a '/'; undefined if it cannot. */
function splitName(name: string): [string, string] | undefined {
  if (Buffer.byteLength(name) <= 100) return ['', name];
  for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest !== '') return [prefix, rest];
  }
  return undefined;
}

function paxRecord(key: string, value: string): Buffer {
  // "<len> <key>=<value>\n", where <len> counts itself.
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`);
}

function header(f: { name: string; size: number; mode: number; type: string; link?: string }): Buffer {
  const [prefix, name] = splitName(f.name) ?? ['', f.name.slice(-100)];
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100);
  octal(h, 100, 8, f.mode);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, f.size);
  octal(h, 136, 12, 0); // mtime
  h.write(f.type, 156); // typeflag
  if (f.link) h.write(f.link, 157, 100);
  h.write('ustar\0' + '00', 257);
  h.write('root', 265);
  h.write('root', 297);
  if (prefix) h.write(prefix, 345, 155);
  // The checksum is computed with its own field read as spaces.
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

function octal(h: Buffer, offset: number, width: number, value: number): void {
  h.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset);
}
