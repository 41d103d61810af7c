// An executable's RSS depends on how its file got into the page cache, not
// only on what the process touches: a fault maps the whole page-cache folio
// it lands in, and a file written or read in one go (a fresh build, a `cat`)
// sits in large folios. The same idle weftd measured 85 MB of RSS when just
// built, 101 MB after a `cat` of its file and 66 MB when paged in by an
// earlier run's faults. A comparison of two programs' memory therefore puts
// every executable in that last state, as on a node where they ran before.
import { execFileSync, spawnSync } from 'node:child_process';

/**
 * Drops `file`'s pages from the page cache (written back first), then runs
 * it once with `args` (its --version; a CNI plugin without CNI_COMMAND just
 * says so and exits), so that its pages come back by faults, as an exec
 * brings them in, without the measured run paying for the disk. How that
 * run ends does not matter.
 */
export function pageInByFaults(file: string, args: string[]): void {
  execFileSync('sync', [file]);
  // dd's nocache flag is posix_fadvise(POSIX_FADV_DONTNEED) on the file.
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  spawnSync(file, args, { stdio: 'ignore', env: { PATH: process.env.PATH } });
}
