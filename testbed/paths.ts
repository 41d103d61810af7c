// Where the harness finds what the build and the tool scripts made, from the
// checkout itself rather than the working directory, so a script run from
// elsewhere finds the same files.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '..');
/** make build: weft, weftd (and the benchmark's cni-floor). */
export const DIST = join(REPO, 'dist');
/** What the tool scripts download and build, kept between runs. */
export const CACHE = join(REPO, '.cache');
/** The Go tools of make go-tools, kube-tools and cluster-tools. */
export const CACHE_BIN = join(CACHE, 'bin');
export const CNITOOL = join(CACHE_BIN, 'cnitool');

/** The path of a built file; a missing one fails with the command that makes it. */
export function requireBuilt(path: string, fix: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${fix}`);
  return path;
}
