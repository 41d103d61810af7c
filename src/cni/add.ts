// ADD: address, bridge, veth pair, pod-side configuration, in two processes:
// one `ip -batch` on the node and one inside the pod's netns. Every step after
// the first reservation is undone if a later one fails.
import { existsSync } from 'node:fs';
import { type Address, formatAddress } from '../ipam/address.ts';
import { findRange, hostCidr } from '../ipam/range.ts';
import { releaseAddress, reserve, storeDir } from '../ipam/store.ts';
import { type IpCommand, IpCommandError, ipBatch } from '../linux/ip.ts';
import { readLink } from '../linux/links.ts';
import { macForAddress, macForName } from '../linux/mac.ts';
import { ensureSysctl } from '../linux/sysctl.ts';
import { type SysfsLink, linkExists, readSysfsLink } from '../linux/sysfs.ts';
import { type Gateway, bridgeCommands, pinnedBridgeMac } from './bridge.ts';
import type { NetConf } from './config.ts';
import type { Invocation } from './env.ts';
import { CniError, ErrorCode, envError } from './errors.ts';
import { hostVethName } from './host-veth.ts';
import { kernelError } from './kernel-error.ts';
import { addMasquerade } from './masquerade.ts';
import { type NodeNetwork, resolveNodeNetwork } from './network.ts';
import type { Result, Route } from './types.ts';

type Assigned = { address: Address; cidr: string; gateway: Address };

export function cmdAdd(inv: Invocation, conf: NetConf): Result {
  if (!existsSync(inv.netns)) {
    throw envError(`CNI_NETNS ${inv.netns} does not exist: the container's network namespace must exist before ADD`);
  }
  const network = nodeNetworkForAdd(conf);
  const gateways: Gateway[] = network.rangeSets.flatMap((set) =>
    set.map((r) => ({ address: { family: r.subnet.family, value: r.gateway }, prefix: r.subnet.prefix })));
  let bridge = readSysfsLink(conf.bridge);
  // Computed (and a non-bridge link refused) before anything is reserved.
  const bridgeSetup = bridgeCommands(conf.bridge, bridge, gateways, network.mtu);
  const mtu = network.mtu ?? bridge?.mtu ?? 1500;
  if (network.rangeSets.some((s) => s[0]!.subnet.family === 4)) ensureSysctl('net.ipv4.ip_forward', '1');
  if (network.rangeSets.some((s) => s[0]!.subnet.family === 6)) ensureSysctl('net.ipv6.conf.all.forwarding', '1');

  const dir = storeDir(conf.ipam.dataDir, conf.name);
  const host = hostVethName(inv.containerId, inv.ifname);
  const assigned: Assigned[] = [];
  let vethCreated = false;
  try {
    for (const [i, set] of network.rangeSets.entries()) {
      const address = reserve(dir, set, i, inv.containerId, inv.ifname);
      const range = findRange(set, address)!;
      assigned.push({ address, cidr: hostCidr(range, address), gateway: { family: address.family, value: range.gateway } });
    }
    const first = assigned[0]!.address;
    const podMac = first.family === 4 ? macForAddress(first) : macForName(`${inv.containerId}/${inv.ifname}`);
    const hostMac = macForName(host);
    bridge = wireHostSide(inv, conf, network, gateways, bridge, bridgeSetup, host, hostMac, podMac, mtu);
    vethCreated = true;
    const routes = podRoutes(conf, assigned);
    configurePod(inv, assigned, routes);
    if (conf.ipMasq) addMasquerade(assigned.map((a) => a.address), network.noMasquerade);
    return {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: conf.bridge, mac: bridge?.mac ?? pinnedBridgeMac(conf.bridge, gateways) },
        { name: host, mac: hostMac },
        { name: inv.ifname, mac: podMac, mtu, sandbox: inv.netns },
      ],
      ips: assigned.map((a) => ({ address: a.cidr, gateway: formatAddress(a.gateway), interface: 2 })),
      routes,
      dns: conf.dns,
    };
  } catch (err) {
    if (vethCreated) deleteHostVeth(host);
    for (const a of assigned) releaseAddress(dir, a.address);
    throw err;
  }
}

