// What the kernel should hold for a set of peers: flannel's L3 VXLAN scheme,
// for pod CIDRs of either family. Each remote pod CIDR is routed via its own
// network address (onlink) on the VXLAN device src/overlay/route-choice.ts
// picks, which resolves through a permanent neighbour entry to the remote
// VTEP's MAC, which the FDB maps to the remote VTEP's underlay IP. Every
// entry belongs to one peer, so a line the kernel refuses is charged to that
// peer alone.
import { parseCidr } from '../net/address.ts';
import { entryKeys, fdbKey } from './entry-keys.ts';
import { chooseRoute, type LocalView } from './route-choice.ts';
import { routeMetric } from './route-metric.ts';
import type { OverlayState, Peer } from './types.ts';

/** One peer's entries. Its values are canonical (src/overlay/peers.ts). */
export function peerEntries(peer: Peer, local: LocalView): OverlayState {
  const state: OverlayState = { neighbors: [], fdb: [], routes: [] };
  for (const dst of peer.podCidrs) {
    const cidr = parseCidr(dst)!;
    const route = chooseRoute(cidr, peer, local);
    if (!route) continue;
    const metric = routeMetric(cidr);
    if (route.via === 'direct') {
      state.routes.push({ dst, via: route.gateway, dev: route.dev, metric });
      continue;
    }
    const { dev, vtep } = route;
    // Both pod families may ride one device: one FDB entry serves them.
    const fdb = { mac: vtep.mac, dst: vtep.ip, dev };
    if (!state.fdb.some((f) => fdbKey(f) === fdbKey(fdb))) state.fdb.push(fdb);
    // Canonical, so the address part is the network address.
    const via = dst.slice(0, dst.indexOf('/'));
    state.neighbors.push({ ip: via, mac: vtep.mac, dev });
    state.routes.push({ dst, via, dev, metric });
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
