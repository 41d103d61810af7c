// What the kernel should hold for a set of peers: flannel's L3 VXLAN scheme.
// Each remote pod CIDR is routed via its own network address (onlink), which
// resolves through a permanent neighbour entry to the remote VTEP's MAC, which
// the FDB maps to the remote VTEP's underlay IP. Every entry belongs to one
// peer, so a line the kernel refuses is charged to that peer alone.
import { type Cidr, cidrContains, parseAddress } from '../net/address.ts';
import { entryKeys } from './entry-keys.ts';
import type { OverlayState, Peer } from './types.ts';

export type LocalView = {
  device: string;
  /** Set to route peers on the same underlay subnet without encapsulation. */
  direct?: { subnet: Cidr; dev: string };
};

/** One peer's entries. Its values are canonical (src/overlay/peers.ts). */
export function peerEntries(peer: Peer, local: LocalView): OverlayState {
  const { direct } = local;
  if (direct && cidrContains(direct.subnet, parseAddress(peer.vtepIp)!)) {
    return { neighbors: [], fdb: [], routes: peer.podCidrs.map((dst) => ({ dst, via: peer.vtepIp, dev: direct.dev })) };
  }
  const state: OverlayState = { neighbors: [], fdb: [{ mac: peer.vtepMac, dst: peer.vtepIp }], routes: [] };
  for (const dst of peer.podCidrs) {
    // Canonical, so the address part is the network address.
    const via = dst.slice(0, dst.indexOf('/'));
    state.neighbors.push({ ip: via, mac: peer.vtepMac });
    state.routes.push({ dst, via, dev: local.device });
  }
  return state;
}

/**
 * The entries for peers that no longer conflict (src/overlay/claims.ts), and
 * which peer each entry (by its key) belongs to.
 */
export function desiredState(peers: Peer[], local: LocalView): { state: OverlayState; owners: Map<string, string> } {
  const state: OverlayState = { neighbors: [], fdb: [], routes: [] };
  const owners = new Map<string, string>();
  for (const peer of peers) {
    const entries = peerEntries(peer, local);
    state.neighbors.push(...entries.neighbors);
    state.fdb.push(...entries.fdb);
    state.routes.push(...entries.routes);
    for (const key of entryKeys(entries)) owners.set(key, peer.node);
  }
  return { state, owners };
}
