// The claims of every valid peer, kept between Node events, so that an event
// re-decides only what it can change. A peer that shares no MAC and overlaps
// no pod CIDR with anyone (the usual case) wins its claims outright, and its
// event touches only itself; one that does (before or after the event) may
// move a winner, so then all claims are settled again (src/overlay/claims.ts,
// which is pure and takes milliseconds at 5000 peers) and the nodes whose
// outcome moved are the ones reported.
import { type Cidr, parseCidr } from '../net/address.ts';
import { type Key, keyAt, type Own, peerMacs, resolveClaims, type Shortest, shortestPrefixes } from './claims.ts';
import type { Peer, Skipped } from './types.ts';

/**
 * How many claimed CIDRs sit at each key (`at`: a CIDR's own key; `within`:
 * each supernet key of a CIDR, down to its family's `shortest`), and how many
 * claim each MAC: enough to tell whether a CIDR overlaps any other in a few
 * lookups.
 */
function claimCounts(shortest: Shortest) {
  const at = new Map<Key, number>();
  const within = new Map<Key, number>();
  const macCounts = new Map<string, number>();
  return {
    add(cidrs: Cidr[], macs: string[], by: 1 | -1): void {
      for (const mac of macs) bump(macCounts, mac, by);
      for (const c of cidrs) {
        const v4 = Number(c.network);
        bump(at, keyAt(c, v4, c.prefix), by);
        for (let p = shortest[c.family]; p < c.prefix; p++) bump(within, keyAt(c, v4, p), by);
      }
    },
    /** Whether anything counted besides these claims (counted already) shares one of their MACs or overlaps one of their CIDRs. */
    shared(cidrs: Cidr[], macs: string[]): boolean {
      if (macs.some((mac) => (macCounts.get(mac) ?? 0) > 1)) return true;
      for (const c of cidrs) {
        const v4 = Number(c.network);
        const own = keyAt(c, v4, c.prefix);
        if ((at.get(own) ?? 0) > 1 || (within.get(own) ?? 0) > 0) return true;
        for (let p = shortest[c.family]; p < c.prefix; p++) if ((at.get(keyAt(c, v4, p)) ?? 0) > 0) return true;
      }
      return false;
    },
  };
}

function bump<K>(m: Map<K, number>, key: K, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n === 0) m.delete(key);
  else m.set(key, n);
}

export type ClaimTable = {
  /**
   * Applies peers that changed (undefined: the node is gone or no longer a
   * valid peer) and returns the nodes whose outcome may have changed: those
   * given, and any whose claim was won or lost because of them.
   */
  update(changes: ReadonlyMap<string, Peer | undefined>): Set<string>;
  /** The peer as programmed when it holds its claims, else undefined. */
  accepted(node: string): Peer | undefined;
  acceptedPeers(): Peer[];
  conflicts(): Skipped[];
};

/** `clusterCidrs` bound every pod CIDR (src/overlay/peers.ts), so no claim has a shorter prefix. */
export function createClaimTable(own: Own, clusterCidrs: Cidr[]): ClaimTable {
  const ownCidrs = own.podCidrs.map(parseCidr).filter((c) => c !== undefined);
  const counts = claimCounts(shortestPrefixes([...clusterCidrs, ...ownCidrs]));
  counts.add(ownCidrs, own.vtepMacs, 1);
  const peers = new Map<string, { peer: Peer; cidrs: Cidr[]; macs: string[] }>();
  const winners = new Map<string, Peer>();
  let losers = new Map<string, Skipped>();

  const settleAll = (): Set<string> => {
    const { accepted, conflicts } = resolveClaims(
      [...peers.values()].map((p) => p.peer),
      own,
    );
    const moved = new Set<string>();
    const now = new Map(accepted.map((p) => [p.node, p]));
    for (const [node, peer] of winners) if (now.get(node) !== peer) moved.add(node);
    for (const [node, peer] of now) if (winners.get(node) !== peer) moved.add(node);
    winners.clear();
    for (const [node, peer] of now) winners.set(node, peer);
    losers = new Map(conflicts.map((s) => [s.node, s]));
    return moved;
  };

  return {
    update(changes) {
      let contested = false;
      for (const [node, next] of changes) {
        const before = peers.get(node);
        if (before) {
          if (counts.shared(before.cidrs, before.macs)) contested = true;
          counts.add(before.cidrs, before.macs, -1);
          peers.delete(node);
        }
        if (next) {
          const cidrs = next.podCidrs.map((t) => parseCidr(t)!);
          const macs = peerMacs(next);
          counts.add(cidrs, macs, 1);
          peers.set(node, { peer: next, cidrs, macs });
        }
      }
      for (const node of changes.keys()) {
        const now = peers.get(node);
        if (now && counts.shared(now.cidrs, now.macs)) contested = true;
      }
      const moved = contested ? settleAll() : new Set<string>();
      if (!contested) {
        // Nothing shared before or after: each changed peer wins outright.
        for (const node of changes.keys()) {
          const now = peers.get(node);
          if (now) winners.set(node, now.peer);
          else winners.delete(node);
          losers.delete(node);
        }
      }
      for (const node of changes.keys()) moved.add(node);
      return moved;
    },
    accepted: (node) => winners.get(node),
    acceptedPeers: () => [...winners.values()],
    conflicts: () => [...losers.values()],
  };
}
