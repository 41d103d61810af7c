// A private containerd (Debian's 1.6, from tools/install-deps.sh) for tests of
// the path the kubelet takes: CRI → containerd → CNI. Each instance has its
// own root, state dir, socket, runc root and CNI dirs in one temp dir, and
// never touches /etc/containerd, the system service or /etc/cni. Its CRI
// plugin runs pod sandboxes from our own pause image (tools/pause/), built
// and imported offline.
//
//   const cri = await startContainerd();
//   t.teardown(() => cri.stop());
//   installCni({ binary, binDir: cri.cniBinDir, confDir: cri.cniConfDir, conflist });
//   const id = await cri.runPod('a');
//
// stop() removes every sandbox (so the CNI plugin gets its DEL), kills
// containerd, and deletes the temp dir. A test process that dies first leaves
// nothing running either: containerd gets the parent-death signal, and the
// janitor kills the shims and pause processes, unmounts and deletes the dir.
import { mkdirSync, mkdtempSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PAUSE_IMAGE, pauseImageArchive } from '../tools/pause/build.ts';
import { uniqueSuffix } from './fixtures.ts';
import { startJanitor } from './janitor.ts';
import { CACHE_BIN, requireBuilt } from './paths.ts';
import { type Launched, launch, logTail, waitReady } from './process.ts';
import { sh } from './shell.ts';

export const CRICTL = join(CACHE_BIN, 'crictl');
// containerd runs the loopback plugin for every pod's lo, from the same bin
// dir as the pod network's plugin.
const LOOPBACK_PLUGIN = '/usr/lib/cni/loopback';
const OVERLAYFS_MAGIC = 0x794c7630;

export type Containerd = {
  /** The CRI (and containerd API) socket. */
  socket: string;
  /** The CRI plugin's CNI bin_dir; holds `loopback` already. */
  cniBinDir: string;
  /** The CRI plugin's CNI conf_dir; empty at start. */
  cniConfDir: string;
  /** Runs crictl against this containerd; stdout, or throws with stderr and containerd's log tail. */
  crictl(args: string[]): Promise<string>;
  /** Whether the CRI status reports NetworkReady. */
  networkReady(): Promise<boolean>;
  /** Runs a pod sandbox (`crictl runp`) named `name` in namespace default; returns its ID. */
  runPod(name: string): Promise<string>;
  /** Removes all sandboxes, kills containerd and deletes the temp dir; safe to call twice. */
  stop(): Promise<void>;
};

