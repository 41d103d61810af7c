// `weftd status`: this node's view, read from where the truth is: the
// kernel, the subnet file, and the running daemon for what only it knows
// (readiness, and the nodes it leaves out and why).
import { get } from 'node:http';
import { parseListenAddress, SKIPPED_PATH } from '../../src/daemon/health.ts';
import { deviceName, readDevice } from '../../src/overlay/device.ts';
import { readOverlayState } from '../../src/overlay/kernel-state.ts';
import type { OverlayState, Skipped } from '../../src/overlay/types.ts';
import { readSubnetFile, type SubnetFile } from '../../src/subnet/subnet-file.ts';
import { messageOf } from '../../src/text/error-message.ts';

export type PeerRow = { podCidr: string; via: string; vtepMac?: string; vtepIp?: string };

/** Joins route → neighbour → FDB into one row per remote pod CIDR. */
export function peerRows(state: OverlayState): PeerRow[] {
  return state.routes
    .map((r) => {
      const mac = state.neighbors.find((n) => n.ip === r.via)?.mac;
      const ip = mac ? state.fdb.find((f) => f.mac === mac)?.dst : undefined;
      return { podCidr: r.dst, via: r.via, vtepMac: mac, vtepIp: ip };
    })
    .sort((a, b) => (a.podCidr < b.podCidr ? -1 : 1));
}

export type NodeStatus = {
  device: { name: string; exists: boolean; mtu?: number; mac?: string; local?: string; port?: number };
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

export async function nodeStatus(vni: number, subnetFile: string, healthAddr: string): Promise<NodeStatus> {
  const name = deviceName(vni);
  const link = readDevice(name);
  const data = link?.linkinfo?.info_data;
  let file: NodeStatus['subnetFile'] = { path: subnetFile };
  try {
    file = { path: subnetFile, content: readSubnetFile(subnetFile) };
  } catch (err) {
    file = { path: subnetFile, problem: messageOf(err) };
  }
  const [ready, skipped] = await Promise.all([readiness(healthAddr), skippedNodes(healthAddr)]);
  return {
    device: link ? { name, exists: true, mtu: link.mtu, mac: link.address, local: data?.local, port: data?.port } : { name, exists: false },
    subnetFile: file,
    readiness: ready,
    peers: link ? peerRows(readOverlayState(name)) : [],
    ...(skipped ? { skipped } : {}),
  };
}

export function renderStatus(s: NodeStatus): string {
  const lines = [
    `weftd:       ${s.readiness}`,
    s.device.exists
      ? `device:      ${s.device.name} mac ${s.device.mac} mtu ${s.device.mtu} local ${s.device.local} port ${s.device.port}`
      : `device:      ${s.device.name} does not exist (weftd has not started here, or uses another --vni)`,
    s.subnetFile.content
      ? `subnet file: ${s.subnetFile.path}: ${s.subnetFile.content.subnets.map((x) => x.subnet).join(', ')} mtu ${s.subnetFile.content.mtu} ipMasq ${s.subnetFile.content.ipMasq}`
      : `subnet file: ${s.subnetFile.problem}`,
    `peers:       ${s.peers.length}`,
  ];
  if (s.peers.length > 0) {
    lines.push('  POD CIDR            VIA             VTEP MAC           VTEP IP');
    for (const p of s.peers) {
      lines.push(`  ${p.podCidr.padEnd(19)} ${p.via.padEnd(15)} ${(p.vtepMac ?? 'MISSING').padEnd(18)} ${p.vtepIp ?? 'MISSING'}`);
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
