// make cluster / make cluster-down: a real Kubernetes cluster on this machine.
//
// A control plane on the host (etcd on 127.0.0.1, kube-apiserver on the
// underlay bridge's address, kube-controller-manager allocating pod CIDRs,
// kube-scheduler) and N nodes, each a network + mount + UTS namespace on the
// underlay bridge running its own containerd v2, runc, kubelet and kube-proxy.
// Everything it starts is detached, so the cluster outlives `make cluster`;
// `down` finds it again from the state dir and /proc and removes it all,
// whatever state it is in. See tools/cluster/README.md.
//
//   node tools/cluster/cluster.ts up [--nodes=3] [--cni=none|reference|weft] [--stack=ipv4|dual]
//   node tools/cluster/cluster.ts down
//   node tools/cluster/cluster.ts status
//   node tools/cluster/cluster.ts exec node1 -- ip addr        # inside a node
//   node tools/cluster/cluster.ts import-image ARCHIVE          # into every node's containerd
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { freePorts } from '../free-ports.ts';
import { archiveImage } from '../image/archive-index.ts';
import { weftImageArchive } from '../image/build.ts';
import { PAUSE_IMAGE, pauseImageArchive } from '../pause/build.ts';
import { makePki } from '../pki.ts';
import { WEFT_OVERLAY, writeOverlay } from './weft-overlay.ts';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const BIN = join(REPO, '.cache', 'bin');
/** Everything the cluster keeps on disk; removed by down(). */
export const STATE = join(REPO, '.cache', 'cluster');
export const KUBECONFIG = join(STATE, 'kubeconfig');
const STATE_FILE = join(STATE, 'state.json');
/** Where the logs of a failed `up` are kept (the state dir itself goes). */
const FAILED_LOGS = join(REPO, '.cache', 'cluster-logs');
/** Node mount and UTS namespace files live on a private bind mount here. */
const NS_DIR = '/run/weft-cluster';

export const CLUSTER_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/16';
export const UNDERLAY_PREFIX = '10.228.0.';
/** `--stack=dual` adds these second networks; IPv4 stays the primary family (the API server's and the pods' first address). */
export const CLUSTER_CIDR6 = 'fd00:10:244::/56';
export const SERVICE_CIDR6 = 'fd00:10:96::/112';
export const UNDERLAY6_PREFIX = 'fd00:10:228::';
const UNDERLAY6_LENGTH = 64;
export const API_IP = `${UNDERLAY_PREFIX}1`;
export const API_PORT = 6443;
export const API_SERVER = `https://${API_IP}:${API_PORT}`;
const BRIDGE = 'weftc-ul';
const BRIDGE_MAC = '02:77:65:66:74:01';
const PREFIX = 'weft-cluster';
/**
 * A network that is not part of the cluster (addOutside): a namespace on the
 * underlay, not a node, that also answers for `ip`, an address beyond the
 * underlay. Nodes reach `ip` through their default route, as they would a
 * server on the internet; the outside has no route to pod CIDRs, so only
 * masqueraded traffic (from a node's address) gets an answer.
 */
export const OUTSIDE = { netns: `${PREFIX}-outside`, hostEnd: 'weftc-outside', underlayIp: `${UNDERLAY_PREFIX}250`, ip: '192.0.2.10' };
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Our binaries first: containerd finds its shim and runc by PATH, and must not take Debian's 1.6 ones. */
const NODE_PATH = `${BIN}:${SYSTEM_PATH}`;
const DEBIAN_CNI = '/usr/lib/cni';
const CNI_PLUGINS = ['loopback', 'portmap', 'bridge', 'host-local'];
/** What weft needs beside itself (docs/install.md): containerd runs loopback for every pod, the conflist chains portmap. */
const WEFT_CNI_PLUGINS = ['loopback', 'portmap'];

/** The kustomize overlay of manifests/ (pull policy Never: nodes cannot pull); PINNED_OVERLAY builds on it. */
export { WEFT_OVERLAY };
/** Written by `up --cni=weft`: WEFT_OVERLAY with the image pinned by the imported archive's digest (weft-overlay.ts). */
export const PINNED_OVERLAY = join(STATE, 'weft-overlay');
/** hostPath files the weft DaemonSet may create on the host (FileOrCreate); removed by down() if they were not there. */
const WEFT_HOST_FILES = ['/run/xtables.lock'];
/**
 * `ctr images import` of an archive so that the image is named both NAME:TAG
 * and NAME@DIGEST (a pod spec may pin it by digest): --digests names the
 * digest image after --base-name, which must then be the image's own
 * repository, or its NAME:TAG would be filtered out. --local: containerd
 * 2.1's default (transfer service) import makes no digest image here.
 */
function importArgs(archive: string): string[] {
  return ['images', 'import', '--local', '--snapshotter', 'overlayfs', '--base-name', archiveImage(archive).repository, '--digests', resolve(archive)];
}
const TOOLS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kubelet',
  'kube-proxy',
  'containerd',
  'containerd-shim-runc-v2',
  'ctr',
  'runc',
];

/** Host sysctls the kubelet sets host-wide (and inotify, which we raise); restored by down(). */
const HOST_SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'fs.inotify.max_user_instances',
  'fs.inotify.max_user_watches',
];
const INOTIFY_MIN: Record<string, number> = { 'fs.inotify.max_user_instances': 1024, 'fs.inotify.max_user_watches': 524288 };

/** Paths each node sees as its own (a bind mount of a dir under the node's state dir). */
export const NODE_DIRS = [
  '/opt/cni/bin',
  '/etc/cni/net.d',
  '/var/lib/cni',
  '/run/weft',
  '/var/lib/kubelet',
  '/var/lib/containerd',
  '/run/containerd',
  '/var/log/pods',
  '/var/log/containers',
];

export type CniMode = 'none' | 'reference' | 'weft';
/** ipv4: today's cluster; dual: every network (underlay, pods, Services, node IPs) also has an IPv6 part. */
export type Stack = 'ipv4' | 'dual';
export const STACKS: readonly Stack[] = ['ipv4', 'dual'];
/** The pod networks (kube-controller-manager's --cluster-cidr), primary family first. */
export const clusterCidrs = (stack: Stack): string[] => (stack === 'dual' ? [CLUSTER_CIDR, CLUSTER_CIDR6] : [CLUSTER_CIDR]);
const serviceCidrs = (stack: Stack): string[] => (stack === 'dual' ? [SERVICE_CIDR, SERVICE_CIDR6] : [SERVICE_CIDR]);
/** A node's underlay addresses (its InternalIPs), primary family first. */
const nodeIps = (node: NodeInfo, stack: Stack): string[] => (stack === 'dual' ? [node.ip, node.ip6] : [node.ip]);
export type UpOptions = {
  nodes?: number;
  cni?: CniMode;
  stack?: Stack;
  log?: (line: string) => void;
  readyTimeoutMs?: number;
  /** --cni=weft: install it (default), or only prepare the nodes (image imported, loopback and portmap) for a test to install it with kubectl. */
  installWeft?: boolean;
};