export async function startContainerd(opts: { readyTimeoutMs?: number } = {}): Promise<Containerd> {
  requireTools();
  const dir = mkdtempSync(join(tmpdir(), 'weft-containerd-'));
  // Pods get their cgroups under a parent named like this instance's dir, so
  // the janitor can find and remove exactly those.
  const cgroupParent = basename(dir);
  const janitor = startJanitor(JANITOR, [dir, cgroupParent]);
  const socket = join(dir, 'containerd.sock');
  const cniBinDir = join(dir, 'cni', 'bin');
  const cniConfDir = join(dir, 'cni', 'net.d');
  const log = join(dir, 'containerd.log');
  let containerd: Launched | undefined;

  const crictl = async (args: string[]): Promise<string> => {
    // --config /dev/null: the flags alone decide, not a host /etc/crictl.yaml.
    const r = await sh(CRICTL, [
      '--config',
      '/dev/null',
      '--runtime-endpoint',
      `unix://${socket}`,
      '--image-endpoint',
      `unix://${socket}`,
      '--timeout',
      '30s',
      ...args,
    ]);
    if (r.exitCode !== 0) throw new Error(`crictl ${args.join(' ')}: ${r.stderr}\ncontainerd log (${log}):\n${logTail({ log }, 20)}`);
    return r.stdout;
  };
  const networkReady = async (): Promise<boolean> => {
    const info = JSON.parse(await crictl(['info'])) as { status: { conditions: { type: string; status: boolean }[] } };
    return info.status.conditions.some((c) => c.type === 'NetworkReady' && c.status);
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Through the CRI first, so each sandbox's network is torn down by a CNI
    // DEL as the kubelet would have it; the janitor then catches the rest.
    const running = containerd !== undefined && containerd.exitStatus() === undefined;
    if (running) await crictl(['rmp', '--force', '--all']).catch(() => undefined);
    await containerd?.stop('SIGKILL');
    await janitor.release();
  };

  try {
    mkdirSync(cniConfDir, { recursive: true });
    mkdirSync(cniBinDir, { recursive: true });
    symlinkSync(LOOPBACK_PLUGIN, join(cniBinDir, 'loopback'));
    // overlayfs cannot stack its upper dir on an overlayfs (e.g. a container's
    // root); the native snapshotter (plain copies) works anywhere.
    const snapshotter = statfsSync(dir).type === OVERLAYFS_MAGIC ? 'native' : 'overlayfs';
    const config = join(dir, 'config.toml');
    writeFileSync(config, containerdConfig({ dir, socket, cniBinDir, cniConfDir, snapshotter }));

    // Built (or found in .cache/pause/) before containerd starts: a broken
    // build then fails the test without a containerd to clean up.
    const archive = await pauseImageArchive();
    // Unref'd: a test that never calls stop() must still let its process end.
    containerd = launch(['containerd', '--config', config], { log, unref: true });
    await waitReady(containerd, 'containerd to answer CRI status', opts.readyTimeoutMs ?? 20_000, () =>
      crictl(['info']).then(
        () => true,
        () => false,
      ),
    );
    // Into the CRI plugin's namespace, unpacked for its snapshotter: the
    // sandbox image is then never pulled.
    const imported = await sh('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', '--snapshotter', snapshotter, archive]);
    if (imported.exitCode !== 0) throw new Error(`ctr images import ${archive}: ${imported.stderr}; delete .cache/pause/ to rebuild the pause image`);
  } catch (err) {
    await stop();
    throw err;
  }

  let pods = 0;
  const runPod = async (name: string): Promise<string> => {
    const file = join(dir, `pod-${++pods}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        metadata: { name, namespace: 'default', uid: `${name}-${uniqueSuffix()}`, attempt: 0 },
        linux: { cgroup_parent: `/${cgroupParent}` },
      }),
    );
    return (await crictl(['runp', file])).trim();
  };

  return { socket, cniBinDir, cniConfDir, crictl, networkReady, runPod, stop };
}

function requireTools(): void {
  requireBuilt(CRICTL, 'run tools/go-tools.sh');
  for (const bin of ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/containerd-shim-runc-v2', '/usr/sbin/runc']) {
    requireBuilt(bin, 'run tools/install-deps.sh (apt-get install containerd runc)');
  }
  requireBuilt(LOOPBACK_PLUGIN, 'apt-get install containernetworking-plugins');
}

type ConfigPaths = { dir: string; socket: string; cniBinDir: string; cniConfDir: string; snapshotter: string };

/** containerd 1.6's config (version 2), everything inside `dir`. */
function containerdConfig(p: ConfigPaths): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${p.dir}/root"
state = "${p.dir}/state"
# Plugins that would reach outside the temp dir (opt: /opt/containerd) or
# only log errors on this host.
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "${p.socket}"

${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  # The pods' network namespaces are mounted here, not in /var/run/netns.
  netns_mounts_under_state_dir = true
  # CRI gives sandboxes oom_score_adj -998, which needs CAP_SYS_RESOURCE; a
  # test host (a container, a sandboxed VM) may not grant it to root.
  restrict_oom_score_adj = true
  # exec/attach streaming on a random loopback port: instances never collide.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
${cri}.containerd]
  snapshotter = "${p.snapshotter}"
  default_runtime_name = "runc"
${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
${cri}.containerd.runtimes.runc.options]
  # runc's container state, by default in /run/containerd/runc.
  Root = "${p.dir}/runc"
${cri}.cni]
  bin_dir = "${p.cniBinDir}"
  conf_dir = "${p.cniConfDir}"
  max_conf_num = 1
`;
}

// Runs when its stdin closes: on release(), or when the thread that started
// it ends and the pipe closes with it (ava ends worker threads without exit
// handlers). Ours to kill: the shims, which name our socket on their command
// line, and whatever runs in the pods' cgroups (the pause processes). Then
// the rootfs and netns mounts go, the pods' cgroups, and the dir.
const JANITOR = `
dir=$0 cgroup=$1
arg() { tr '\\0' '\\n' <"$p/cmdline" | sed -n "/^-$1\\$/{n;p;q}"; }
for p in /proc/[0-9]*; do
  [ "\${p#/proc/}" = $$ ] && continue
  if grep -qsF -- "$dir/" "$p/cmdline" || grep -qsF -- "/$cgroup/" "$p/cgroup"; then
    id=$(arg id) ns=$(arg namespace)
    kill -9 "\${p#/proc/}" 2>/dev/null
    # A shim's socket is /run/containerd/s/sha256(<containerd socket>/<namespace>/<id>).
    [ -n "$id" ] && rm -f "/run/containerd/s/$(printf %s "$dir/containerd.sock/$ns/$id" | sha256sum | cut -c1-64)"
  fi
done
awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
for try in 1 2 3 4 5 6 7 8 9 10; do
  # A killed process leaves its cgroup only once it is gone: retry.
  for cg in /sys/fs/cgroup/"$cgroup" /sys/fs/cgroup/*/"$cgroup"; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf -- "$dir" 2>/dev/null
  if [ ! -e "$dir" ] && ! ls -d /sys/fs/cgroup/"$cgroup" /sys/fs/cgroup/*/"$cgroup" >/dev/null 2>&1; then exit 0; fi
  sleep 0.2
done
`;
