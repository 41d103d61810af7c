// `weftd status`: this node's view, read from where the truth is: the
// kernel, the subnet file, and the running daemon for what only it knows
// (readiness, and the nodes it leaves out and why).
import { get } from 'node:http';
import { parseListenAddress, SKIPPED_PATH } from '../../src/daemon/health.ts';
import { FAMILIES } from '../../src/net/address.ts';
import { deviceName, localAddressOf, readDevice } from '../../src/overlay/device.ts';
import { readOverlayState } from '../../src/overlay/kernel-state.ts';
import type { OverlayState, Skipped } from '../../src/overlay/types.ts';
import { readSubnetFile, type SubnetFile } from '../../src/subnet/subnet-file.ts';
import { messageOf } from '../../src/text/error-message.ts';

/** One remote pod CIDR: its route's next hop and device, and the VTEP that next hop resolves to. */
export type PeerRow = { podCidr: string; via: string; dev: string; vtepMac?: string; vtepIp?: string };

/** Joins route → neighbour → FDB (each on the route's device) into one row per remote pod CIDR. */
export function peerRows(state: OverlayState): PeerRow[] {
  return state.routes
    .map((r) => {
      const mac = state.neighbors.find((n) => n.dev === r.dev && n.ip === r.via)?.mac;
      const ip = mac ? state.fdb.find((f) => f.dev === r.dev && f.mac === mac)?.dst : undefined;
      return { podCidr: r.dst, via: r.via, dev: r.dev, vtepMac: mac, vtepIp: ip };
    })
    .sort((a, b) => (a.podCidr < b.podCidr ? -1 : 1));
}

export type DeviceStatus = { name: string; exists: boolean; mtu?: number; mac?: string; local?: string; port?: number };

export type NodeStatus = {
  /** The VXLAN device over each underlay family: weft.<vni> (IPv4), weft6.<vni> (IPv6). */
  devices: DeviceStatus[];
  subnetFile: { path: string; content?: SubnetFile; problem?: string };
  readiness: string;
  peers: PeerRow[];
  /** The nodes the running weftd leaves out; absent when it could not be asked. */
  skipped?: Skipped[];
};

type Answer = { status: number; body: string } | { error: string };

function askDaemon(healthAddr: string, path: string): Promise<Answer> {
  const { host, port } = parseListenAddress(healthAddr);
  const target = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return new Promise((resolve) => {
    const req = get({ host: target, port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ error: `weftd not reachable on ${target}:${port} (${err.message})` }));
  });
}

async function readiness(healthAddr: string): Promise<string> {
  const a = await askDaemon(healthAddr, '/readyz');
  if ('error' in a) return a.error;
  return a.status === 200 ? 'ready' : `not ready: ${a.body.trim()}`;
}

async function skippedNodes(healthAddr: string): Promise<Skipped[] | undefined> {
  const a = await askDaemon(healthAddr, SKIPPED_PATH);
  if ('error' in a || a.status !== 200) return undefined;
  try {
    return JSON.parse(a.body) as Skipped[];
  } catch {
    return undefined;
  }
}

function deviceStatus(name: string): DeviceStatus {
  const link = readDevice(name);
  if (!link) return { name, exists: false };
  return { name, exists: true, mtu: link.mtu, mac: link.address, local: localAddressOf(link), port: link.linkinfo?.info_data?.port };
}

export async function nodeStatus(vni: number, subnetFile: string, healthAddr: string): Promise<NodeStatus> {
  const devices = FAMILIES.map((family) => deviceStatus(deviceName(vni, family)));
  const present = devices.filter((d) => d.exists).map((d) => d.name);
  let file: NodeStatus['subnetFile'] = { path: subnetFile };
  try {
    file = { path: subnetFile, content: readSubnetFile(subnetFile) };
  } catch (err) {
    file = { path: subnetFile, problem: messageOf(err) };
  }
  const [ready, skipped] = await Promise.all([readiness(healthAddr), skippedNodes(healthAddr)]);
  return {
    devices,
    subnetFile: file,
    readiness: ready,
    peers: present.length > 0 ? peerRows(readOverlayState(present)) : [],
    ...(skipped ? { skipped } : {}),
  };
}

function deviceLines(devices: DeviceStatus[]): string[] {
  const present = devices.filter((d) => d.exists);
  if (present.length === 0) {
    return [`device:      ${devices.map((d) => d.name).join(' and ')} do not exist (weftd has not started here, or uses another --vni)`];
  }
  return present.map((d) => `device:      ${d.name} mac ${d.mac} mtu ${d.mtu} local ${d.local} port ${d.port}`);
}

export function renderStatus(s: NodeStatus): string {
  const lines = [
    `weftd:       ${s.readiness}`,
    ...deviceLines(s.devices),
    s.subnetFile.content
      ? `subnet file: ${s.subnetFile.path}: ${s.subnetFile.content.subnets.map((x) => x.subnet).join(', ')} mtu ${s.subnetFile.content.mtu} ipMasq ${s.subnetFile.content.ipMasq}`
      : `subnet file: ${s.subnetFile.problem}`,
    `peers:       ${s.peers.length}`,
  ];
  if (s.peers.length > 0) {
    // IPv6 CIDRs and addresses are wider than IPv4's: the columns fit the widest.
    const cidrWidth = Math.max(19, ...s.peers.map((p) => p.podCidr.length));
    const viaWidth = Math.max(15, ...s.peers.map((p) => p.via.length));
    const devWidth = Math.max(8, ...s.peers.map((p) => p.dev.length));
    lines.push(`  ${'POD CIDR'.padEnd(cidrWidth)} ${'VIA'.padEnd(viaWidth)} ${'DEVICE'.padEnd(devWidth)} ${'VTEP MAC'.padEnd(18)} VTEP IP`);
    for (const p of s.peers) {
      // A direct route has no neighbour or FDB entry: its next hop is the peer's underlay address.
      const direct = !s.devices.some((d) => d.name === p.dev);
      const mac = direct ? '-' : (p.vtepMac ?? 'MISSING');
      const ip = direct ? `${p.via} (direct)` : (p.vtepIp ?? 'MISSING');
      lines.push(`  ${p.podCidr.padEnd(cidrWidth)} ${p.via.padEnd(viaWidth)} ${p.dev.padEnd(devWidth)} ${mac.padEnd(18)} ${ip}`);
    }
  }
  lines.push(`skipped:     ${s.skipped ? s.skipped.length : 'unknown (weftd not reachable)'}`);
  if (s.skipped && s.skipped.length > 0) {
    const width = Math.max(4, ...s.skipped.map((x) => x.node.length));
    lines.push(`  ${'NODE'.padEnd(width)} ${'REASON'.padEnd(14)} PROBLEM`);
    for (const x of s.skipped) lines.push(`  ${x.node.padEnd(width)} ${x.reason.padEnd(14)} it ${x.problem}`);
  }
  return `${lines.join('\n')}\n`;
}