export type NodeInfo = { name: string; ip: string; ip6: string; netns: string; mntns: string; utsns: string; dir: string; cgroupRoot: string };
type State = {
  createdAt: string;
  nodes: NodeInfo[];
  cni: CniMode;
  /** Absent in a state file from before dual stack: ipv4. */
  stack?: Stack;
  /** sysctl name → value before we started; restored on down. */
  sysctls: Record<string, string>;
  /** Host dirs we created as mount points; removed on down (if still empty). */
  createdDirs: string[];
  /** Host files the cluster may create (hostPath FileOrCreate) that were not there before; removed on down. */
  createdFiles?: string[];
  etcdUrl?: string;
  pids: Record<string, number>;
  ready?: boolean;
};

export function nodeInfo(i: number): NodeInfo {
  const name = `node${i}`;
  return {
    name,
    ip: `${UNDERLAY_PREFIX}${10 + i}`,
    ip6: `${UNDERLAY6_PREFIX}${10 + i}`,
    netns: `${PREFIX}-${name}`,
    mntns: join(NS_DIR, `${name}.mnt`),
    utsns: join(NS_DIR, `${name}.uts`),
    dir: join(STATE, 'nodes', name),
    cgroupRoot: `/${PREFIX}-${name}`,
  };
}

// --- small helpers -------------------------------------------------------

class Aborted extends Error {}
let aborted = false;
/** Makes a running up() stop at its next step (it throws; the caller then runs down()). */
export function abortUp(): void {
  aborted = true;
}
function checkAbort(): void {
  if (aborted) throw new Aborted('interrupted');
}

type Result = { code: number; stdout: string; stderr: string };
async function sh(cmd: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<Result> {
  return new Promise((done) => {
    const child = execFile(cmd, args, { env: { PATH: SYSTEM_PATH, ...opts.env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr || (err && code !== 0 && !stderr ? err.message : '')) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
async function must(cmd: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<string> {
  const r = await sh(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, onTimeout?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    checkAbort();
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${last})` : ''}${onTimeout ? `\n${onTimeout()}` : ''}`);
}

export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((l) => `    ${l}`)
      .join('\n');
  } catch {
    return `    (no log at ${file})`;
  }
}

function readState(): State | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as State;
  } catch {
    return undefined;
  }
}
function writeState(s: State): void {
  mkdirSync(STATE, { recursive: true });
  writeFileSync(`${STATE_FILE}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${STATE_FILE}.tmp`, STATE_FILE);
}

/** Starts a daemon detached from us (its own session), so it outlives `make cluster`. */
function daemon(name: string, args: string[], log: string, env: Record<string, string> = {}): ChildProcess {
  checkAbort();
  const out = openSync(log, 'a');
  const child = spawn(args[0]!, args.slice(1), { detached: true, stdio: ['ignore', out, out], env: { PATH: SYSTEM_PATH, ...env } });
  closeSync(out);
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined) throw new Error(`${name}: could not start ${args[0]}`);
  return child;
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    // A zombie is not running.
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The args a process in one of the node namespaces is started with. */
function inNode(node: NodeInfo, args: string[]): string[] {
  return ['nsenter', `--net=/run/netns/${node.netns}`, `--mount=${node.mntns}`, `--uts=${node.utsns}`, '--', ...args];
}

// --- PKI ---------------------------------------------------------------

/** Client identities: file name → subject. */
function clientIdentities(nodes: NodeInfo[]): Record<string, string> {
  const ids: Record<string, string> = {
    admin: '/O=system:masters/CN=weft-cluster-admin',
    'apiserver-kubelet-client': '/O=system:masters/CN=kube-apiserver-kubelet-client',
    'controller-manager': '/CN=system:kube-controller-manager',
    scheduler: '/CN=system:kube-scheduler',
    'kube-proxy': '/CN=system:kube-proxy',
  };
  for (const n of nodes) ids[n.name] = `/O=system:nodes/CN=system:node:${n.name}`;
  return ids;
}

function makeClusterPki(dir: string, nodes: NodeInfo[]): Promise<void> {
  return makePki(dir, {
    caSubject: '/CN=weft-cluster-ca',
    days: 30,
    server: {
      name: 'apiserver',
      subject: '/CN=kube-apiserver',
      altNames: [
        `IP:${API_IP}`,
        'IP:127.0.0.1',
        'IP:10.96.0.1',
        'DNS:kubernetes',
        'DNS:kubernetes.default',
        'DNS:kubernetes.default.svc',
        'DNS:kubernetes.default.svc.cluster.local',
      ],
    },
    clients: clientIdentities(nodes),
  });
}

function kubeconfig(pki: string, user: string): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'weft', cluster: { server: API_SERVER, 'certificate-authority': join(pki, 'ca.crt') } }],
      users: [{ name: user, user: { 'client-certificate': join(pki, `${user}.crt`), 'client-key': join(pki, `${user}.key`) } }],
      contexts: [{ name: 'weft', context: { cluster: 'weft', user } }],
      'current-context': 'weft',
    },
    null,
    2,
  );
}

/** GET on the API server as the admin; the parsed body, or undefined unless 200. */
export async function apiGet<T = unknown>(path: string): Promise<T | undefined> {
  const pki = join(STATE, 'pki');
  const tls = { ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) };
  return new Promise((done) => {
    const req = httpsRequest(`${API_SERVER}${path}`, { ...tls, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return done(undefined);
        try {
          done(JSON.parse(body) as T);
        } catch {
          done(body as T);
        }
      });
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => done(undefined));
    req.end();
  });
}

/** spec.podCIDRs, primary family first (spec.podCIDR alone on an API server that leaves the list out). */
export const podCidrsOf = (n: ApiNode): string[] => n.spec.podCIDRs ?? (n.spec.podCIDR ? [n.spec.podCIDR] : []);
export type ApiNode = {
  metadata: { name: string };
  spec: { podCIDR?: string; podCIDRs?: string[] };
  status?: { conditions?: { type: string; status: string }[] };
};
export async function apiNodes(): Promise<ApiNode[]> {
  return (await apiGet<{ items: ApiNode[] }>('/api/v1/nodes'))?.items ?? [];
}
export const isReady = (n: ApiNode) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