// A missing subnet file during ADD is transient (weftd has not written it
// yet), so the runtime is told to try again rather than "not available".
function nodeNetworkForAdd(conf: NetConf): NodeNetwork {
  try {
    return resolveNodeNetwork(conf);
  } catch (err) {
    if (err instanceof CniError && err.code === ErrorCode.NotAvailable) {
      throw new CniError(ErrorCode.TryAgainLater, err.message, err.details);
    }
    throw err;
  }
}

function deleteHostVeth(host: string): void {
  try {
    ipBatch([['link', 'del', host]]);
  } catch {
    // Already gone, with its netns; nothing else to undo.
  }
}

/** Bridge (if needed) and veth pair in one batch; returns the bridge as it now is. */
function wireHostSide(
  inv: Invocation, conf: NetConf, network: NodeNetwork, gateways: Gateway[], bridge: SysfsLink | undefined, bridgeSetup: IpCommand[],
  host: string, hostMac: string, podMac: string, mtu: number,
): SysfsLink | undefined {
  const veth: IpCommand[] = [
    ['link', 'add', host, 'mtu', String(mtu), 'address', hostMac, 'type', 'veth', 'peer', 'name', inv.ifname, 'mtu', String(mtu), 'address', podMac, 'netns', inv.netns],
    ['link', 'set', host, 'master', conf.bridge],
    ...(conf.hairpinMode ? [['link', 'set', 'dev', host, 'type', 'bridge_slave', 'hairpin', 'on']] : []),
    ['link', 'set', host, 'up'],
  ];
  let setup = bridgeSetup;
  for (let attempt = 0; ; attempt++) {
    const commands = [...setup, ...veth];
    try {
      ipBatch(commands);
      return bridge ?? readSysfsLink(conf.bridge);
    } catch (err) {
      const failed = err instanceof IpCommandError ? err.failedIndex : -1;
      // Another ADD created the bridge between our look and our batch: the
      // batch stopped at its first line, so nothing was made; look again.
      if (attempt === 0 && !bridge && failed === 0 && (err as IpCommandError).exists) {
        bridge = readSysfsLink(conf.bridge);
        setup = bridgeCommands(conf.bridge, bridge, gateways, network.mtu);
        continue;
      }
      const vethAdd = setup.length;
      // A failure after `link add` of the veth leaves the pair behind.
      if (failed > vethAdd) deleteHostVeth(host);
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

function podRoutes(conf: NetConf, assigned: Assigned[]): Route[] {
  const gatewayFor = (family: 4 | 6) => assigned.find((a) => a.address.family === family)?.gateway;
  if (conf.ipam.routes) {
    return conf.ipam.routes.map((r) => {
      if (r.gw) return r;
      const gw = gatewayFor(r.dst.includes(':') ? 6 : 4);
      return gw ? { dst: r.dst, gw: formatAddress(gw) } : r;
    });
  }
  return assigned.map((a) => ({ dst: a.address.family === 4 ? '0.0.0.0/0' : '::/0', gw: formatAddress(a.gateway) }));
}

function configurePod(inv: Invocation, assigned: Assigned[], routes: Route[]): void {
  const dev = inv.ifname;
  const commands: IpCommand[] = [
    ...assigned.map((a) => ['addr', 'add', a.cidr, 'dev', dev, ...(a.address.family === 6 ? ['nodad'] : [])]),
    ['link', 'set', dev, 'up'],
    ...routes.map((r) => ['route', 'add', r.dst, ...(r.gw ? ['via', r.gw] : []), 'dev', dev]),
  ];
  try {
    ipBatch(commands, { netns: inv.netns });
  } catch (err) {
    throw kernelError(`cannot configure ${dev} in ${inv.netns}`, err);
  }
}
