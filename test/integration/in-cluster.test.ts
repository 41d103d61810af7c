// The DaemonSet's pod, run the way a kubelet runs it, on two nodes of a test
// Cluster: kubectl applies manifests/, and for each node runc starts the pod's
// containers from the rendered DaemonSet as they are written there (command,
// env, volume mounts, securityContext, memory limit) in the node's network
// namespace (hostNetwork). weftd finds the API server as in any pod, through
// KUBERNETES_SERVICE_HOST/PORT and the service-account token in the projected
// volume the manifests mount at /var/run/secrets/kubernetes.io/serviceaccount
// (in the weftd container only), here a token of the weft ServiceAccount bound
// to a Pod object on that node, minted with the TokenRequest API as the
// kubelet does: so the test proves that the ClusterRole and the admission
// policy are enough for weftd's whole job, and that the securityContext
// (root, NET_ADMIN only, not privileged, read-only root file system) is
// enough for the kernel side.
//
// The image is stood in for by the host's /usr and /etc (the image is
// debian:12-slim with the same packages) and dist/weft and dist/weftd at
// /usr/local/bin. Needs root, runc, tools/kube-tools.sh and make build.

import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { macForName } from '../../src/net/mac.ts';
import { describeEitherApiError, podBoundToken, tokenConfig } from '../../testbed/apiserver.ts';
import { CLUSTER_CIDR, Cluster, type ClusterNode } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';
import { tempDir } from '../../testbed/fixtures.ts';
import { findObject, kubectlFor, MANIFESTS, renderManifests } from '../../testbed/kubectl.ts';
import { DIST } from '../../testbed/paths.ts';
import { diesWithParent, launch } from '../../testbed/process.ts';
import { SYSTEM_PATH, sh } from '../../testbed/shell.ts';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

// --- the parts of a DaemonSet this test reads --------------------------

type EnvVar = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } };
type HttpProbe = { httpGet: { path: string; port: number } };
type Container = {
  name: string;
  command: string[];
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext: {
    runAsUser?: number;
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  resources?: { limits?: { memory?: string } };
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
};
type ProjectedSource = {
  serviceAccountToken?: { path: string; expirationSeconds?: number; audience?: string };
  configMap?: { name: string; items?: { key: string; path: string }[] };
  downwardAPI?: { items: { path: string; fieldRef?: { fieldPath: string } }[] };
};
type Volume = {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
  projected?: { sources: ProjectedSource[] };
};
type PodSpec = {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  initContainers?: Container[];
  containers: Container[];
  volumes: Volume[];
};
type DaemonSet = { spec: { template: { spec: PodSpec } } };
type ConfigMap = { metadata: { name: string }; data: Record<string, string> };

// --- a kubelet in miniature ----------------------------------------------

type PodContext = {
  t: ExecutionContext;
  node: ClusterNode;
  pod: PodSpec;
  configMaps: ConfigMap[];
  /** The pod's namespace, for downwardAPI's metadata.namespace. */
  namespace: string;
  /** A token for the pod's ServiceAccount bound to the pod, as the kubelet asks the TokenRequest API for it. */
  serviceAccountToken: (source: NonNullable<ProjectedSource['serviceAccountToken']>) => Promise<string>;
  /** The API server, as the kubelet sets KUBERNETES_SERVICE_HOST/PORT. */
  apiServer: URL;
  /**
   * Test-only environment by container name, after the container's own
   * (weftd's flags all have WEFTD_* twins; strict, so only the subcommand's).
   */
  extraEnv: Record<string, Record<string, string>>;
  /** runc's state directory, this test's own. */
  runcRoot: string;
  dir: string;
};

/**
 * Where a hostPath lives on a test node: /run/weft is the node's dir, where
 * Cluster's CNI config reads the subnet file; everything else under
 * <node dir>/host.
 */
function hostPathOnNode(node: ClusterNode, path: string): string {
  return path === '/run/weft' ? node.dir : join(node.dir, 'host', path);
}

function bytes(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (!m) throw new Error(`memory quantity ${quantity}: this test reads only plain numbers, Ki, Mi and Gi`);
  return Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? ''] ?? 1);
}