// --- host settings --------------------------------------------------------

async function readSysctl(name: string): Promise<string | undefined> {
  try {
    return readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
function writeSysctl(name: string, value: string): void {
  writeFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, value);
}

/** The v1 hierarchies plus `unified` and the named `systemd` one: every dir runc or the kubelet may create cgroups in. */
function cgroupHierarchies(): string[] {
  const base = '/sys/fs/cgroup';
  const out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(base);
  } catch {
    return out;
  }
  // cgroup v2 only: the base itself is the hierarchy.
  if (entries.includes('cgroup.controllers')) return [base];
  for (const e of entries) {
    const p = join(base, e);
    try {
      readlinkSync(p); // a symlink like cpu -> cpu,cpuacct: the real dir is listed too
      continue;
    } catch {
      /* not a link */
    }
    try {
      if (statSync(p).isDirectory()) out.push(p);
    } catch {
      /* gone */
    }
  }
  return out;
}

function makeCgroupRoot(root: string): void {
  for (const h of cgroupHierarchies()) {
    const dir = join(h, root);
    mkdirSync(dir, { recursive: true });
    // A new v1 cpuset cgroup starts with no CPUs and no memory nodes.
    if (existsSync(join(dir, 'cpuset.cpus'))) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(join(h, f), 'utf8').trim());
      }
    }
  }
}

