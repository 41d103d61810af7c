// Builds the pause image offline: compiles tools/pause/main.go into a static
// executable and packs it into an OCI archive for `ctr images import`. The
// archive is cached under .cache/pause/, named by a hash of everything that
// goes into it, so it is rebuilt only when one of those changes.
//
//   node tools/pause/build.ts      # builds if needed, prints the archive path
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { singleBinaryArchive } from '../image/oci.ts';

/** The sandbox image name containerd's CRI config must name (sandbox_image). */
export const PAUSE_IMAGE = 'localhost/weft/pause:1';

const source = import.meta.dirname;
const cacheDir = join(source, '..', '..', '.cache', 'pause');
const inputs = ['main.go', 'go.mod', 'build.ts', '../image/oci.ts', '../image/tar.ts'];
const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

let built: Promise<string> | undefined;

/** Path of the pause image archive, built on first use (a few seconds). */
export function pauseImageArchive(): Promise<string> {
  built ??= build();
  return built;
}

async function build(): Promise<string> {
  const architecture = goArch[process.arch];
  if (!architecture) throw new Error(`pause image: no Go architecture for ${process.arch}; add it to goArch in ${join(source, 'build.ts')}`);
  const hash = createHash('sha256').update(PAUSE_IMAGE).update(architecture);
  for (const f of inputs) hash.update(readFileSync(join(source, f)));
  const name = `pause-${hash.digest('hex').slice(0, 16)}.oci.tar`;
  const archive = join(cacheDir, name);
  if (existsSync(archive)) return archive;

  mkdirSync(cacheDir, { recursive: true });
  // Unique temp names: parallel test processes may build at the same time,
  // and the rename makes whichever finishes last win with identical bytes.
  const temp = join(cacheDir, `.${randomBytes(4).toString('hex')}`);
  try {
    // Static (no cgo: the image has no libc) and reproducible (no paths, no
    // VCS stamp), so the same sources give the same image digest.
    await promisify(execFile)(findGo(), ['build', '-trimpath', '-buildvcs=false', '-ldflags=-s -w', '-o', `${temp}.bin`, '.'], {
      cwd: source,
      env: { ...process.env, CGO_ENABLED: '0', GOARCH: architecture },
    }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`pause image: go build in ${source} failed: ${err.stderr || err.message}`);
    });
    writeFileSync(temp, singleBinaryArchive({ name: PAUSE_IMAGE, file: 'pause', executable: readFileSync(`${temp}.bin`), architecture }));
    renameSync(temp, archive);
  } finally {
    rmSync(`${temp}.bin`, { force: true });
    rmSync(temp, { force: true });
  }
  // Archives of earlier sources are never used again.
  for (const f of readdirSync(cacheDir)) if (f.startsWith('pause-') && f !== name) rmSync(join(cacheDir, f), { force: true });
  return archive;
}

function findGo(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/go/bin'];
  const go = dirs.map((d) => join(d, 'go')).find((p) => existsSync(p));
  if (!go) throw new Error('pause image: go is not installed (not on PATH nor in /usr/local/go/bin): install Go 1.22 or newer');
  return go;
}

if (import.meta.main) console.log(await pauseImageArchive());