/** The OCI runtime config for one container of the pod, as a kubelet and containerd would make it. */
async function ociConfig(ctx: PodContext, container: Container, rootfs: string): Promise<object> {
  const sc = container.securityContext;
  if (sc.privileged) throw new Error(`${container.name} is privileged: this test runs only unprivileged containers`);
  if (!sc.capabilities?.drop?.includes('ALL')) throw new Error(`${container.name} does not drop ALL capabilities: this test knows no runtime defaults`);
  const caps = (sc.capabilities.add ?? []).map((c) => `CAP_${c}`);
  const env = (container.env ?? []).map((e) => {
    if (e.value !== undefined) return `${e.name}=${e.value}`;
    if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') return `${e.name}=${ctx.node.name}`;
    throw new Error(`${container.name}: env ${e.name} comes from ${JSON.stringify(e.valueFrom)}, which this test cannot resolve`);
  });
  const mounts: object[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    // Unprivileged containers get /sys read-only, host network or not.
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    // The image: Debian 12's userland (its /etc is a copy in the rootfs, see
    // runContainer), and weft's two executables.
    { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] },
    { destination: '/usr/local/bin', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755'] },
    { destination: '/usr/local/bin/weft', type: 'bind', source: join(DIST, 'weft'), options: ['bind', 'ro'] },
    { destination: '/usr/local/bin/weftd', type: 'bind', source: join(DIST, 'weftd'), options: ['bind', 'ro'] },
  ];
  // No automounted token: only a container that mounts a projected token volume gets one.
  if (ctx.pod.automountServiceAccountToken !== false) {
    throw new Error('the pod does not set automountServiceAccountToken: false: this test mounts only projected tokens');
  }
  for (const m of container.volumeMounts ?? []) {
    const volume = ctx.pod.volumes.find((v) => v.name === m.name);
    if (!volume) throw new Error(`${container.name} mounts volume ${m.name}, which the pod does not define`);
    let source: string;
    if (volume.hostPath) {
      source = hostPathOnNode(ctx.node, volume.hostPath.path);
      if (volume.hostPath.type === 'FileOrCreate') {
        mkdirSync(dirname(source), { recursive: true });
        closeSync(openSync(source, 'a'));
      } else {
        mkdirSync(source, { recursive: true });
      }
    } else if (volume.configMap) {
      const name = volume.configMap.name;
      source = join(ctx.dir, 'configmaps', name);
      mkdirSync(source, { recursive: true });
      for (const [key, text] of Object.entries(configMapData(ctx, m.name, name))) writeFileSync(join(source, key), text);
    } else if (volume.projected) {
      // Plain files: the kubelet's ..data symlinks are covered by test/unit/k8s-client.test.ts.
      source = join(ctx.dir, 'projected', `${container.name}-${volume.name}`);
      mkdirSync(source, { recursive: true });
      for (const s of volume.projected.sources) {
        if (s.serviceAccountToken) {
          writeFileSync(join(source, s.serviceAccountToken.path), await ctx.serviceAccountToken(s.serviceAccountToken));
        } else if (s.configMap) {
          const data = configMapData(ctx, m.name, s.configMap.name);
          for (const { key, path } of s.configMap.items ?? Object.keys(data).map((k) => ({ key: k, path: k }))) {
            if (data[key] === undefined) throw new Error(`volume ${m.name} needs key ${key} of ConfigMap ${s.configMap.name}`);
            writeFileSync(join(source, path), data[key]);
          }
        } else if (s.downwardAPI) {
          for (const item of s.downwardAPI.items) {
            if (item.fieldRef?.fieldPath !== 'metadata.namespace') throw new Error(`volume ${m.name}: this test resolves only metadata.namespace`);
            writeFileSync(join(source, item.path), ctx.namespace);
          }
        } else {
          throw new Error(`volume ${m.name}: this test knows serviceAccountToken, configMap and downwardAPI projections only`);
        }
      }
    } else {
      throw new Error(`volume ${m.name}: this test knows hostPath, configMap and projected volumes only`);
    }
    mounts.push({ destination: m.mountPath, type: 'bind', source, options: ['rbind', m.readOnly ? 'ro' : 'rw'] });
  }
  const limit = container.resources?.limits?.memory;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: sc.runAsUser ?? 0, gid: 0 },
      // The container dies with the runc that runs it, which dies with this
      // test's thread (see launch), however it ends.
      args: diesWithParent([...container.command, ...(container.args ?? [])]),
      env: [
        `PATH=${SYSTEM_PATH}`,
        `KUBERNETES_SERVICE_HOST=${ctx.apiServer.hostname}`,
        `KUBERNETES_SERVICE_PORT=${ctx.apiServer.port}`,
        ...env,
        ...Object.entries(ctx.extraEnv[container.name] ?? {}).map(([k, v]) => `${k}=${v}`),
      ],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: sc.allowPrivilegeEscalation === false,
    },
    root: { path: rootfs, readonly: sc.readOnlyRootFilesystem === true },
    hostname: ctx.node.name,
    mounts,
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        ctx.pod.hostNetwork ? { type: 'network', path: `/var/run/netns/${ctx.node.netns}` } : { type: 'network' },
      ],
      cgroupsPath: `/weft-test-${ctx.node.netns}-${container.name}`,
      resources: limit ? { memory: { limit: bytes(limit) } } : {},
      // What containerd masks and makes read-only in every unprivileged container.
      maskedPaths: [
        '/proc/acpi',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
      ],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