/** Removes a cgroup tree in every hierarchy, deepest first; the dirs of processes just killed may take a moment. */
async function removeCgroupRoot(root: string): Promise<string[]> {
  const remaining: string[] = [];
  for (const h of cgroupHierarchies()) {
    const dir = join(h, root);
    if (!existsSync(dir)) continue;
    for (let attempt = 0; attempt < 40; attempt++) {
      await sh('find', [dir, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', '+']);
      if (!existsSync(dir)) break;
      await sleep(250);
    }
    if (existsSync(dir)) remaining.push(dir);
  }
  return remaining;
}

// --- configs -------------------------------------------------------------

function containerdConfig(): string {
  const rt = "plugins.'io.containerd.cri.v1.runtime'";
  // The node's own /var/lib/containerd, /run/containerd and CNI dirs are
  // bind mounts inside its mount namespace, so these paths are per node.
  return `version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
# opt: /opt/containerd on the host; nri: a host-wide socket in /var/run/nri.
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "${PAUSE_IMAGE}"

[${rt}]
  # Pods' network namespaces under the node's own /run/containerd.
  netns_mounts_under_state_dir = true
  # root here lacks CAP_SYS_RESOURCE and cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  enable_cdi = false
  [${rt}.containerd]
    default_runtime_name = "runc"
    [${rt}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${rt}.containerd.runtimes.runc.options]
        BinaryName = "${join(BIN, 'runc')}"
        SystemdCgroup = false
  [${rt}.cni]
    bin_dirs = ["/opt/cni/bin"]
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

function kubeletConfig(node: NodeInfo, pki: string): string {
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: join(pki, 'ca.crt') } },
      authorization: { mode: 'Webhook' },
      cgroupDriver: 'cgroupfs',
      cgroupRoot: node.cgroupRoot,
      failSwapOn: false,
      containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
      clusterDNS: ['10.96.0.10'],
      clusterDomain: 'cluster.local',
      // An empty resolv.conf: pods get no host nameserver to send queries to.
      resolvConf: join(node.dir, 'resolv.conf'),
      healthzBindAddress: '127.0.0.1',
      readOnlyPort: 0,
      rotateCertificates: false,
      serverTLSBootstrap: false,
      // The host disk is shared by everyone: don't evict over it.
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      // Fewer status round trips: nodes go Ready sooner.
      nodeStatusUpdateFrequency: '5s',
      syncFrequency: '10s',
      maxPods: 50,
    },
    null,
    2,
  );
}

function kubeProxyConfig(node: NodeInfo, stack: Stack): string {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: join(STATE, 'kubeconfig-kube-proxy') },
      hostnameOverride: node.name,
      mode: 'iptables',
      // Both families: kube-proxy then programs ip6tables too (dual-stack mode).
      clusterCIDR: clusterCidrs(stack).join(','),
      bindAddress: node.ip,
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      // nf_conntrack_max is host-wide and read-only outside the initial netns: leave it.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    },
    null,
    2,
  );
}

/** The reference pod network: Debian's bridge + host-local, one range set (one pod address) and one default route per pod CIDR of the node. */
export function referenceConflist(podCidrs: string[]): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'reference',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: podCidrs.map((subnet) => [{ subnet }]),
            routes: podCidrs.map((c) => ({ dst: c.includes(':') ? '::/0' : '0.0.0.0/0' })),
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/** The node's mount namespace: its own sysfs (for its own links), cgroups kept, and the per-node dirs. */
function nodeSetupScript(node: NodeInfo): string {
  const binds = NODE_DIRS.map((p) => `mount --bind '${join(node.dir, 'fs', p)}' '${p}'`).join('\n');
  return `set -e
hostname ${node.name}
aside='${join(node.dir, 'cgroup-aside')}'
mkdir -p "$aside"
mount --rbind /sys/fs/cgroup "$aside"
mount -t sysfs sysfs /sys
mount --move "$aside" /sys/fs/cgroup
${binds}
# The host's namespace files would pin the other nodes' namespaces.
umount -l '${NS_DIR}' 2>/dev/null || true
`;
}

// --- up ------------------------------------------------------------------

export async function up(opts: UpOptions = {}): Promise<{ reused: boolean }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const count = opts.nodes ?? 3;
  const cni = opts.cni ?? 'none';
  const stack = opts.stack ?? 'ipv4';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
  preflight();

  const existing = readState();
  if (existing) {
    if (existing.ready && (await healthy(existing))) {
      log(`cluster already running (${existing.nodes.length} nodes, started ${existing.createdAt}); reusing it`);
      if (existing.cni !== cni) log(`note: it was started with --cni=${existing.cni}, not --cni=${cni}; run make cluster-down first to change that`);
      if ((existing.stack ?? 'ipv4') !== stack)
        log(`note: it was started with --stack=${existing.stack ?? 'ipv4'}, not --stack=${stack}; run make cluster-down first to change that`);
      return { reused: true };
    }
    log('a previous cluster is incomplete or not healthy: removing it first');
    await down({ log });
  }

  const nodes = Array.from({ length: count }, (_, i) => nodeInfo(i + 1));
  const pki = join(STATE, 'pki');
  const logs = join(STATE, 'logs');
  const state: State = { createdAt: new Date().toISOString(), nodes, cni, stack, sysctls: {}, createdDirs: [], pids: {} };
  // Recorded before anything changes, so down() can always restore them.
  for (const name of HOST_SYSCTLS) {
    const v = await readSysctl(name);
    if (v !== undefined) state.sysctls[name] = v;
  }
  mkdirSync(logs, { recursive: true });
  writeState(state);
  const save = () => writeState(state);

  log('== PKI, underlay bridge, etcd, kube-apiserver');
  await makeClusterPki(pki, nodes);
  for (const user of ['admin', 'controller-manager', 'scheduler', 'kube-proxy', ...nodes.map((n) => n.name)]) {
    writeFileSync(join(STATE, `kubeconfig-${user}`), kubeconfig(pki, user));
  }

  // A fixed MAC: a bridge otherwise takes its lowest port's, which changes as
  // nodes join, and a node's ARP entry for the API server then goes stale.
  await must('ip', ['link', 'add', BRIDGE, 'address', BRIDGE_MAC, 'type', 'bridge']);
  await must('ip', ['addr', 'add', `${API_IP}/24`, 'dev', BRIDGE]);
  // nodad: usable at once, and no node's address can collide (all are fixed).
  if (stack === 'dual') await must('ip', ['-6', 'addr', 'add', `${UNDERLAY6_PREFIX}1/${UNDERLAY6_LENGTH}`, 'dev', BRIDGE, 'nodad']);
  await must('ip', ['link', 'set', BRIDGE, 'up']);

  const [etcdPort, etcdPeerPort] = await freePorts(2);
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  state.etcdUrl = etcdUrl;
  const etcd = daemon(
    'etcd',
    [
      join(BIN, 'etcd'),
      '--name=weft-cluster',
      `--data-dir=${join(STATE, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=weft-cluster=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync',
      '--heartbeat-interval=10',
      '--election-timeout=100',
      '--log-level=warn',
    ],
    join(logs, 'etcd.log'),
  );
  state.pids.etcd = etcd.pid!;
  save();
  await waitFor('etcd', 60_000, async () => {
    if (!alive(etcd.pid)) throw new Error(`etcd exited:\n${logTail(join(logs, 'etcd.log'))}`);
    const r = await sh('curl', ['-sf', '--max-time', '2', `${etcdUrl}/health`]);
    return r.code === 0 ? true : undefined;
  });

  const apiserver = daemon(
    'kube-apiserver',
    [
      join(BIN, 'kube-apiserver'),
      `--bind-address=${API_IP}`,
      `--advertise-address=${API_IP}`,
      `--secure-port=${API_PORT}`,
      `--etcd-servers=${etcdUrl}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`,
      `--kubelet-client-certificate=${join(pki, 'apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${join(pki, 'apiserver-kubelet-client.key')}`,
      // Node names don't resolve here: reach kubelets (logs, exec) by their InternalIP.
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      `--service-cluster-ip-range=${serviceCidrs(stack).join(',')}`,
      '--allow-privileged=true',
    ],
    join(logs, 'kube-apiserver.log'),
  );
  state.pids['kube-apiserver'] = apiserver.pid!;
  save();
  await waitFor(
    'kube-apiserver /readyz',
    120_000,
    async () => {
      if (!alive(apiserver.pid)) throw new Error(`kube-apiserver exited:\n${logTail(join(logs, 'kube-apiserver.log'))}`);
      return (await apiGet('/readyz')) !== undefined ? true : undefined;
    },
    () => logTail(join(logs, 'kube-apiserver.log')),
  );
  writeFileSync(KUBECONFIG, kubeconfig(pki, 'admin'));

  log('== kube-controller-manager, kube-scheduler');
  const cmKubeconfig = join(STATE, 'kubeconfig-controller-manager');
  state.pids['kube-controller-manager'] = daemon(
    'kube-controller-manager',
    [
      join(BIN, 'kube-controller-manager'),
      `--kubeconfig=${cmKubeconfig}`,
      `--authentication-kubeconfig=${cmKubeconfig}`,
      `--authorization-kubeconfig=${cmKubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--allocate-node-cidrs',
      `--cluster-cidr=${clusterCidrs(stack).join(',')}`,
      // A dual-stack cluster refuses the family-less --node-cidr-mask-size.
      ...(stack === 'dual' ? ['--node-cidr-mask-size-ipv4=24', '--node-cidr-mask-size-ipv6=64'] : ['--node-cidr-mask-size=24']),
      `--service-cluster-ip-range=${serviceCidrs(stack).join(',')}`,
      '--use-service-account-credentials',
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      `--root-ca-file=${join(pki, 'ca.crt')}`,
      `--cluster-signing-cert-file=${join(pki, 'ca.crt')}`,
      `--cluster-signing-key-file=${join(pki, 'ca.key')}`,
    ],
    join(logs, 'kube-controller-manager.log'),
  ).pid!;
  const schedKubeconfig = join(STATE, 'kubeconfig-scheduler');
  state.pids['kube-scheduler'] = daemon(
    'kube-scheduler',
    [
      join(BIN, 'kube-scheduler'),
      `--kubeconfig=${schedKubeconfig}`,
      `--authentication-kubeconfig=${schedKubeconfig}`,
      `--authorization-kubeconfig=${schedKubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
    ],
    join(logs, 'kube-scheduler.log'),
  ).pid!;
  save();

  log('== host: mount points, cgroup roots, inotify limits');
  for (const [name, min] of Object.entries(INOTIFY_MIN)) {
    const v = state.sysctls[name];
    if (v !== undefined && Number(v) < min) writeSysctl(name, String(min));
  }
  for (const p of NODE_DIRS) {
    // The outermost missing ancestor is what we create (and remove later).
    let top: string | undefined;
    for (let d = p; d !== '/' && !existsSync(d); d = resolve(d, '..')) top = d;
    if (top) {
      mkdirSync(p, { recursive: true });
      state.createdDirs.push(top);
    }
  }
  state.createdFiles = cni === 'weft' ? WEFT_HOST_FILES.filter((f) => !existsSync(f)) : [];
  save();
  const archive = await pauseImageArchive();
  // Built (or found in .cache/image) before any node starts: `make image`.
  const weftArchive = cni === 'weft' ? await weftImageArchive(log) : undefined;
  if (weftArchive) writeOverlay(PINNED_OVERLAY, { digest: archiveImage(weftArchive).digest }, stack === 'dual' ? clusterCidrs(stack) : undefined);

  for (const node of nodes) {
    checkAbort();
    log(`== ${node.name}: namespaces, containerd, kubelet, kube-proxy (${node.ip})`);
    await startNode(node, state, weftArchive ? [archive, weftArchive] : [archive], logs);
    save();
  }

  log('== waiting for the nodes to register and get pod CIDRs');
  const families = clusterCidrs(stack).length;
  const withCidrs = await waitFor(`${count} nodes with pod CIDRs`, readyTimeoutMs, async () => {
    for (const node of nodes) assertNodeAlive(node, state, logs);
    const items = await apiNodes();
    return items.length === count && items.every((n) => podCidrsOf(n).length === families) ? items : undefined;
  });
  for (const n of withCidrs) log(`  ${n.metadata.name}: podCIDRs ${podCidrsOf(n).join(',')}`);

  if (cni === 'reference') {
    log("== --cni=reference: bridge + host-local conflist in each node, routes to the other nodes' pod CIDRs");
    for (const n of withCidrs) {
      const node = nodes.find((x) => x.name === n.metadata.name)!;
      writeFileSync(join(node.dir, 'fs', 'etc/cni/net.d', '10-reference.conflist'), referenceConflist(podCidrsOf(n)));
    }
    await addReferenceRoutes(nodes, withCidrs);
    await waitFor(`${count} Ready nodes`, readyTimeoutMs, async () => {
      for (const node of nodes) assertNodeAlive(node, state, logs);
      const items = await apiNodes();
      return items.length === count && items.every(isReady) ? true : undefined;
    });
    log(`  all ${count} nodes Ready`);
  } else if (cni === 'weft' && opts.installWeft === false) {
    log(`  weft image imported, not installed: kubectl apply -k ${PINNED_OVERLAY.replace(`${REPO}/`, '')}`);
  } else if (cni === 'weft') {
    await installWeft(
      count,
      () => {
        for (const node of nodes) assertNodeAlive(node, state, logs);
      },
      log,
      readyTimeoutMs,
    );
  } else {
    log('  no pod network yet (--cni=none): nodes stay NotReady until one is installed');
  }
  state.ready = true;
  save();
  log(`\ncluster up. kubectl --kubeconfig ${KUBECONFIG.replace(`${REPO}/`, '')} get nodes -o wide`);
  return { reused: false };
}

// Its discovery cache under the cluster's state, not in $HOME (unset here,
// which would put it in the working directory).
export const KUBECTL_GLOBAL = ['--kubeconfig', KUBECONFIG, '--cache-dir', join(STATE, 'kubectl-cache')];

/** kubectl as the admin, from the repo root; rejects with its stderr. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  return must(join(BIN, 'kubectl'), [...KUBECTL_GLOBAL, ...args], input === undefined ? {} : { input });
}

/**
 * weft installed the way docs/install.md says, through PINNED_OVERLAY
 * (manifests/ with pull policy Never, the image by digest): then the DaemonSet Ready on every node
 * and every node Ready.
 */
async function installWeft(count: number, alive: () => void, log: (l: string) => void, timeoutMs: number): Promise<void> {
  log(`== --cni=weft: kubectl apply -k ${PINNED_OVERLAY.replace(`${REPO}/`, '')} (tools/cluster/weft, image pinned by digest)`);
  const started = Date.now();
  for (const line of (await kubectl(['apply', '-k', PINNED_OVERLAY])).trim().split('\n')) log(`  ${line}`);
  const diagnose = () => {
    // Synchronous best effort: what the pods and events say, for the timeout message.
    try {
      return (
        execFileSync(join(BIN, 'kubectl'), [...KUBECTL_GLOBAL, '-n', 'weft', 'get', 'ds,pods', '-o', 'wide'], { encoding: 'utf8' }) +
        execFileSync(join(BIN, 'kubectl'), [...KUBECTL_GLOBAL, '-n', 'weft', 'get', 'events', '--sort-by=.lastTimestamp'], { encoding: 'utf8' })
          .split('\n')
          .slice(-15)
          .join('\n')
      );
    } catch (err) {
      return (err as Error).message;
    }
  };
  await waitFor(
    `DaemonSet weft Ready on ${count} nodes`,
    timeoutMs,
    async () => {
      alive();
      const ds = JSON.parse(await kubectl(['-n', 'weft', 'get', 'ds', 'weft', '-o', 'json'])) as {
        status?: { numberReady?: number; desiredNumberScheduled?: number };
      };
      return ds.status?.desiredNumberScheduled === count && ds.status.numberReady === count ? true : undefined;
    },
    diagnose,
  );
  log(`  DaemonSet weft Ready on ${count} nodes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await waitFor(
    `${count} Ready nodes`,
    timeoutMs,
    async () => {
      alive();
      const items = await apiNodes();
      return items.length === count && items.every(isReady) ? true : undefined;
    },
    diagnose,
  );
  log(`  all ${count} nodes Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * The reference bridge plugin wires pods to their own node only; these routes
 * (in each node, to every other node's pod CIDRs via its underlay address of
 * that family, as a host-gw network does) let pods on different nodes reach
 * each other, so the reference network can run what weft runs.
 */
async function addReferenceRoutes(nodes: NodeInfo[], apiNodes: ApiNode[]): Promise<void> {
  for (const node of nodes) {
    for (const peer of apiNodes) {
      const via = nodes.find((x) => x.name === peer.metadata.name);
      if (!via || via === node) continue;
      for (const cidr of podCidrsOf(peer)) {
        const v6 = cidr.includes(':');
        await must('ip', ['-n', node.netns, ...(v6 ? ['-6'] : []), 'route', 'add', cidr, 'via', v6 ? via.ip6 : via.ip, 'dev', 'eth0']);
      }
    }
  }
}

async function startNode(node: NodeInfo, state: State, archives: string[], logs: string): Promise<void> {
  // Per-node dirs, plus what the kubelet and containerd read from the host side.
  for (const p of NODE_DIRS) mkdirSync(join(node.dir, 'fs', p), { recursive: true });
  for (const plugin of state.cni === 'weft' ? WEFT_CNI_PLUGINS : CNI_PLUGINS)
    copyFileSync(join(DEBIAN_CNI, plugin), join(node.dir, 'fs', 'opt/cni/bin', plugin));
  writeFileSync(join(node.dir, 'resolv.conf'), '');
  writeFileSync(join(node.dir, 'containerd.toml'), containerdConfig());
  writeFileSync(join(node.dir, 'kubelet.json'), kubeletConfig(node, join(STATE, 'pki')));
  writeFileSync(join(node.dir, 'kube-proxy.json'), kubeProxyConfig(node, state.stack ?? 'ipv4'));
  makeCgroupRoot(node.cgroupRoot);

  // Network namespace (ip netns, so `ip -n` works) on the underlay bridge.
  await must('ip', ['netns', 'add', node.netns]);
  const hostEnd = `weftc-${node.name}`;
  await must('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns]);
  await must('ip', ['link', 'set', hostEnd, 'master', BRIDGE, 'up']);
  await must('ip', ['-n', node.netns, 'addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
  await must('ip', ['-n', node.netns, 'link', 'set', 'eth0', 'up']);
  await must('ip', ['-n', node.netns, 'link', 'set', 'lo', 'up']);
  // No default route: nothing in a node can reach beyond the underlay. The
  // service range gets an on-link route so node processes (and hostNetwork
  // pods) can connect to ClusterIPs, which kube-proxy DNATs; an address with
  // no endpoints is left unanswered on the underlay, never forwarded by the host.
  await must('ip', ['-n', node.netns, 'route', 'add', SERVICE_CIDR, 'dev', 'eth0', 'src', node.ip]);
  await must('ip', ['netns', 'exec', node.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  // weftd, like a real node, takes the default route's interface as the
  // underlay. On-link and through no gateway: an address beyond the underlay
  // gets no ARP answer, so still nothing leaves it.
  if (state.cni === 'weft') await must('ip', ['-n', node.netns, 'route', 'add', 'default', 'dev', 'eth0', 'src', node.ip]);
  if (state.stack === 'dual') {
    // The same for IPv6: the underlay address (nodad: fixed addresses, usable
    // at once), the IPv6 Service range on-link, forwarding for pods, and for
    // weft the on-link default route its IPv6 underlay is found by.
    await must('ip', ['-n', node.netns, '-6', 'addr', 'add', `${node.ip6}/${UNDERLAY6_LENGTH}`, 'dev', 'eth0', 'nodad']);
    await must('ip', ['-n', node.netns, '-6', 'route', 'add', SERVICE_CIDR6, 'dev', 'eth0', 'src', node.ip6]);
    await must('ip', ['netns', 'exec', node.netns, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    if (state.cni === 'weft') await must('ip', ['-n', node.netns, '-6', 'route', 'add', 'default', 'dev', 'eth0', 'src', node.ip6]);
  }

  // Mount and UTS namespaces, kept by bind mounts of their files on a private mount.
  // (Private, so the namespace files' bind mounts are not copied into the
  // next node's new mount namespace.)
  if ((await sh('mountpoint', ['-q', NS_DIR])).code !== 0) {
    mkdirSync(NS_DIR, { recursive: true });
    await must('mount', ['--bind', NS_DIR, NS_DIR]);
    await must('mount', ['--make-private', NS_DIR]);
  }
  for (const f of [node.mntns, node.utsns]) writeFileSync(f, '');
  await must('nsenter', [
    `--net=/run/netns/${node.netns}`,
    '--',
    'unshare',
    `--mount=${node.mntns}`,
    `--uts=${node.utsns}`,
    '--propagation',
    'private',
    '--',
    'sh',
    '-c',
    nodeSetupScript(node),
  ]);
  await startNodeDaemons(node, state, archives, logs);
}

/** A node's containerd (importing `archives` into it), kubelet and kube-proxy, in its namespaces; their pids into state. */
async function startNodeDaemons(node: NodeInfo, state: State, archives: string[], logs: string): Promise<void> {
  const env = { PATH: NODE_PATH };
  const containerd = daemon(
    `${node.name} containerd`,
    inNode(node, [join(BIN, 'containerd'), '--config', join(node.dir, 'containerd.toml')]),
    join(logs, `${node.name}-containerd.log`),
    env,
  );
  state.pids[`${node.name}/containerd`] = containerd.pid!;
  const ctr = (args: string[]) =>
    must(inNode(node, [])[0]!, [...inNode(node, [join(BIN, 'ctr'), '--address', '/run/containerd/containerd.sock', ...args]).slice(1)], { env });
  await waitFor(`${node.name} containerd`, 30_000, async () => {
    if (!alive(containerd.pid)) throw new Error(`containerd exited:\n${logTail(join(logs, `${node.name}-containerd.log`))}`);
    await ctr(['version']);
    return true;
  });
  for (const archive of archives) await ctr(['-n', 'k8s.io', ...importArgs(archive)]);

  state.pids[`${node.name}/kubelet`] = daemon(
    `${node.name} kubelet`,
    inNode(node, [
      join(BIN, 'kubelet'),
      `--config=${join(node.dir, 'kubelet.json')}`,
      `--kubeconfig=${join(STATE, `kubeconfig-${node.name}`)}`,
      `--hostname-override=${node.name}`,
      `--node-ip=${nodeIps(node, state.stack ?? 'ipv4').join(',')}`,
      '--v=1',
    ]),
    join(logs, `${node.name}-kubelet.log`),
    env,
  ).pid!;
  state.pids[`${node.name}/kube-proxy`] = daemon(
    `${node.name} kube-proxy`,
    inNode(node, [join(BIN, 'kube-proxy'), `--config=${join(node.dir, 'kube-proxy.json')}`]),
    join(logs, `${node.name}-kube-proxy.log`),
    env,
  ).pid!;
}

function assertNodeAlive(node: NodeInfo, state: State, logs: string): void {
  for (const part of ['containerd', 'kubelet', 'kube-proxy']) {
    if (!alive(state.pids[`${node.name}/${part}`])) {
      throw new Error(`${node.name}'s ${part} exited:\n${logTail(join(logs, `${node.name}-${part}.log`))}`);
    }
  }
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('make cluster needs root (namespaces, mounts, cgroups)');
  const missing = TOOLS.filter((t) => !existsSync(join(BIN, t)));
  if (missing.length) throw new Error(`not built: ${missing.join(', ')} in ${BIN}: run make cluster-tools`);
  for (const p of CNI_PLUGINS) {
    if (!existsSync(join(DEBIAN_CNI, p))) throw new Error(`${DEBIAN_CNI}/${p} is missing: apt-get install containernetworking-plugins`);
  }
}

/** Whether a recorded cluster is all there: every process alive and the API server ready. */
export async function healthy(state = readState()): Promise<boolean> {
  if (!state) return false;
  if (!Object.values(state.pids).every(alive)) return false;
  return (await apiGet('/readyz')) !== undefined;
}

// --- down ----------------------------------------------------------------

function nsInode(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function statInode(path: string): string | undefined {
  try {
    return String(statSync(path).ino);
  } catch {
    return undefined;
  }
}

/**
 * The processes that belong to the cluster: anything in a node's network or
 * mount namespace (containerd, shims, kubelet, kube-proxy, host-network pods),
 * in a node's cgroup tree (every pod), or — with controlPlane — whose
 * command line names the state dir (the control plane) or that runs in the
 * outside namespace.
 */
function clusterPids(nodes: NodeInfo[], opts: { controlPlane: boolean } = { controlPlane: true }): number[] {
  const netInodes = new Set<string>();
  const outside = opts.controlPlane ? statInode(`/run/netns/${OUTSIDE.netns}`) : undefined;
  if (outside) netInodes.add(`net:[${outside}]`);
  const mntInodes = new Set<string>();
  for (const n of nodes) {
    const net = statInode(`/run/netns/${n.netns}`);
    if (net) netInodes.add(`net:[${net}]`);
    const mnt = statInode(n.mntns);
    if (mnt) mntInodes.add(`mnt:[${mnt}]`);
  }
  const cgroups = nodes.map((n) => `${n.cgroupRoot}/`);
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid || pid === process.ppid) continue;
    // Zombies hold nothing and cannot be killed; init reaps them.
    if (!alive(pid)) continue;
    try {
      if (netInodes.has(nsInode(`/proc/${e}/ns/net`) ?? '') || mntInodes.has(nsInode(`/proc/${e}/ns/mnt`) ?? '')) {
        pids.push(pid);
        continue;
      }
      const cg = readFileSync(`/proc/${e}/cgroup`, 'utf8');
      if (cgroups.some((c) => cg.includes(`:${c}`) || cg.includes(`:${c.slice(0, -1)}\n`))) {
        pids.push(pid);
        continue;
      }
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (opts.controlPlane && cmdline.includes(`${STATE}/`) && !cmdline.includes('cluster.ts')) pids.push(pid);
    } catch {
      // gone
    }
  }
  return pids;
}

/** The nodes a cluster may have left, from the state file or, without one, by name. */
function knownNodes(state: State | undefined): NodeInfo[] {
  const byName = new Map<string, NodeInfo>();
  for (const n of state?.nodes ?? []) byName.set(n.name, n);
  // Whatever a crashed or older run left: netns and cgroups named like ours.
  let netnses: string[] = [];
  try {
    netnses = readdirSync('/run/netns');
  } catch {
    /* none */
  }
  for (const ns of netnses) {
    const m = new RegExp(`^${PREFIX}-node(\\d+)$`).exec(ns);
    if (m) byName.set(`node${m[1]}`, nodeInfo(Number(m[1])));
  }
  for (const h of cgroupHierarchies()) {
    let entries: string[] = [];
    try {
      entries = readdirSync(h);
    } catch {
      continue;
    }
    for (const e of entries) {
      const m = new RegExp(`^${PREFIX}-node(\\d+)$`).exec(e);
      if (m) byName.set(`node${m[1]}`, nodeInfo(Number(m[1])));
    }
  }
  return [...byName.values()];
}

function kill(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

/** Waits up to `ms` for the processes to exit; returns those still running. */
async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && pids.some(alive)) await sleep(100);
  return pids.filter(alive);
}

function commMatches(pid: number, re: RegExp): boolean {
  try {
    return re.test(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
  } catch {
    return false;
  }
}

export async function down(opts: { log?: (line: string) => void } = {}): Promise<{ leftovers: string[] }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const state = readState();
  const nodes = knownNodes(state);

  // Kubelets first, so nothing restarts what we stop; then everything else.
  // The API server goes before etcd (it hangs on SIGTERM once etcd is gone).
  const byName = (re: RegExp) => clusterPids(nodes).filter((pid) => commMatches(pid, re));
  const first = byName(/^(kubelet|kube-proxy|kube-controller|kube-scheduler)/);
  kill(first, 'SIGKILL');
  await waitGone(first, 5000);
  const apiserver = byName(/^kube-apiserver/);
  kill(apiserver, 'SIGTERM');
  kill(await waitGone(apiserver, 5000), 'SIGKILL');
  for (let round = 0; round < 5; round++) {
    const rest = clusterPids(nodes);
    if (!rest.length) break;
    log(`stopping ${rest.length} processes`);
    kill(rest, round === 0 ? 'SIGTERM' : 'SIGKILL');
    await waitGone(rest, 3000);
  }

  const leftovers: string[] = [];
  const still = clusterPids(nodes);
  if (still.length) leftovers.push(`processes ${still.join(' ')}`);

  for (const node of nodes) {
    await sh('ip', ['netns', 'del', node.netns]);
    await sh('ip', ['link', 'del', `weftc-${node.name}`]);
    for (const f of [node.mntns, node.utsns]) {
      await sh('umount', [f]);
      rmSync(f, { force: true });
    }
  }
  await sh('ip', ['netns', 'del', OUTSIDE.netns]);
  await sh('ip', ['link', 'del', OUTSIDE.hostEnd]);
  await sh('ip', ['link', 'del', BRIDGE]);
  if ((await sh('mountpoint', ['-q', NS_DIR])).code === 0) await sh('umount', ['-l', NS_DIR]);
  rmSync(NS_DIR, { recursive: true, force: true });

  for (const node of nodes) leftovers.push(...(await removeCgroupRoot(node.cgroupRoot)));

  // Mounts a node left on the host side (none, normally: they live in its mount namespace).
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${STATE}/`));
  for (const m of mounts.sort().reverse()) await sh('umount', ['-l', m]);

  if (state) {
    for (const [name, value] of Object.entries(state.sysctls)) {
      if ((await readSysctl(name)) !== value) {
        try {
          writeSysctl(name, value);
        } catch (err) {
          leftovers.push(`sysctl ${name}: ${(err as Error).message}`);
        }
      }
    }
    for (const f of state.createdFiles ?? []) rmSync(f, { force: true });
    for (const dir of [...state.createdDirs].reverse()) {
      // Only if still empty of anything but the dirs we made: never someone else's files.
      const files = await sh('find', [dir, '-mindepth', '1', '-not', '-type', 'd']);
      if (files.stdout.trim() === '') rmSync(dir, { recursive: true, force: true });
      else leftovers.push(`${dir} (not empty, kept)`);
    }
  }
  // containerd's overlay snapshots may hold read-only bits: retry a few times.
  for (let i = 0; i < 5 && existsSync(STATE); i++) {
    try {
      rmSync(STATE, { recursive: true, force: true });
    } catch {
      await sleep(300);
    }
  }
  if (existsSync(STATE)) leftovers.push(STATE);
  if (nodes.length || state) log(leftovers.length ? `cluster removed, except: ${leftovers.join('; ')}` : 'cluster removed');
  else log('no cluster to remove');
  return { leftovers };
}

// --- exec / import-image ---------------------------------------------------

export async function nodeExec(nodeName: string, args: string[]): Promise<Result> {
  const state = readState();
  const node = state?.nodes.find((n) => n.name === nodeName);
  if (!node) throw new Error(`no node ${nodeName} in a running cluster`);
  const a = inNode(node, args);
  return sh(a[0]!, a.slice(1), { env: { PATH: NODE_PATH } });
}

export async function importImage(archive: string): Promise<void> {
  const state = readState();
  if (!state) throw new Error('no cluster is running: make cluster');
  for (const node of state.nodes) {
    const r = await nodeExec(node.name, [join(BIN, 'ctr'), '--address', '/run/containerd/containerd.sock', '-n', 'k8s.io', ...importArgs(archive)]);
    if (r.code !== 0) throw new Error(`import into ${node.name}: ${r.stderr}`);
  }
}

// --- the outside, and a node stopped and started ----------------------------

/** Creates OUTSIDE (removed by down, with any process in it). */
export async function addOutside(): Promise<void> {
  if (!readState()) throw new Error('no cluster is running: make cluster');
  await must('ip', ['netns', 'add', OUTSIDE.netns]);
  await must('ip', ['link', 'add', OUTSIDE.hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUTSIDE.netns]);
  await must('ip', ['link', 'set', OUTSIDE.hostEnd, 'master', BRIDGE, 'up']);
  await must('ip', ['-n', OUTSIDE.netns, 'addr', 'add', `${OUTSIDE.underlayIp}/24`, 'dev', 'eth0']);
  await must('ip', ['-n', OUTSIDE.netns, 'addr', 'add', `${OUTSIDE.ip}/32`, 'dev', 'lo']);
  await must('ip', ['-n', OUTSIDE.netns, 'link', 'set', 'lo', 'up']);
  await must('ip', ['-n', OUTSIDE.netns, 'link', 'set', 'eth0', 'up']);
}

function runningNode(name: string): { state: State; node: NodeInfo } {
  const state = readState();
  const node = state?.nodes.find((n) => n.name === name);
  if (!state || !node) throw new Error(`no node ${name} in a running cluster`);
  return { state, node };
}

/**
 * Stops all software on a node at once, as a power cut would: the kubelet
 * first (so it restarts nothing), then kube-proxy, containerd, its shims and
 * every pod (weftd too), with SIGKILL. The node's namespaces, disks and
 * kernel state (links, routes, the pods' network namespaces) stay for
 * startNodeAgain.
 */
export async function stopNode(name: string): Promise<void> {
  const { node } = runningNode(name);
  const pids = () => clusterPids([node], { controlPlane: false });
  const kubelet = pids().filter((pid) => commMatches(pid, /^kubelet$/));
  kill(kubelet, 'SIGKILL');
  await waitGone(kubelet, 5000);
  for (let round = 0; round < 5 && pids().length; round++) {
    const rest = pids();
    kill(rest, 'SIGKILL');
    await waitGone(rest, 3000);
  }
  const still = pids();
  if (still.length) throw new Error(`${name}: processes ${still.join(' ')} still run after SIGKILL (stuck in the kernel?)`);
}

/** Starts a stopped node's containerd, kubelet and kube-proxy again, on the disks they left. */
export async function startNodeAgain(name: string): Promise<void> {
  const { state, node } = runningNode(name);
  await startNodeDaemons(node, state, [], join(STATE, 'logs'));
  writeState(state);
}

// --- CLI -----------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const [cmd = 'up', ...rest] = argv;
  const flag = (name: string) => rest.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  switch (cmd) {
    case 'up': {
      const cni = (flag('cni') ?? 'none') as CniMode;
      if (cni !== 'none' && cni !== 'reference' && cni !== 'weft') throw new Error(`--cni=${cni}: use none, reference or weft`);
      const nodes = Number(flag('nodes') ?? 3);
      const stack = (flag('stack') ?? 'ipv4') as Stack;
      if (!STACKS.includes(stack)) throw new Error(`--stack=${stack}: use ${STACKS.join(' or ')}`);
      let interrupted = false;
      const onSignal = () => {
        if (interrupted) return;
        interrupted = true;
        aborted = true;
        console.log('\ninterrupted: removing what was started');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await up({ nodes, cni, stack });
        return 0;
      } catch (err) {
        if (!interrupted && !(err instanceof Aborted)) {
          console.error(`make cluster failed: ${(err as Error).message}`);
          rmSync(FAILED_LOGS, { recursive: true, force: true });
          if (existsSync(join(STATE, 'logs'))) {
            await sh('cp', ['-r', join(STATE, 'logs'), FAILED_LOGS]);
            console.error(`logs kept in ${FAILED_LOGS}`);
          }
        }
        await down();
        return interrupted ? 130 : 1;
      }
    }
    case 'down':
      process.on('SIGINT', () => console.log('removing the cluster; please wait'));
      return (await down()).leftovers.length ? 1 : 0;
    case 'status': {
      const state = readState();
      if (!state) {
        console.log('no cluster');
        return 1;
      }
      for (const [name, pid] of Object.entries(state.pids)) console.log(`${alive(pid) ? 'running' : 'DEAD   '} ${name} (pid ${pid})`);
      for (const n of await apiNodes()) console.log(`${n.metadata.name}: ${isReady(n) ? 'Ready' : 'NotReady'} podCIDRs=${podCidrsOf(n).join(',') || '-'}`);
      return (await healthy(state)) ? 0 : 1;
    }
    case 'exec': {
      const [node, sep, ...args] = rest;
      if (!node || sep !== '--' || !args.length) throw new Error('usage: cluster.ts exec NODE -- COMMAND [ARGS...]');
      const state = readState();
      const info = state?.nodes.find((n) => n.name === node);
      if (!info) throw new Error(`no node ${node} in a running cluster`);
      const a = inNode(info, args);
      const child = spawn(a[0]!, a.slice(1), { stdio: 'inherit', env: { ...process.env, PATH: NODE_PATH } });
      return new Promise((r) => child.on('exit', (code) => r(code ?? 1)));
    }
    case 'import-image':
      if (!rest[0]) throw new Error('usage: cluster.ts import-image ARCHIVE');
      await importImage(rest[0]);
      return 0;
    default:
      throw new Error(`unknown command ${cmd}: up, down, status, exec, import-image`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error((err as Error).message);
      process.exit(1);
    },
  );
}
