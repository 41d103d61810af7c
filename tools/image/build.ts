// `make image`: the weft image built offline, without a container engine.
// A root file system of Debian packages (tools/image/debian-rootfs.ts:
// iproute2, iptables, nftables, libstdc++6 and their dependency closure) as
// one layer, dist/weft and dist/weftd in /usr/local/bin as a second, written
// as an OCI archive by tools/image/oci.ts (the pause image's writer). The same
// contents as the Dockerfile (`make image-docker`), minus apt/dpkg/perl/bash.
//
//   node tools/image/build.ts [weft]      # .cache/image/weft-<version>.oci.tar, named as in manifests/weft.yaml
//   node tools/image/build.ts toolbox     # busybox (sh, ping, wget, nc, httpd) for tests: localhost/weft/toolbox:1
//   node tools/image/build.ts agnhost NAME BINARY   # the e2e tests' agnhost (tools/kube/e2e/build.sh)
//   node tools/image/build.ts static NAME BINARY    # one static executable, no userland (CoreDNS)
//
// Each archive is rebuilt only when its inputs change (the executables, the
// package versions apt would fetch, these scripts); it prints the path.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { closure, debianRootfs, treeEntries } from './debian-rootfs.ts';
import { type ImageConfig, ociArchive } from './oci.ts';
import type { TarEntry } from './tar.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..', '..');
export const IMAGE_CACHE = join(REPO, '.cache', 'image');
const SOURCES = ['build.ts', 'debian-rootfs.ts', 'oci.ts', 'tar.ts'].map((f) => join(import.meta.dirname, f));
const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The image manifests/weft.yaml deploys: the `image: &image NAME:TAG` anchor (as tools/image.sh reads it). */
export function weftImageName(): string {
  const m = /^\s*image: &image (\S+)\s*$/m.exec(readFileSync(join(REPO, 'manifests', 'weft.yaml'), 'utf8'));
  if (!m) throw new Error('image: manifests/weft.yaml has no `image: &image NAME:TAG` line: restore it on the install-cni container');
  return m[1]!;
}

