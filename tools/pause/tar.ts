// A minimal, reproducible tar (ustar) writer: regular files only, owned by
// root, mtime 0, so the same input always gives the same bytes (and the same
// OCI digests). Enough for an image layer and an OCI archive; names must fit
// ustar's 100-byte name field.

export type TarFile = { name: string; data: Buffer; mode: number };

const BLOCK = 512;

export function tar(files: TarFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(header(f), f.data, Buffer.alloc(padding(f.data.length)));
  }
  // End of archive: two zero blocks.
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function header(f: TarFile): Buffer {
  if (Buffer.byteLength(f.name) > 100) throw new Error(`tar: name ${f.name} is longer than ustar's 100 bytes: use a shorter path`);
  const h = Buffer.alloc(BLOCK);
  h.write(f.name, 0, 100);
  octal(h, 100, 8, f.mode);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, f.data.length);
  octal(h, 136, 12, 0); // mtime
  h.write('0', 156); // typeflag: regular file
  h.write('ustar\0' + '00', 257);
  h.write('root', 265);
  h.write('root', 297);
  // The checksum is computed with its own field read as spaces.
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function octal(h: Buffer, offset: number, width: number, value: number): void {
  h.write(value.toString(8).padStart(width - 1, '0') + '\0', offset);
}
