// weftd's run loop: underlay, own pod CIDR, VTEP published, node watch, and
// one reconcile pass for start-up, events and periodic resync alike. On exit
// it leaves every kernel entry in place: a restart or upgrade disrupts no
// pod traffic, and the next start reconciles whatever changed meanwhile.
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { type Vteps, vtepsPublished } from '../k8s/annotations.ts';
import type { ApiClient } from '../k8s/api-client.ts';
import { exponentialBackoff } from '../k8s/backoff.ts';
import { loadApiClient } from '../k8s/client.ts';
import { postNodeEvent } from '../k8s/node-events.ts';
import { publishVteps, setNetworkAvailable } from '../k8s/node-status.ts';
import { type NodeInfo, type NodeWatch, watchNodes } from '../k8s/node-watch.ts';
import { type RetriedRequest, type RetryOptions, retriedRequest } from '../k8s/retry.ts';
import { type Cidr, FAMILIES, formatCidr, parseAddress, parseCidr } from '../net/address.ts';
import { vtepMacFor } from '../net/mac.ts';
import { deviceName, removeDevice, type VxlanSpec } from '../overlay/device.ts';
import type { LocalView } from '../overlay/route-choice.ts';
import type { VtepContext } from '../overlay/vtep-checks.ts';
import { ensureSubnetFile, subnetFileFor } from '../subnet/subnet-file.ts';
import { messageOf } from '../text/error-message.ts';
import { createConfOrderReport } from './conf-order-report.ts';
import { type DaemonConfig, VXLAN_OVERHEAD } from './config.ts';
import { serveHealth, serveMetrics } from './health.ts';
import { createMetrics } from './metrics.ts';
import { createNodeMasquerade } from './node-masquerade.ts';
import { createOverlayPass, type OverlayPass } from './overlay-pass.ts';
import { waitForPodCidrs } from './own-node.ts';
import { type Attempt, readiness } from './readiness.ts';
import { createScheduler, type PassKind } from './scheduler.ts';
import { detectUnderlays, type Underlays } from './underlay.ts';
import { createVxlanIngress, type VxlanIngress } from './vxlan-ingress.ts';

/**
 * The overlay over the node's underlays: a VXLAN device of each family, the
 * VTEPs to publish, and this node's view for routes and peer checks.
 */
export function overlayOf(
  cfg: Pick<DaemonConfig, 'nodeName' | 'vni' | 'port' | 'mtu' | 'directRouting'>,
  underlays: Underlays,
): { specs: VxlanSpec[]; vteps: Vteps; local: LocalView; contexts: { 4?: VtepContext; 6?: VtepContext } } {
  const specs: VxlanSpec[] = [];
  const vteps: Vteps = {};
  const local: LocalView = { devices: {}, direct: cfg.directRouting ? {} : undefined };
  const contexts: { 4?: VtepContext; 6?: VtepContext } = {};
  for (const family of FAMILIES) {
    const u = underlays[family];
    if (!u) continue;
    const spec: VxlanSpec = {
      name: deviceName(cfg.vni, family),
      family,
      vni: cfg.vni,
      port: cfg.port,
      localIp: u.ip,
      underlay: u.name,
      mtu: cfg.mtu ?? u.mtu - VXLAN_OVERHEAD[family],
      mac: vtepMacFor(cfg.nodeName, family),
    };
    const subnet = parseCidr(`${u.ip}/${u.prefix}`)!;
    specs.push(spec);
    vteps[family] = { ip: spec.localIp, mac: spec.mac };
    local.devices[family] = spec.name;
    if (local.direct) local.direct[family] = { subnet, dev: u.name };
    contexts[family] = { ownIp: parseAddress(u.ip)!, underlay: subnet };
  }
  return { specs, vteps, local, contexts };
}