/** What update-alternatives does in iptables' postinst: the nft backend, as in debian:12. */
const IPTABLES_LINKS = Object.fromEntries(
  ['iptables', 'iptables-restore', 'iptables-save', 'ip6tables', 'ip6tables-restore', 'ip6tables-save'].map((n) => [
    `usr/sbin/${n}`,
    n.replace(/^(ip6?tables)/, '$1-nft'),
  ]),
);
const SKELETON = { 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n', 'etc/group': 'root:x:0:\n' };

type Spec = {
  name: string;
  file: string;
  packages: string[];
  links?: Record<string, string>;
  /** Extra layers on top of the Debian one, and what goes in the cache key for them. */
  extra?: () => { layers: TarEntry[][]; key: Buffer[] };
  config: ImageConfig;
  /** Links for busybox's applets that no package provides (as `busybox --install -s`). */
  busybox?: boolean;
  /** Commands run in a chroot of the tree: the build fails unless each exits 0. */
  smoke: string[][];
};

function architecture(): string {
  const a = goArch[process.arch];
  if (!a) throw new Error(`image: no Go architecture for ${process.arch}`);
  return a;
}

function weftSpec(): Spec {
  const name = weftImageName();
  const version = name.slice(name.lastIndexOf(':') + 1);
  const exe = ['weft', 'weftd'].map((n) => join(REPO, 'dist', n));
  for (const f of exe) if (!existsSync(f)) throw new Error(`image: ${f} is missing: run make build first`);
  return {
    name,
    file: `weft-${version}.oci.tar`,
    // libstdc++6: the executables are the Node runtime, which links it.
    packages: ['iproute2', 'iptables', 'nftables', 'libstdc++6'],
    links: IPTABLES_LINKS,
    extra: () => {
      const data = exe.map((f) => readFileSync(f));
      return {
        key: data,
        layers: [
          [
            { name: 'usr', mode: 0o755, type: 'dir' },
            { name: 'usr/local', mode: 0o755, type: 'dir' },
            { name: 'usr/local/bin', mode: 0o755, type: 'dir' },
            { name: 'usr/local/bin/weft', data: data[0]!, mode: 0o755 },
            { name: 'usr/local/bin/weftd', data: data[1]!, mode: 0o755 },
          ],
        ],
      };
    },
    config: {
      Entrypoint: ['/usr/local/bin/weftd'],
      Cmd: ['run'],
      Env: [PATH_ENV],
      Labels: { 'org.opencontainers.image.title': 'weft', 'org.opencontainers.image.version': version },
    },
    smoke: [
      ['ip', '-V'],
      ['bridge', '-V'],
      ['iptables', '-V'],
      ['iptables-restore', '--version'],
      ['ip6tables', '-V'],
      ['nft', '--version'],
      ['/usr/local/bin/weftd', '--help'],
      ['/usr/local/bin/weft'],
    ],
  };
}

export const TOOLBOX_IMAGE = 'localhost/weft/toolbox:1';
function toolboxSpec(): Spec {
  return {
    name: TOOLBOX_IMAGE,
    file: 'toolbox-1.oci.tar',
    packages: ['busybox-static'],
    busybox: true,
    config: { Cmd: ['sh'], Env: [PATH_ENV] },
    smoke: [['busybox', 'true']],
  };
}

/**
 * agnhost for the upstream e2e tests, named as they expect it (name: e.g.
 * registry.k8s.io/e2e-test-images/agnhost:2.56, from the release's
 * test/utils/image/manifest.go), with the userland they exec in it: sh (dash) and
 * coreutils-like tools (busybox), curl, nc (netcat-openbsd, as upstream's Alpine image),
 * ip. Like upstream: /agnhost, /agnhost-2 → agnhost, /uploads, entrypoint
 * agnhost pause.
 */
function agnhostSpec(name: string, binary: string): Spec {
  if (!existsSync(binary)) throw new Error(`image: ${binary} is missing: run tools/kube/e2e/build.sh`);
  const file = name.slice(name.lastIndexOf('/') + 1).replace(':', '-');
  return {
    name,
    file: `${file}.oci.tar`,
    // dash as /bin/sh: Debian's static busybox sh runs its own applets
    // (nc, ip) before $PATH, and the tests mean OpenBSD nc and iproute2.
    packages: ['dash', 'busybox-static', 'curl', 'netcat-openbsd', 'iproute2'],
    links: { 'usr/bin/nc': 'nc.openbsd', 'agnhost-2': 'agnhost' },
    busybox: true,
    extra: () => {
      const data = readFileSync(binary);
      return {
        key: [data],
        layers: [
          [
            { name: 'agnhost', data, mode: 0o755 },
            { name: 'uploads', mode: 0o755, type: 'dir' },
          ],
        ],
      };
    },
    config: { Entrypoint: ['/agnhost'], Cmd: ['pause'], Env: [PATH_ENV] },
    smoke: [
      ['sh', '-c', 'curl --version && nc -h 2>&1 | grep -q OpenBSD && ip -V && readlink /bin/sh | grep -qx dash'],
      ['/agnhost', '--help'],
    ],
  };
}

async function build(spec: Spec, log: (l: string) => void): Promise<string> {
  const arch = architecture();
  const debs = join(IMAGE_CACHE, 'debs');
  // The key: sources, name, packages at their candidate versions, extra inputs.
  const hash = createHash('sha256')
    .update(spec.name)
    .update(arch)
    .update(JSON.stringify(spec.links ?? {}))
    .update(JSON.stringify(spec.config));
  for (const f of SOURCES) hash.update(readFileSync(f));
  const pkgs = await closure(spec.packages);
  const { stdout: policy } = await run('apt-cache', ['policy', ...pkgs], { maxBuffer: 16 << 20 });
  hash.update(policy.replace(/^\s+\*{3}.*$|^\s+\d+ .*$/gm, '')); // candidates, not the pin/priority noise
  const extra = spec.extra?.();
  for (const b of extra?.key ?? []) hash.update(b);
  const key = hash.digest('hex').slice(0, 16);
  const archive = join(IMAGE_CACHE, spec.file);
  const stamp = `${archive}.key`;
  if (existsSync(archive) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === key) return archive;

  const started = Date.now();
  mkdirSync(IMAGE_CACHE, { recursive: true });
  const rootfs = await debianRootfs({ packages: spec.packages, links: spec.links, files: SKELETON, cacheDir: debs, log }, join(IMAGE_CACHE, 'work'));
  try {
    chmodSync(join(rootfs.dir, 'tmp'), 0o1777);
    if (spec.busybox) await busyboxLinks(rootfs.dir);
    // The base layer is read first; then the extra layers go into the same
    // tree, and every tool must start in a chroot of it (libraries all there).
    const base = treeEntries(rootfs.dir);
    if (process.getuid?.() === 0) {
      for (const layer of extra?.layers ?? [])
        for (const e of layer) {
          if (e.type === 'dir') mkdirSync(join(rootfs.dir, e.name), { recursive: true });
          else if (e.type !== 'symlink') writeFileSync(join(rootfs.dir, e.name), e.data, { mode: e.mode });
        }
      for (const cmd of spec.smoke) {
        // stdin closed: the plugin reads its config from stdin. CNI_COMMAND=VERSION: its no-op.
        // /proc as a container has it (a Bun executable finds itself through
        // /proc/self/exe), mounted in a mount namespace of its own that goes with it.
        const p = run(
          'unshare',
          ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t proc proc "$1/proc" && exec chroot "$@"', 'sh', rootfs.dir, ...cmd],
          { env: { PATH: PATH_ENV.slice(5), CNI_COMMAND: 'VERSION' }, timeout: 30_000 },
        );
        p.child.stdin?.end();
        await p.catch((err: { stderr?: string; message: string }) => {
          throw new Error(`image: \`${cmd.join(' ')}\` fails in the image's root file system: ${err.stderr || err.message}`);
        });
      }
    } else log('image: not root, so the chroot check of the tools is skipped');
    const tmp = `${archive}.${process.pid}.partial`;
    writeFileSync(
      tmp,
      ociArchive({
        name: spec.name,
        architecture: arch,
        layers: [base, ...(extra?.layers ?? [])],
        config: { ...spec.config, Labels: { ...spec.config.Labels, 'dev.weft.debian-packages': rootfs.packages.join(' ') } },
        gzip: true,
      }),
    );
    renameSync(tmp, archive);
    writeFileSync(stamp, `${key}\n`);
    writeFileSync(`${archive}.packages`, `${rootfs.packages.join('\n')}\n`);
    log(
      `image: ${spec.name} → ${archive} (${(statSync(archive).size / 1e6).toFixed(1)} MB, ${rootfs.packages.length} Debian packages) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    rmSync(rootfs.dir, { recursive: true, force: true });
  }
  return archive;
}

/** busybox-static ships /bin/busybox alone; its postinst makes no links. One per applet, as `busybox --install -s` would. */
async function busyboxLinks(dir: string): Promise<void> {
  const { stdout } = await run(join(dir, 'usr/bin/busybox'), ['--list']);
  const have = new Set([...readdirSync(join(dir, 'usr/bin')), ...readdirSync(join(dir, 'usr/sbin'))]);
  for (const applet of stdout.split('\n').filter(Boolean)) {
    if (!have.has(applet)) await run('ln', ['-s', 'busybox', join(dir, 'usr/bin', applet)]);
  }
}

export function weftImageArchive(log: (l: string) => void = (l) => console.error(l)): Promise<string> {
  return build(weftSpec(), log);
}
export function agnhostImageArchive(name: string, binary: string, log: (l: string) => void = (l) => console.error(l)): Promise<string> {
  return build(agnhostSpec(name, binary), log);
}
/** One static executable as /<file> and entrypoint (no userland), e.g. CoreDNS; cached like the others. */
export function staticImageArchive(name: string, binary: string, log: (l: string) => void = (l) => console.error(l)): string {
  if (!existsSync(binary)) throw new Error(`image: ${binary} is missing`);
  const data = readFileSync(binary);
  const file = binary.slice(binary.lastIndexOf('/') + 1);
  const arch = architecture();
  const hash = createHash('sha256').update(name).update(arch).update(data);
  for (const f of SOURCES) hash.update(readFileSync(f));
  const key = hash.digest('hex').slice(0, 16);
  const archive = join(IMAGE_CACHE, `${name.slice(name.lastIndexOf('/') + 1).replace(':', '-')}.oci.tar`);
  if (existsSync(archive) && existsSync(`${archive}.key`) && readFileSync(`${archive}.key`, 'utf8').trim() === key) return archive;
  mkdirSync(IMAGE_CACHE, { recursive: true });
  const tmp = `${archive}.${process.pid}.partial`;
  writeFileSync(tmp, ociArchive({ name, architecture: arch, layers: [[{ name: file, data, mode: 0o755 }]], config: { Entrypoint: [`/${file}`] }, gzip: true }));
  renameSync(tmp, archive);
  writeFileSync(`${archive}.key`, `${key}\n`);
  log(`image: ${name} → ${archive} (${(statSync(archive).size / 1e6).toFixed(1)} MB)`);
  return archive;
}

export function toolboxImageArchive(log: (l: string) => void = (l) => console.error(l)): Promise<string> {
  return build(toolboxSpec(), log);
}

if (import.meta.main) {
  const [which = 'weft', ...args] = process.argv.slice(2);
  const specs: Record<string, () => Promise<string>> = {
    weft: weftImageArchive,
    toolbox: toolboxImageArchive,
    // node tools/image/build.ts agnhost NAME BINARY
    agnhost: () => agnhostImageArchive(args[0] ?? '', args[1] ?? ''),
    // node tools/image/build.ts static NAME BINARY
    static: async () => staticImageArchive(args[0] ?? '', args[1] ?? ''),
  };
  const f = specs[which];
  if (!f) throw new Error(`image: unknown image ${which}: weft, toolbox or agnhost NAME BINARY`);
  console.log(await f());
}
