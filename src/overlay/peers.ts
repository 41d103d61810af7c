// From the API server's view of the nodes to the peers the overlay programs.
// A node that is not ready yet (no pod CIDR, no VTEP) is waited for; one whose
// data is wrong is skipped and reported, and never disturbs the others.
import { parseVtep } from '../k8s/annotations.ts';
import { type Cidr, cidrWithin, parseCidr } from '../ipam/address.ts';
import type { Peer } from './types.ts';

/** The parts of a Node the overlay reads (the node watch's NodeInfo has them). */
export type NodeView = { name: string; podCidrs: string[]; annotations: Record<string, string> };

export type Skipped = { node: string; problem: string; malformed: boolean };

export function peersFromNodes(nodes: NodeView[], clusterCidrs: Cidr[]): { peers: Peer[]; skipped: Skipped[] } {
  const peers: Peer[] = [];
  const skipped: Skipped[] = [];
  for (const node of nodes) {
    const v4 = node.podCidrs.map((c) => ({ text: c, cidr: parseCidr(c) })).filter((c) => c.cidr?.family !== 6);
    if (v4.length === 0) {
      skipped.push({ node: node.name, problem: 'has no IPv4 pod CIDR yet', malformed: false });
      continue;
    }
    const bad = v4.find((c) => !c.cidr || !cidrWithin(c.cidr, clusterCidrs));
    if (bad) {
      skipped.push({ node: node.name, problem: `has pod CIDR ${bad.text} outside the cluster network`, malformed: true });
      continue;
    }
    const vtep = parseVtep(node.annotations);
    if ('problem' in vtep) {
      const missing = !(Object.keys(node.annotations).some((k) => k.startsWith('weft.dev/vtep')));
      skipped.push({ node: node.name, problem: vtep.problem, malformed: !missing });
      continue;
    }
    peers.push({ node: node.name, podCidrs: v4.map((c) => c.text), vtepIp: vtep.vtep.ip, vtepMac: vtep.vtep.mac });
  }
  return { peers, skipped };
}