type Running = {
  name: string;
  log: string;
  exited: Promise<number>;
  /** The container cgroup's peak memory use in bytes (cgroup v1 or v2), while it exists. */
  peakMemory(): number | undefined;
  /** SIGTERM, as the kubelet stops a container; resolves to the exit code. */
  stop(): Promise<number>;
};

async function runContainer(ctx: PodContext, container: Container): Promise<Running> {
  const id = `${ctx.node.netns}-${container.name}`;
  const bundle = join(ctx.dir, container.name);
  const rootfs = join(bundle, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  // Debian 12 is merged-/usr: these are symlinks in the image too.
  for (const dir of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${dir}`, join(rootfs, dir));
  // A copy, not a mount: mounts (like /etc/weft) need their mount points
  // made in it before the root turns read-only.
  cpSync('/etc', join(rootfs, 'etc'), { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(await ociConfig(ctx, container, rootfs), null, 2));
  const log = join(ctx.dir, `${container.name}.log`);
  const runc = launch(['runc', '--root', ctx.runcRoot, 'run', '--bundle', bundle, id], { log });
  const exited = runc.ended.then(() => runc.child.exitCode ?? (runc.child.signalCode ? 128 : 1));
  ctx.t.teardown(async () => {
    await sh('runc', ['--root', ctx.runcRoot, 'kill', id, 'KILL']);
    await exited;
    await sh('runc', ['--root', ctx.runcRoot, 'delete', '--force', id]);
  });
  const cgroup = `weft-test-${id}`;
  return {
    name: container.name,
    log,
    exited,
    peakMemory() {
      for (const file of [`/sys/fs/cgroup/memory/${cgroup}/memory.max_usage_in_bytes`, `/sys/fs/cgroup/${cgroup}/memory.peak`]) {
        if (existsSync(file)) return Number(readFileSync(file, 'utf8').trim());
      }
      return undefined;
    },
    async stop() {
      await sh('runc', ['--root', ctx.runcRoot, 'kill', id, 'TERM']);
      return exited;
    },
  };
}

/** A ConfigMap the manifests define, or one the cluster publishes in every namespace (kube-root-ca.crt). */
function configMapData(ctx: PodContext, volume: string, name: string): Record<string, string> {
  const cm = ctx.configMaps.find((c) => c.metadata.name === name);
  if (!cm) throw new Error(`volume ${volume} needs ConfigMap ${name}, which neither the manifests nor the cluster define`);
  return cm.data;
}

/** The pod: its init containers one after the other to success, then its containers. */
async function startPod(ctx: PodContext): Promise<Running[]> {
  for (const init of ctx.pod.initContainers ?? []) {
    const run = await runContainer(ctx, init);
    const code = await run.exited;
    if (code !== 0) throw new Error(`init container ${init.name} on ${ctx.node.name} exited ${code}:\n${readFileSync(run.log, 'utf8')}`);
  }
  return Promise.all(ctx.pod.containers.map((c) => runContainer(ctx, c)));
}

/** An HTTP GET from inside the node's network namespace, as the kubelet probes a host-network pod. */
async function probe(node: ClusterNode, p: HttpProbe | undefined): Promise<number> {
  if (!p) throw new Error('the container has no HTTP probe');
  const r = await sh('ip', ['netns', 'exec', node.netns, 'socat', '-t', '5', '-', `TCP:127.0.0.1:${p.httpGet.port}`], `GET ${p.httpGet.path} HTTP/1.0\r\n\r\n`);
  return Number(/^HTTP\/1\.\d (\d+)/.exec(String(r.stdout))?.[1] ?? 0);
}

// --- the test --------------------------------------------------------------

test("the DaemonSet's pod installs the plugin and runs the overlay with the weft ServiceAccount, unprivileged", async (t) => {
  const cluster = await Cluster.start(2);
  t.teardown(() => cluster.destroy());
  const admin = kubectlFor(t, { kubeconfig: cluster.cp.kubeconfig });
  await admin.ok(['apply', '-f', MANIFESTS]);
  const objects = await renderManifests(admin);
  const pod = findObject<DaemonSet>(objects, 'DaemonSet', 'weft').spec.template.spec;
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap') as unknown as ConfigMap[];
  const weftd = pod.containers.find((c) => c.name === 'weftd')!;
  const netConf = JSON.parse(findObject<ConfigMap>(objects, 'ConfigMap', 'weft-config').data['net-conf.json']!) as { network: string };
  t.is(netConf.network, CLUSTER_CIDR, "the test cluster uses the manifests' pod network");

  // kube-controller-manager (not run here) publishes the cluster's CA in every
  // namespace as the ConfigMap kube-root-ca.crt.
  configMaps.push({ metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': readFileSync(cluster.cp.caFile, 'utf8') } });
  const core = cluster.cp.adminConfig().makeApiClient(CoreV1Api);
  const tokens = new Map<ClusterNode, string>();

  const runcRoot = tempDir(t);
  const podDirs = new Map<ClusterNode, string>();
  const running = new Map<ClusterNode, Running[]>();
  for (const node of cluster.nodes) {
    podDirs.set(node, tempDir(t));
    running.set(
      node,
      await startPod({
        t,
        node,
        pod,
        configMaps,
        namespace: 'weft',
        // The kubelet's TokenRequest for the pod's projected token: bound to
        // the pod, which is scheduled to this node.
        serviceAccountToken: async (source) => {
          const token = await podBoundToken(core, {
            namespace: 'weft',
            serviceAccount: pod.serviceAccountName ?? 'default',
            pod: `weft-${node.name}`,
            node: node.name,
            expirationSeconds: source.expirationSeconds,
          });
          tokens.set(node, token);
          return token;
        },
        runcRoot,
        // Each node's socat forwards 127.0.0.1:<port> to the API server.
        apiServer: new URL(cluster.cp.server),
        // The test nodes have no default route to pick the underlay by.
        extraEnv: { weftd: { WEFTD_IFACE: 'eth0' } },
        dir: podDirs.get(node)!,
      }),
    );
  }

  // Only weftd got a token: install-cni, which never calls the API, has nothing at the service-account path.
  for (const node of cluster.nodes) {
    const mounts = (name: string) =>
      (JSON.parse(readFileSync(join(podDirs.get(node)!, name, 'config.json'), 'utf8')) as { mounts: { destination: string }[] }).mounts.map(
        (m) => m.destination,
      );
    t.false(
      mounts('install-cni').some((d) => d.startsWith('/var/run/secrets')),
      `${node.name}: install-cni has no token`,
    );
    t.true(mounts('weftd').includes(SERVICE_ACCOUNT_DIR), `${node.name}: weftd has one`);
  }

  // install-cni put the plugin and the conflist into each node's CNI dirs.
  const cniConf = findObject<ConfigMap>(objects, 'ConfigMap', 'weft-config').data['cni-conf.json']!;
  for (const node of cluster.nodes) {
    const plugin = join(hostPathOnNode(node, '/opt/cni/bin'), 'weft');
    t.is(statSync(plugin).size, statSync(join(DIST, 'weft')).size, `${node.name}: the plugin is installed whole`);
    t.is(statSync(plugin).mode & 0o777, 0o755);
    t.is(readFileSync(join(hostPathOnNode(node, '/etc/cni/net.d'), '10-weft.conflist'), 'utf8'), cniConf);
  }

  // weftd comes up ready on both nodes, by the manifest's own probes.
  const weftdOn = (node: ClusterNode): Running => running.get(node)!.find((c) => c.name === 'weftd')!;
  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${readFileSync(weftdOn(n).log, 'utf8')}`).join('\n');
  for (const node of cluster.nodes) {
    await eventually(`weftd ready on ${node.name}`, async () => (await probe(node, weftd.readinessProbe)) === 200 || undefined, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${logs()}`);
    });
    t.is(await probe(node, weftd.livenessProbe), 200);
  }

  // It published its VTEP and marked the network available, with the
  // ServiceAccount's token alone.
  for (const node of cluster.nodes) {
    const n = await cluster.core.readNode({ name: node.name });
    t.is(n.metadata?.annotations?.['weft.dev/vtep-ip'], node.underlayIp);
    t.regex(n.metadata?.annotations?.['weft.dev/vtep-mac'] ?? '', /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const condition = n.status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
    t.like(condition, { status: 'False', reason: 'WeftIsUp' });
  }
  // net-conf.json's ipMasq took effect: iptables ran with the container's capabilities.
  const nat = await cluster.inNode(cluster.nodes[0]!, 'iptables', ['-w', '-t', 'nat', '-S', 'WEFT-POSTROUTING']);
  t.regex(String(nat.stdout), new RegExp(`-s ${CLUSTER_CIDR.replaceAll('.', '\\.')} .*-j MASQUERADE`));

  // Pods on the two nodes reach each other over the overlay.
  const [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
  const a = await cluster.addPod(node1);
  const b = await cluster.addPod(node2);
  t.true((await cluster.ping(a, b.ip, 3)).ok, 'pod on node1 pings pod on node2');

  // The watch works: a Node that appears later is programmed on node1.
  await cluster.core.createNode({
    body: {
      metadata: { name: 'node3', annotations: { 'weft.dev/vtep-ip': '10.229.0.13', 'weft.dev/vtep-mac': macForName('node3') } },
      spec: { podCIDR: '10.244.3.0/24', podCIDRs: ['10.244.3.0/24'] },
    },
  });
  await eventually("node1 routes node3's pod CIDR", async () => {
    const r = await cluster.inNode(node1, 'ip', ['route', 'show', '10.244.3.0/24']);
    return /via 10\.244\.3\.0 dev weft\.1 .*onlink/.test(String(r.stdout)) || undefined;
  });

  // node1's token is refused everything the ClusterRole does not grant, and
  // by the admission policy, any write to another Node.
  const token = tokens.get(node1)!;
  const asWeft = kubectlFor(t, { server: cluster.cp.server, caFile: cluster.cp.caFile, token });
  t.regex(await asWeft.ok(['get', 'nodes', '-o', 'name']), /node\/node3/, 'the token works for what it may do');
  for (const args of [
    ['get', 'secrets', '-A'],
    ['get', 'configmaps', '-n', 'weft'],
    ['delete', 'node', 'node3'],
    ['get', 'pods', '-A'],
  ]) {
    const refused = await asWeft.run(args);
    t.not(refused.exitCode, 0, `kubectl ${args.join(' ')} as weft`);
    t.regex(refused.stderr, /Forbidden.*"system:serviceaccount:weft:weft" cannot/, `kubectl ${args.join(' ')} as weft`);
  }
  // (Not with kubectl patch --subresource=status: it reads nodes/status first, which RBAC refuses.)
  const foreign = await tokenConfig(cluster.cp.server, cluster.cp.caFile, token)
    .makeApiClient(CoreV1Api)
    .patchNodeStatus(
      { name: 'node2', body: { metadata: { annotations: { 'weft.dev/vtep-ip': '10.229.0.66' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    .then(() => 'allowed', describeEitherApiError);
  t.regex(foreign, /^HTTP 403: .*ValidatingAdmissionPolicy 'weft-own-node-only' .*denied request: weft on node node1 may not update Node node2, only its own$/);
  t.notRegex(logs(), /HTTP 40[13]\b|forbidden/i, 'weftd was never refused anything');

  // The memory limit leaves room: report what the container really used.
  const limit = bytes(weftd.resources!.limits!.memory!);
  for (const node of cluster.nodes) {
    const peak = weftdOn(node).peakMemory();
    if (peak !== undefined) {
      t.log(`${node.name}: weftd container peak memory ${(peak / 2 ** 20).toFixed(1)} MiB of its ${weftd.resources!.limits!.memory} limit`);
      t.true(peak < limit);
    }
  }

  // Stopped as on an upgrade, weftd exits cleanly and leaves the overlay in place.
  t.is(await weftdOn(node1).stop(), 0, 'weftd exits 0 on SIGTERM');
  t.true((await cluster.ping(a, b.ip, 3)).ok, 'pods still reach each other with weftd stopped');
});
