// ADD: address, bridge, veth pair, pod-side configuration, masquerade and
// anti-spoofing: one `ip -batch` on the node, one inside the pod's netns, and
// one nftables transaction when ipMasq or spoofCheck is on. Every value is
// parsed before the first reservation, and every step after it is undone if
// a later one fails: a failed ADD leaves no reservation, no veth, no nft
// element, and no bridge that it created.
import { findRange, hostCidr } from '../ipam/range.ts';
import { makeStoreDir, recordLastReserved, releaseAddress, removeStoreDir, reserve, storeDir } from '../ipam/store.ts';
import { files } from '../linux/files.ts';
import { type IpCommand, IpCommandError, ipBatch, linkAdd, linkDel, linkSet } from '../linux/ip.ts';
import { readLink } from '../linux/links.ts';
import { ensureNetSysctlIn, ensureSysctl } from '../linux/sysctl.ts';
import { linkExists, readSysfsLink, type SysfsLink } from '../linux/sysfs.ts';
import { formatAddress } from '../net/address.ts';
import { macForName } from '../net/mac.ts';
import { bridgeCommands, bridgeGateways, type Gateway, pinnedBridgeMac } from './bridge.ts';
import type { Invocation } from './env.ts';
import { CniError, ErrorCode, envError } from './errors.ts';
import { hostVethAlias, hostVethName } from './host-veth.ts';
import { kernelError } from './kernel-error.ts';
import { type NodeNetwork, resolveNodeNetwork } from './network.ts';
import type { NetworkConfig } from './network-config.ts';
import { antispoofElements, type PodSources } from './pod-antispoof.ts';
import { addPodFirewall, removePodFirewall } from './pod-firewall.ts';
import { podMac } from './pod-mac.ts';
import { checkRoutes, type PodAddress, podRoutes } from './pod-routes.ts';
import type { Result, Route } from './types.ts';

type Assigned = PodAddress & { cidr: string };

/** What this ADD has made so far, for the rollback. */
type Made = { reserved: Assigned[]; veth: boolean; bridge: boolean; storeDir: string | undefined; firewall: PodSources | undefined };

export function cmdAdd(inv: Invocation, conf: NetworkConfig): Result {
  if (!files().exists(inv.netns)) {
    throw envError(`CNI_NETNS ${inv.netns} does not exist: the container's network namespace must exist before ADD`);
  }
  const network = nodeNetworkForAdd(conf);
  checkRoutes(conf.ipam.routes, network.rangeSets);
  const gateways = bridgeGateways(network.rangeSets);
  const bridge = readSysfsLink(conf.bridge);
  // Computed (and a non-bridge link refused) before anything is reserved.
  const bridgeSetup = bridgeCommands(conf.bridge, bridge, gateways, network.mtu);
  const mtu = network.mtu ?? bridge?.mtu ?? 1500;
  if (network.rangeSets.some((s) => s[0]!.subnet.family === 4)) ensureSysctl('net.ipv4.ip_forward', '1');
  if (network.rangeSets.some((s) => s[0]!.subnet.family === 6)) ensureSysctl('net.ipv6.conf.all.forwarding', '1');

  const dir = storeDir(conf.ipam.dataDir, conf.name);
  const host = hostVethName(inv.containerId, inv.ifname);
  const made: Made = { reserved: [], veth: false, bridge: false, storeDir: undefined, firewall: undefined };
  try {
    made.storeDir = makeStoreDir(dir);
    for (const [i, set] of network.rangeSets.entries()) {
      const address = reserve(dir, set, i, inv.containerId, inv.ifname);
      const range = findRange(set, address)!;
      made.reserved.push({ address, cidr: hostCidr(range, address), gateway: { family: address.family, value: range.gateway } });
    }
    const mac = podMac(made.reserved[0]!.address, inv.containerId, inv.ifname);
    const hostMac = macForName(host);
    const wired = wireHostSide(inv, conf, network, gateways, bridge, bridgeSetup, { host, hostMac, podMac: mac, mtu }, made);
    const routes = podRoutes(conf.ipam.routes, made.reserved);
    configurePod(inv, made.reserved, routes);
    // Last, once the veth exists: GC takes an element whose veth is gone for stale.
    const sources: PodSources = { hostVeth: host, mac, addresses: made.reserved.map((a) => a.address) };
    addPodFirewall(conf, sources, network.noMasquerade);
    made.firewall = sources;
    for (const [i, a] of made.reserved.entries()) recordLastReserved(dir, i, a.address);
    return {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: conf.bridge, mac: wired?.mac ?? pinnedBridgeMac(conf.bridge, gateways) },
        { name: host, mac: hostMac },
        { name: inv.ifname, mac, mtu, sandbox: inv.netns },
      ],
      ips: made.reserved.map((a) => ({ address: a.cidr, gateway: formatAddress(a.gateway), interface: 2 })),
      routes,
      dns: conf.dns,
    };
  } catch (err) {
    rollBack(made, conf, host, dir);
    throw err;
  }
}

// A missing subnet file during ADD is transient (weftd has not written it
// yet), so the runtime is told to try again rather than "not available".
function nodeNetworkForAdd(conf: NetworkConfig): NodeNetwork {
  try {
    return resolveNodeNetwork(conf);
  } catch (err) {
    if (err instanceof CniError && err.code === ErrorCode.NotAvailable) {
      throw new CniError(ErrorCode.TryAgainLater, err.message, err.details);
    }
    throw err;
  }
}