// A pass after a full list of Nodes (the first, and any relist) follows
// every Node parsed from JSON at once, the most garbage weftd ever makes (a
// heap twice what it keeps). One memory-reducing collection right then gives
// those pages back, before weftd says it is ready; V8's own memory reducer,
// which would do it some 8 s later in the middle of whatever Node event came
// then, is off (tools/build.ts). `gc` exists where the executable exposes it.
function releaseListGarbage(): void {
  (globalThis as { gc?: (options: object) => void }).gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

export function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} weftd: ${msg}\n`);
}

function attempt(request: RetriedRequest | undefined): Attempt {
  const error = request?.lastError();
  return { succeeded: request?.succeeded() ?? false, error: error === undefined ? undefined : messageOf(error) };
}

/** Looks at the CNI conf dir now and on every resync; off without --cni-conf-dir. */
function watchConfOrder(cfg: DaemonConfig, api: ApiClient, metrics: ReturnType<typeof createMetrics>): NodeJS.Timeout | undefined {
  if (!cfg.cniConfDir) return undefined;
  const report = createConfOrderReport({
    confDir: cfg.cniConfDir,
    confName: cfg.cniConfName,
    node: cfg.nodeName,
    post: (event) => postNodeEvent(api, event),
    setShadowed: (shadowed) => metrics.cniConfigShadowed.set(shadowed ? 1 : 0),
    log,
  });
  void report.check();
  return setInterval(() => void report.check(), cfg.resyncMs);
}

export async function runDaemon(cfg: DaemonConfig, signal: AbortSignal): Promise<void> {
  const cluster = cfg.clusterCidrs;
  const metrics = createMetrics();
  let podCidrs: Cidr[] | undefined;
  // A pass over the first full list of Nodes has finished.
  let synced = false;
  let scheduler: ReturnType<typeof createScheduler> | undefined;
  let watch: NodeWatch | undefined;
  let overlay: OverlayPass | undefined;
  let vxlanIngress: VxlanIngress | undefined;
  let vtepRequest: RetriedRequest | undefined;
  let networkRequest: RetriedRequest | undefined;
  let confOrderTimer: NodeJS.Timeout | undefined;
  const server: Server = await serveHealth(cfg.healthAddr, {
    // Alive while passes keep finishing; a wedged pass (hung `ip`) is a restart.
    alive: () => !scheduler || Date.now() - scheduler.lastPassAt() < 3 * cfg.resyncMs + 30_000,
    // The subnet file is looked at on each probe: the plugin fails without it.
    ready: () =>
      readiness({
        podCidr: podCidrs !== undefined,
        vtep: attempt(vtepRequest),
        synced,
        subnetFile: { path: cfg.subnetFile, present: existsSync(cfg.subnetFile) },
        networkAvailable: attempt(networkRequest),
      }),
    skipped: () => overlay?.skipped() ?? [],
  });
  const metricsServer = cfg.metricsAddr ? await serveMetrics(cfg.metricsAddr, metrics.registry) : undefined;
  // An API request weftd's readiness needs: tried until it succeeds.
  const untilDone = (done: string): RetryOptions => ({
    backoff: exponentialBackoff(500, 30_000),
    onError: (err, delay) => {
      metrics.apiErrors.inc();
      log(`${messageOf(err)}; retrying in ${delay} ms`);
    },
    onSuccess: () => log(done),
  });
  try {
    const api = loadApiClient({ kubeconfig: cfg.kubeconfig });
    confOrderTimer = watchConfOrder(cfg, api, metrics);
    const underlays = detectUnderlays(cfg.underlay);
    const families = FAMILIES.filter((f) => underlays[f] !== undefined);
    for (const f of families) {
      const u = underlays[f]!;
      log(`IPv${f} underlay ${u.name} (${u.ip}, MTU ${u.mtu}): ${u.reason}`);
    }
    const ownCidrs = await waitForPodCidrs(api, cfg.nodeName, cluster, log, signal);
    podCidrs = ownCidrs;
    log(`node ${cfg.nodeName} has pod CIDR ${ownCidrs.map(formatCidr).join(', ')}`);
    const overlaySetup = overlayOf(cfg, underlays);
    const { specs, local, vteps } = overlaySetup;
    // A device whose underlay family is gone would keep its socket and entries, and draw nothing.
    for (const f of FAMILIES.filter((f) => underlays[f] === undefined)) removeDevice(deviceName(cfg.vni, f), `this node has no IPv${f} underlay now`, log);
    const overlayPass = createOverlayPass({
      specs,
      local,
      self: { node: cfg.nodeName, clusterCidrs: cluster, underlays: overlaySetup.contexts },
      own: { node: cfg.nodeName, podCidrs: ownCidrs.map(formatCidr), vtepMacs: specs.map((s) => s.mac) },
      metrics,
      log,
    });
    overlay = overlayPass;
    const ingressFilter = createVxlanIngress({ port: cfg.port, podNetworks: cluster });
    vxlanIngress = ingressFilter;
    const direct = families.flatMap((f) => local.direct?.[f] ?? []);
    const masquerade = cfg.ipMasq
      ? createNodeMasquerade(cluster, { bridge: cfg.bridge, overlays: specs.map((s) => s.name), direct: direct.length > 0 ? direct : undefined })
      : undefined;
    // The pods' MTU: the smallest device's, so a pod's packet fits whichever device carries it.
    const subnetFile = subnetFileFor(ownCidrs, cluster, Math.min(...specs.map((s) => s.mtu)), cfg.ipMasq);
    const described = specs.map((s) => `${s.localIp} ${s.mac}`).join(', ');
    const publish = retriedRequest(() => publishVteps(api, cfg.nodeName, vteps), untilDone(`published VTEP ${described} on node ${cfg.nodeName}`));
    const markAvailable = retriedRequest(
      () => setNetworkAvailable(api, cfg.nodeName, `weft VXLAN overlay on ${specs.map((s) => s.name).join(' and ')} is up`),
      untilDone(`marked the network available on node ${cfg.nodeName} (NetworkUnavailable=False)`),
    );
    vtepRequest = publish;
    networkRequest = markAvailable;

    let written = false;
    const keepSubnetFile = (): void => {
      const found = ensureSubnetFile(cfg.subnetFile, subnetFile);
      if (!written) log(`wrote ${cfg.subnetFile}`);
      else if (found !== 'unchanged') log(`subnet file ${cfg.subnetFile} was ${found === 'missing' ? 'missing' : 'changed'}; wrote it again`);
      written = true;
    };
    const reportIngressError = (err: unknown): void => {
      metrics.reconcileErrors.inc();
      log(`VXLAN ingress filter update failed; the next pass asserts it whole: ${messageOf(err)}`);
    };
    // Nodes changed since the last pass took them (the last change of each wins).
    let changed = new Map<string, NodeInfo | undefined>();
    // The watch's full lists that a pass has followed.
    let listsPassed = 0;
    const pass = async (kind: PassKind) => {
      if (!watch?.synced()) return;
      const nodes = watch;
      const lists = nodes.lists();
      const changes = changed;
      changed = new Map();
      try {
        await overlayPass.run(kind, changes, () => nodes.snapshot());
        const ingress = ingressFilter.update(overlayPass.takePeerVteps(), kind);
        // A new peer's routes need not wait for nft; the first and the
        // periodic passes answer for the whole filter, so they do wait.
        if (kind === 'periodic' || !synced) await ingress;
        else ingress.catch((err) => reportIngressError(err));
        masquerade?.keep(kind);
        if (lists !== listsPassed) releaseListGarbage();
        listsPassed = lists;
        synced = true;
      } finally {
        // Once written, the plugin's file is kept whatever became of the overlay.
        if (synced) keepSubnetFile();
      }
      const own = watch.get(cfg.nodeName);
      const published = own && vtepsPublished(own.annotations, vteps);
      if (own && !published && !publish.busy()) publish.request();
      if (!markAvailable.succeeded() && !markAvailable.busy()) markAvailable.request();
    };
    scheduler = createScheduler(pass, {
      coalesceMs: cfg.coalesceMs,
      retryMs: 1000,
      periodicMs: cfg.resyncMs,
      onError: (err) => {
        metrics.reconcileErrors.inc();
        log(`reconcile failed, retrying: ${messageOf(err)}`);
      },
    });
    publish.request();
    watch = watchNodes(
      api,
      (changes) => {
        for (const c of changes) changed.set(c.name, c.node);
        scheduler!.trigger();
      },
      {
        watchdogMs: cfg.watchdogMs,
        log,
        onRestart: (reason) => metrics.watchRestarts.inc({ reason }),
        onApiError: () => metrics.apiErrors.inc(),
      },
    );
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    log('stopping; kernel state stays in place');
  } finally {
    scheduler?.stop();
    clearInterval(confOrderTimer);
    await Promise.all([watch?.stop(), vtepRequest?.stop(), networkRequest?.stop()]);
    overlay?.close();
    vxlanIngress?.close();
    for (const s of [server, metricsServer]) {
      if (!s) continue;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    }
  }
}
