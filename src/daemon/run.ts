// weftd's run loop: underlay, own pod CIDR, VTEP published, node watch, and
// one reconcile pass for start-up, events and periodic resync alike. On exit
// it leaves every kernel entry in place: a restart or upgrade disrupts no
// pod traffic, and the next start reconciles whatever changed meanwhile.
import type { Server } from 'node:http';
import { type Cidr, formatAddress, parseCidr } from '../ipam/address.ts';
import { VTEP_IP, VTEP_MAC } from '../k8s/annotations.ts';
import { loadKubeConfig } from '../k8s/client.ts';
import { type NodeWatch, watchNodes } from '../k8s/node-watch.ts';
import { publishVtep, setNetworkAvailable } from '../k8s/node-status.ts';
import { macForName } from '../linux/mac.ts';
import { deviceName, type VxlanSpec } from '../overlay/device.ts';
import type { LocalView } from '../overlay/desired.ts';
import type { OverlayState } from '../overlay/types.ts';
import { peersFromNodes } from '../overlay/peers.ts';
import { reconcileOverlay } from '../overlay/reconcile.ts';
import { type DaemonConfig, VXLAN_OVERHEAD } from './config.ts';
import { serveHealth } from './health.ts';
import { ensureMasquerade } from './masquerade.ts';
import { createMetrics } from './metrics.ts';
import { waitForPodCidrs } from './own-node.ts';
import { type PassKind, createScheduler } from './scheduler.ts';
import { writeSubnetFile } from './subnet-file.ts';
import { detectUnderlay } from './underlay.ts';