function rollBack(made: Made, conf: NetworkConfig, host: string, dir: string): void {
  const bridge = conf.bridge;
  if (made.veth) deleteLink(host);
  if (made.firewall) removeFirewall(conf, made.firewall);
  // A bridge this ADD created goes with it, unless another pod's ADD has
  // plugged into it meanwhile.
  if (made.bridge && bridgePorts(bridge) === 0) deleteLink(bridge);
  for (const a of made.reserved) releaseAddress(dir, a.address);
  if (made.storeDir) removeStoreDir(dir, made.storeDir);
}

/** Ports on the bridge; Infinity when sysfs cannot tell, so it is kept. */
function bridgePorts(bridge: string): number {
  try {
    return files().list(`/sys/class/net/${bridge}/brif`).length;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * The bridge as the kernel reports it. sysfs shows the network namespace it
 * was mounted in, which in a node namespace that kept the host's /sys is not
 * this one: when the kernel says the bridge exists and sysfs does not, ask ip.
 */
function readBridge(name: string): SysfsLink | undefined {
  const fromSysfs = readSysfsLink(name);
  if (fromSysfs) return fromSysfs;
  const link = readLink(name);
  if (!link) return undefined;
  return {
    name,
    isBridge: link.linkinfo?.info_kind === 'bridge',
    up: (link.flags ?? []).includes('UP'),
    mtu: link.mtu,
    mac: link.address ?? '',
  };
}

// The ADD's own error is what the runtime sees; should this removal fail too,
// GC removes the elements of a veth that no longer exists.
function removeFirewall(conf: NetworkConfig, pod: PodSources): void {
  try {
    removePodFirewall(conf, pod.addresses, antispoofElements(pod));
  } catch {
    // Left to GC, as above.
  }
}

function deleteLink(name: string): void {
  try {
    ipBatch([linkDel(name)]);
  } catch {
    // Already gone (a veth goes with its netns); nothing else to undo.
  }
}

type VethSpec = { host: string; hostMac: string; podMac: string; mtu: number };

/**
 * Bridge (if needed) and veth pair in one batch; returns the bridge as it
 * was found (undefined when this batch created it, with the pinned MAC), and
 * records in `made` what it created.
 */
function wireHostSide(
  inv: Invocation,
  conf: NetworkConfig,
  network: NodeNetwork,
  gateways: Gateway[],
  bridge: SysfsLink | undefined,
  bridgeSetup: IpCommand[],
  veth: VethSpec,
  made: Made,
): SysfsLink | undefined {
  const { host, hostMac, podMac, mtu } = veth;
  // The host end is made a port of the bridge and brought up as it is
  // created, with its peer already in the pod's namespace; the alias, which
  // the kernel takes only from `link set`, follows with the hairpin.
  const vethCommands: IpCommand[] = [
    linkAdd(
      host,
      'mtu',
      String(mtu),
      'address',
      hostMac,
      'master',
      conf.bridge,
      'up',
      'type',
      'veth',
      'peer',
      'name',
      inv.ifname,
      'mtu',
      String(mtu),
      'address',
      podMac,
      'netns',
      inv.netns,
    ),
    // GC tells this network's veths from another's on the same bridge by it.
    linkSet(host, 'alias', hostVethAlias(conf.name), ...(conf.hairpinMode ? ['type', 'bridge_slave', 'hairpin', 'on'] : [])),
  ];
  let current = bridge;
  let setup = bridgeSetup;
  for (let attempt = 0; ; attempt++) {
    const commands = [...setup, ...vethCommands];
    try {
      ipBatch(commands);
      made.bridge = !current;
      made.veth = true;
      return current;
    } catch (err) {
      const failed = err instanceof IpCommandError ? err.failedIndex : -1;
      // Another ADD created the bridge between our look and our batch: the
      // batch stopped at its first line, so nothing was made; look again.
      if (attempt === 0 && !current && failed === 0 && err instanceof IpCommandError && err.exists) {
        current = readBridge(conf.bridge);
        setup = bridgeCommands(conf.bridge, current, gateways, network.mtu);
        continue;
      }
      const vethAdd = setup.length;
      // The batch stops at its first failure: what came before it was made.
      made.bridge = !current && failed > 0;
      made.veth = failed > vethAdd;
      if (failed === vethAdd && readLink(inv.ifname, { netns: inv.netns })) {
        throw envError(`interface ${inv.ifname} already exists in ${inv.netns}: choose another CNI_IFNAME or DEL the old attachment first`);
      }
      if (failed === vethAdd && linkExists(host)) {
        throw kernelError(`host veth ${host} already exists`, new Error('another attachment has the same name: DEL it first'));
      }
      throw kernelError(`cannot wire ${inv.ifname} to bridge ${conf.bridge}`, err);
    }
  }
}

function configurePod(inv: Invocation, assigned: Assigned[], routes: Route[]): void {
  const dev = inv.ifname;
  // Before the link comes up, so the pod neither solicits nor takes a router
  // advertisement: its routes are static, and one could only add others.
  if (assigned.some((a) => a.address.family === 6)) {
    try {
      ensureNetSysctlIn(inv.netns, ['ipv6', 'conf', dev, 'accept_ra'], '0');
    } catch (err) {
      throw kernelError(`cannot turn off router advertisements on ${dev} in ${inv.netns}`, err);
    }
  }
  const commands: IpCommand[] = [
    ...assigned.map((a) => ['addr', 'add', a.cidr, 'dev', dev, ...(a.address.family === 6 ? ['nodad'] : [])]),
    linkSet(dev, 'up'),
    ...routes.map((r) => ['route', 'add', r.dst, ...(r.gw ? ['via', r.gw] : []), 'dev', dev]),
  ];
  try {
    ipBatch(commands, { netns: inv.netns });
  } catch (err) {
    throw kernelError(`cannot configure ${dev} in ${inv.netns}`, err);
  }
}
