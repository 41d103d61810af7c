// The two overlay daemons bench-overlay measures, each started in a node
// namespace of testbed's Cluster against the same API server: weftd as it
// ships (dist/weftd, shipped timers) and flannel v0.28.10 (tools/flannel.sh)
// with its kube subnet manager and vxlan backend on the same cluster network,
// VNI and UDP port. Both run as the same measured Node.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WEFTD_DEFAULTS } from '../src/daemon/config.ts';
import { WEFT_ROUTE_PROTOCOL } from '../src/overlay/kernel-state.ts';
import { type Cluster, type ClusterNode, SHIPPED_TIMERS } from '../testbed/cluster.ts';
import { CACHE_BIN, DIST } from '../testbed/paths.ts';
import { type Launched, launch, logTail, waitReady } from '../testbed/process.ts';
import { wallMs } from './lib/kube-api.ts';
import type { DaemonName } from './overlay-convergence-report.ts';
import { FAKE_CLUSTER_CIDR, FAKE_VNI } from './overlay-fake-nodes.ts';

export const FLANNELD = join(CACHE_BIN, 'flanneld');
/** flannel's routes carry the protocol netlink gives by default, RTPROT_BOOT. */
const RTPROT_BOOT = 3;

export type Spawned = { startWallMs: number; readyMs: number | null; pid: number };

export type Daemon = {
  name: DaemonName;
  /** Its VXLAN device: every peer entry it programs is on it. */
  device: string;
  routeProtocol: number;
  /** Its executable, which the bench pages in afresh before each start (bench/lib/page-cache.ts). */
  executable: string;
  /** Spawns it; weftd's start returns at /readyz 200, flannel's (no readiness) at once. */
  start(): Promise<Spawned>;
  /** undefined while it runs, else how it ended. */
  exitStatus(): string | undefined;
  stop(): Promise<void>;
  logTail(): string;
};

export function weftd(c: Cluster, node: ClusterNode, nodeName: string): Daemon {
  return {
    name: 'weftd',
    device: `weft.${WEFTD_DEFAULTS.vni}`,
    routeProtocol: WEFT_ROUTE_PROTOCOL,
    executable: join(DIST, 'weftd'),
    async start() {
      const startWallMs = wallMs();
      const started = performance.now();
      // By variable, so it replaces the Cluster's own --cluster-cidr (the flag adds up when repeated).
      await c.startWeftd(node, ['--vni', String(FAKE_VNI)], { ...SHIPPED_TIMERS, WEFTD_NODE_NAME: nodeName, WEFTD_CLUSTER_CIDR: FAKE_CLUSTER_CIDR });
      const p = node.weftd!;
      await waitReady(p, "weftd's /readyz", 300_000, async () => (await c.weftdHttp(node, '/readyz', 1000)).status === 200, 10);
      return { startWallMs, readyMs: performance.now() - started, pid: p.child.pid! };
    },
    exitStatus: () => (node.weftd ? node.weftd.exitStatus() : 'not started'),
    stop: () => c.stopWeftd(node),
    logTail: () => logTail({ log: node.weftdLog }),
  };
}

/** flanneld as its DaemonSet runs it, but NODE_NAME given instead of the pod's name; its log and config in `dir`. */
export function flannel(c: Cluster, node: ClusterNode, nodeName: string, dir: string): Daemon {
  const netConf = join(dir, 'flannel-net-conf.json');
  writeFileSync(netConf, JSON.stringify({ Network: FAKE_CLUSTER_CIDR, Backend: { Type: 'vxlan', VNI: FAKE_VNI, Port: WEFTD_DEFAULTS.port } }));
  const log = join(dir, 'flanneld.log');
  let p: Launched | undefined;
  return {
    name: 'flannel',
    device: `flannel.${FAKE_VNI}`,
    routeProtocol: RTPROT_BOOT,
    executable: FLANNELD,
    async start() {
      const argv = [
        'ip',
        'netns',
        'exec',
        node.netns,
        FLANNELD,
        '--kube-subnet-mgr',
        `--kubeconfig-file=${c.cp.kubeconfig}`,
        '--iface=eth0',
        `--net-config-path=${netConf}`,
        `--subnet-file=${join(dir, 'flannel-subnet.env')}`,
      ];
      const startWallMs = wallMs();
      // `ip netns exec` execs in place: the pid is flanneld's own.
      p = launch(argv, { log, unref: true, env: { NODE_NAME: nodeName }, name: 'flanneld' });
      return { startWallMs, readyMs: null, pid: p.child.pid! };
    },
    exitStatus: () => (p ? p.exitStatus() : 'not started'),
    async stop() {
      await p?.stop();
      p = undefined;
    },
    logTail: () => logTail({ log }),
  };
}
