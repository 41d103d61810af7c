// A root file system made of Debian packages, for images built without a
// container engine: the packages and their Depends/Pre-Depends closure are
// fetched with `apt-get download` (cached in .cache/image/debs/, by version)
// and unpacked with `dpkg-deb --fsys-tarfile | tar -x` into a merged-/usr
// tree, as debian:12 images have. No maintainer scripts run, so what they
// would do (alternatives links, users) is declared by the caller.
//
// Why .debs and not the host's installed files plus their `ldd` closure: the
// image then holds exactly Debian's packages at versions we can name (the
// archive records them), whatever the build host has installed or changed,
// and data files that ldd cannot see (iproute2's /etc/iproute2, xtables'
// extension modules, netbase's /etc/protocols) come along.
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { TarEntry } from './tar.ts';

const run = promisify(execFile);
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Packages whose only use to the packages we want is in maintainer scripts
 * (debconf prompts, setcap in postinst, dpkg itself): nothing runs them in an
 * image, so neither they nor their own dependencies go in.
 */
export const SCRIPT_ONLY = [
  'debconf',
  'cdebconf',
  'dpkg',
  'tar',
  'install-info',
  'libcap2-bin',
  'perl-base',
  'debianutils',
  'init-system-helpers',
  'usrmerge',
  'usr-is-merged',
  'base-files',
  'base-passwd',
];

/** Paths nobody reads at run time in a container. */
const STRIP = [
  /^usr\/share\/(doc|man|info|locale|lintian|bug|bash-completion|zsh)(\/|$)/,
  /^usr\/lib\/x86_64-linux-gnu\/gconv(\/|$)/,
  /^usr\/lib\/aarch64-linux-gnu\/gconv(\/|$)/,
];

export type RootfsSpec = {
  /** The packages wanted; their dependency closure (minus SCRIPT_ONLY) is added. */
  packages: string[];
  /** Symbolic links to make, path → target, for what maintainer scripts would do (update-alternatives). */
  links?: Record<string, string>;
  /** Files to add, path → content. */
  files?: Record<string, string>;
  /** Where downloaded .debs are kept. */
  cacheDir: string;
  log?: (line: string) => void;
};

export type Rootfs = {
  /** The unpacked tree (a temp dir the caller removes). */
  dir: string;
  /** name=version of every package in it, sorted. */
  packages: string[];
};

const aptOpts = ['--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances'];

/** The packages and everything they Depend or Pre-Depend on, minus SCRIPT_ONLY. Virtual packages are skipped (none is needed here). */
export async function closure(packages: string[]): Promise<string[]> {
  const seen = new Set<string>();
  let frontier = packages.filter((p) => !SCRIPT_ONLY.includes(p));
  while (frontier.length) {
    for (const p of frontier) seen.add(p);
    const { stdout } = await run('apt-cache', ['depends', ...aptOpts, ...frontier], { env: { PATH: SYSTEM_PATH }, maxBuffer: 16 << 20 });
    const next = new Set<string>();
    for (const m of stdout.matchAll(/^ {1,2}\|?(?:Pre)?Depends: ([^<\s]\S*)/gm)) {
      const dep = m[1]!.replace(/:any$/, '');
      if (!seen.has(dep) && !SCRIPT_ONLY.includes(dep)) next.add(dep);
    }
    frontier = [...next];
  }
  return [...seen].sort();
}

async function candidate(pkg: string): Promise<string> {
  const { stdout } = await run('apt-cache', ['policy', pkg], { env: { PATH: SYSTEM_PATH } });
  const v = /Candidate: (\S+)/.exec(stdout)?.[1];
  if (!v || v === '(none)') throw new Error(`image: no candidate version of Debian package ${pkg}: run apt-get update`);
  return v;
}

/** The .deb of pkg at its candidate version, downloaded once into cacheDir/<pkg>/<version>/. */
async function deb(pkg: string, cacheDir: string, log: (l: string) => void): Promise<{ path: string; version: string }> {
  const version = await candidate(pkg);
  const dir = join(cacheDir, pkg, version.replace(/:/g, '%3a'));
  const have = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.deb')) : []);
  if (!have().length) {
    log(`image: apt-get download ${pkg}=${version}`);
    const tmp = `${dir}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await run('apt-get', ['download', '-q', `${pkg}=${version}`], { cwd: tmp, env: { PATH: SYSTEM_PATH } }).catch(
      (err: { stderr?: string; message: string }) => {
        throw new Error(`image: apt-get download ${pkg}=${version} failed: ${err.stderr || err.message}`);
      },
    );
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  return { path: join(dir, have()[0]!), version };
}

/** Downloads and unpacks the packages into a fresh merged-/usr tree under parent. */
export async function debianRootfs(spec: RootfsSpec, parent: string): Promise<Rootfs> {
  const log = spec.log ?? (() => undefined);
  const names = await closure(spec.packages);
  const debs = await Promise.all(names.map(async (n) => ({ name: n, ...(await deb(n, spec.cacheDir, log)) })));
  mkdirSync(parent, { recursive: true });
  const dir = join(parent, `rootfs-${process.pid}-${Date.now()}`);
  mkdirSync(join(dir, 'usr'), { recursive: true });
  // merged /usr, as debian:12 images: bin, sbin, lib* are links into usr/.
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) {
    mkdirSync(join(dir, 'usr', d), { recursive: true });
    symlinkSync(`usr/${d}`, join(dir, d));
  }
  for (const d of ['etc', 'tmp', 'run', 'proc', 'sys', 'dev', 'var/lib', 'var/tmp', 'root']) mkdirSync(join(dir, d), { recursive: true });
  for (const d of debs) {
    // --keep-directory-symlink: ./lib/... lands in usr/lib through the link.
    await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x --keep-directory-symlink --no-same-owner -C "$2"', 'sh', d.path, dir], {
      env: { PATH: SYSTEM_PATH },
    }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`image: unpacking ${d.path}: ${err.stderr || err.message}`);
    });
  }
  for (const [path, target] of Object.entries(spec.links ?? {})) {
    const p = join(dir, path);
    mkdirSync(dirname(p), { recursive: true });
    rmSync(p, { force: true });
    symlinkSync(target, p);
  }
  for (const [path, content] of Object.entries(spec.files ?? {})) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return { dir, packages: debs.map((d) => `${d.name}=${d.version}`) };
}

/** The tree under dir as tar entries, sorted, paths relative to it, minus STRIP. Hard links become copies. */
export function treeEntries(dir: string, under = ''): TarEntry[] {
  const out: TarEntry[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (STRIP.some((re) => re.test(path))) continue;
      const full = join(dir, path);
      const st = lstatSync(full);
      const name2 = under ? `${under}/${path}` : path;
      if (st.isSymbolicLink()) out.push({ name: name2, target: readlinkSync(full), type: 'symlink' });
      else if (st.isDirectory()) {
        out.push({ name: name2, mode: st.mode & 0o7777, type: 'dir' });
        walk(path);
      } else if (st.isFile()) out.push({ name: name2, data: readFileSync(full), mode: st.mode & 0o7777 });
      // sockets, fifos, devices: none in these packages; skipped.
    }
  };
  walk('');
  return out;
}