export function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} weftd: ${msg}\n`);
}

export function parseClusterCidrs(texts: string[]): Cidr[] {
  if (texts.length === 0) throw new Error('--cluster-cidr is required: pass the cluster\'s pod network, e.g. --cluster-cidr 10.244.0.0/16');
  return texts.map((t) => {
    const c = parseCidr(t);
    if (!c || c.family !== 4) throw new Error(`--cluster-cidr ${JSON.stringify(t)} is not an IPv4 CIDR: write it like 10.244.0.0/16`);
    return c;
  });
}

export async function runDaemon(cfg: DaemonConfig, signal: AbortSignal): Promise<void> {
  const cluster = parseClusterCidrs(cfg.clusterCidrs);
  const metrics = createMetrics();
  let ready = false;
  let readyReason = 'waiting for this node\'s pod CIDR';
  let scheduler: ReturnType<typeof createScheduler> | undefined;
  let watch: NodeWatch | undefined;
  const server: Server = await serveHealth(cfg.healthAddr, {
    // Alive while passes keep finishing; a wedged pass (hung `ip`) is a restart.
    alive: () => !scheduler || Date.now() - scheduler.lastPassAt() < 3 * cfg.resyncMs + 30_000,
    ready: () => ready,
    readyReason: () => readyReason,
  }, metrics.registry);
  try {
    const kc = loadKubeConfig({ kubeconfig: cfg.kubeconfig });
    const underlay = detectUnderlay(cfg.underlay);
    log(`underlay ${underlay.name} (${underlay.ip}, MTU ${underlay.mtu}): ${underlay.reason}`);
    const podCidrs = await waitForPodCidrs(kc, cfg.nodeName, cluster, log, signal);
    log(`node ${cfg.nodeName} has pod CIDR ${podCidrs.join(', ')}`);
    const spec: VxlanSpec = {
      name: deviceName(cfg.vni),
      vni: cfg.vni,
      port: cfg.port,
      localIp: underlay.ip,
      underlay: underlay.name,
      mtu: cfg.mtu ?? underlay.mtu - VXLAN_OVERHEAD,
      mac: macForName(cfg.nodeName),
    };
    const vtep = { ip: spec.localIp, mac: spec.mac };
    const local: LocalView = {
      node: cfg.nodeName,
      podCidrs,
      device: spec.name,
      direct: cfg.directRouting ? { subnet: parseCidr(`${underlay.ip}/${underlay.prefix}`)!, dev: underlay.name } : undefined,
    };
    readyReason = 'waiting for the first full sync of Nodes';

    let subnetFileWritten = false;
    // Cleared before each pass, so a failed pass makes the next one re-read.
    let lastProgrammed: OverlayState | undefined;
    const pass = async (kind: PassKind) => {
      if (!watch?.synced()) return;
      const started = process.hrtime.bigint();
      const nodes = watch.snapshot();
      const { peers, skipped } = peersFromNodes(nodes, cluster);
      const known = kind === 'event' ? lastProgrammed : undefined;
      lastProgrammed = undefined;
      const result = reconcileOverlay(spec, peers, local, log, known);
      lastProgrammed = result.programmed;
      if (result.device !== 'unchanged') metrics.deviceRecreated.inc({ action: result.device });
      if (cfg.ipMasq) ensureMasquerade(cluster);
      metrics.reconcileSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      metrics.entriesAdded.inc(result.added);
      metrics.entriesRemoved.inc(result.removed);
      if (kind === 'periodic' && result.device === 'unchanged') metrics.driftRepaired.inc(result.added + result.removed);
      // One FDB entry per programmed peer; the node's own entry is never among them.
      const programmedPeers = result.programmed.fdb.length;
      metrics.peers.set(programmedPeers);
      metrics.skippedNodes.reset();
      for (const s of skipped.filter((x) => x.node !== cfg.nodeName)) metrics.skippedNodes.inc({ reason: s.malformed ? 'malformed' : 'not-ready' });
      for (const s of [...skipped.filter((x) => x.malformed), ...result.conflicts]) log(`skipping node ${s.node}: it ${s.problem}`);
      if (result.added + result.removed > 0) log(`programmed ${programmedPeers} peers: ${result.added} entries added, ${result.removed} removed (${kind})`);

      const own = watch.get(cfg.nodeName);
      if (own && (own.annotations[VTEP_IP] !== vtep.ip || own.annotations[VTEP_MAC] !== vtep.mac)) {
        await publishVtep(kc, cfg.nodeName, vtep);
        log(`published VTEP ${vtep.ip} ${vtep.mac} on node ${cfg.nodeName}`);
      }
      if (!subnetFileWritten) {
        writeSubnetFile(cfg.subnetFile, {
          version: 1,
          clusterNetworks: cfg.clusterCidrs,
          subnets: podCidrs.map((c) => ({ subnet: c, gateway: formatAddress({ family: 4, value: parseCidr(c)!.network + 1n }) })),
          mtu: spec.mtu,
          ipMasq: cfg.ipMasq,
        });
        subnetFileWritten = true;
        log(`wrote ${cfg.subnetFile}`);
        await setNetworkAvailable(kc, cfg.nodeName, `weft VXLAN overlay on ${spec.name} is up`);
        ready = true;
        readyReason = 'ready';
      }
    };
    scheduler = createScheduler(pass, {
      coalesceMs: cfg.coalesceMs,
      retryMs: 1000,
      periodicMs: cfg.resyncMs,
      onError: (err) => {
        metrics.reconcileErrors.inc();
        log(`reconcile failed, retrying: ${(err as Error).message}`);
      },
    });
    await publishVtep(kc, cfg.nodeName, vtep);
    log(`published VTEP ${vtep.ip} ${vtep.mac} on node ${cfg.nodeName}`);
    watch = watchNodes(kc, () => scheduler!.trigger(), {
      watchdogMs: cfg.watchdogMs,
      log,
      onRestart: (reason) => metrics.watchRestarts.inc({ reason }),
      onApiError: () => metrics.apiErrors.inc(),
    });
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    log('stopping; kernel state stays in place');
  } finally {
    scheduler?.stop();
    await watch?.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
