// What the kernel should hold for a set of peers: flannel's L3 VXLAN scheme.
// Each remote pod CIDR is routed via its own network address (onlink), which
// resolves through a permanent neighbour entry to the remote VTEP's MAC, which
// the FDB maps to the remote VTEP's underlay IP.
import { type Cidr, cidrContains, formatCidr, parseAddress, parseCidr } from '../ipam/address.ts';
import type { OverlayState, Peer } from './types.ts';

export type Conflict = { node: string; problem: string };

export type LocalView = {
  node: string;
  podCidrs: string[];
  device: string;
  /** Set to route peers on the same underlay subnet without encapsulation. */
  direct?: { subnet: Cidr; dev: string };
};

/**
 * Peers sorted by node name so that, when two claim the same pod CIDR or VTEP
 * MAC, the same one wins on every node and every run; the loser is reported.
 */
export function desiredState(peers: Peer[], local: LocalView): { state: OverlayState; conflicts: Conflict[] } {
  const state: OverlayState = { neighbors: [], fdb: [], routes: [] };
  const conflicts: Conflict[] = [];
  const cidrOwner = new Map<string, string>(local.podCidrs.map((c) => [normalise(c), local.node]));
  const macOwner = new Map<string, string>();
  for (const peer of [...peers].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))) {
    if (peer.node === local.node) continue;
    const macHolder = macOwner.get(peer.vtepMac);
    if (macHolder) {
      conflicts.push({ node: peer.node, problem: `uses VTEP MAC ${peer.vtepMac} that node ${macHolder} already uses` });
      continue;
    }
    const cidrs = peer.podCidrs.map(normalise);
    const taken = cidrs.find((c) => cidrOwner.has(c));
    if (taken) {
      conflicts.push({ node: peer.node, problem: `claims pod CIDR ${taken} that node ${cidrOwner.get(taken)} already has` });
      continue;
    }
    macOwner.set(peer.vtepMac, peer.node);
    for (const cidr of cidrs) cidrOwner.set(cidr, peer.node);
    const vtep = parseAddress(peer.vtepIp);
    if (local.direct && vtep && cidrContains(local.direct.subnet, vtep)) {
      for (const cidr of cidrs) state.routes.push({ dst: cidr, via: peer.vtepIp, dev: local.direct.dev });
      continue;
    }
    state.fdb.push({ mac: peer.vtepMac, dst: peer.vtepIp });
    for (const cidr of cidrs) {
      const via = cidr.split('/')[0]!;
      state.neighbors.push({ ip: via, mac: peer.vtepMac });
      state.routes.push({ dst: cidr, via, dev: local.device });
    }
  }
  return { state, conflicts };
}

function normalise(cidr: string): string {
  const c = parseCidr(cidr);
  return c ? formatCidr(c) : cidr;
}
