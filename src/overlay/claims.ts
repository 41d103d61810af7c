// Who may use a pod CIDR or a VTEP MAC when several nodes claim it. Two pod
// CIDRs of one family conflict when they overlap at all, one inside the other
// or equal: a /25 inside another node's /24 would otherwise take half of that
// node's traffic (the longer prefix wins the route). Every VTEP MAC of every
// family is a claim. This node's own CIDRs and MACs always win; between two peers the one that held it first, the older Node
// (metadata.creationTimestamp, then name), keeps it. A Node created later
// cannot take over anything by choosing its name.
import { BITS, type Cidr, type Family, formatCidr, parseCidr } from '../net/address.ts';
import type { Peer, Skipped } from './types.ts';

/** This node: its pod CIDRs of every cluster family, and the MACs of its VTEPs of every underlay family. */
export type Own = { node: string; podCidrs: string[]; vtepMacs: string[] };

/** Every VTEP MAC a peer announces, of every family: each one is a claim. */
export function peerMacs(peer: Peer): string[] {
  return [peer.vteps[4]?.mac, peer.vteps[6]?.mac].filter((m) => m !== undefined);
}

/** Per family, the shortest prefix of any CIDR in play (none: the family's full length). */
export type Shortest = Record<Family, number>;

export function shortestPrefixes(cidrs: Iterable<Cidr>): Shortest {
  const shortest: Shortest = { 4: BITS[4], 6: BITS[6] };
  for (const c of cidrs) shortest[c.family] = Math.min(shortest[c.family], c.prefix);
  return shortest;
}

type Holder = { node: string; cidr: string; created?: number };

export type Key = number | string;

/** The key of the CIDR's supernet (or itself) at `prefix`: a number for IPv4, the fast common case. */
export function keyAt(c: Cidr, v4: number, prefix: number): Key {
  if (c.family === 4) {
    const size = 2 ** (32 - prefix);
    return prefix * 2 ** 32 + (v4 - (v4 % size));
  }
  const hostBits = BigInt(BITS[6] - prefix);
  return `${prefix}/${(c.network >> hostBits) << hostBits}`;
}

/**
 * The pod CIDRs claimed so far, which never overlap one another. A CIDR
 * overlaps a held one exactly when it lies inside it (a held CIDR is among
 * its supernets, itself included) or contains it (it is among the supernets
 * of a held CIDR): a few lookups per prefix length instead of a comparison
 * with every held CIDR. Prefixes shorter than `shortest`, the shortest
 * prefix of any CIDR of that family in play, can hold no claim and are not
 * looked at. The keys of the two families never meet (`keyAt`: numbers for
 * IPv4, text for IPv6), so CIDRs overlap only within a family.
 */
function cidrClaims(shortest: Shortest) {
  const held = new Map<Key, Holder>();
  const above = new Map<Key, Holder>();
  return {
    overlapping(c: Cidr): Holder | undefined {
      const v4 = Number(c.network);
      for (let p = shortest[c.family]; p <= c.prefix; p++) {
        const h = held.get(keyAt(c, v4, p));
        if (h) return h;
      }
      return above.get(keyAt(c, v4, c.prefix));
    },
    claim(c: Cidr, holder: Holder): void {
      const v4 = Number(c.network);
      held.set(keyAt(c, v4, c.prefix), holder);
      for (let p = shortest[c.family]; p < c.prefix; p++) {
        const k = keyAt(c, v4, p);
        if (!above.has(k)) above.set(k, holder);
      }
    },
  };
}

/** The claim order: older Node first, then name; the same on every node and every run. */
export function byAge(a: Peer, b: Peer): number {
  return a.created - b.created || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
}

/** The peers that may be programmed, in claim order, and the ones that lost a claim. */
export function resolveClaims(peers: Peer[], own: Own): { accepted: Peer[]; conflicts: Skipped[] } {
  const ownCidrs = own.podCidrs.map(parseCidr).filter((c) => c !== undefined);
  const parsed = new Map(peers.map((p) => [p, p.podCidrs.map((text) => ({ text, cidr: parseCidr(text)! }))]));
  const shortest = shortestPrefixes([...ownCidrs, ...[...parsed.values()].flatMap((list) => list.map((p) => p.cidr))]);
  const cidrs = cidrClaims(shortest);
  const macs = new Map<string, Holder>(own.vtepMacs.map((mac) => [mac, { node: own.node, cidr: '' }]));
  for (const c of ownCidrs) cidrs.claim(c, { node: own.node, cidr: formatCidr(c) });
  const accepted: Peer[] = [];
  const conflicts: Skipped[] = [];
  for (const peer of [...peers].sort(byAge)) {
    const mine = parsed.get(peer)!;
    const problem = conflictOf(peer, mine, own, cidrs, macs);
    if (problem) {
      conflicts.push({ node: peer.node, reason: 'conflict', problem });
      continue;
    }
    for (const mac of peerMacs(peer)) macs.set(mac, { node: peer.node, cidr: '', created: peer.created });
    for (const { text, cidr } of mine) cidrs.claim(cidr, { node: peer.node, cidr: text, created: peer.created });
    accepted.push(peer);
  }
  return { accepted, conflicts };
}

function conflictOf(
  peer: Peer,
  mine: { text: string; cidr: Cidr }[],
  own: Own,
  cidrs: ReturnType<typeof cidrClaims>,
  macs: Map<string, Holder>,
): string | undefined {
  for (const mac of peerMacs(peer)) {
    const macHolder = macs.get(mac);
    if (!macHolder) continue;
    return macHolder.node === own.node
      ? `uses VTEP MAC ${mac}, which is this node's own`
      : `uses VTEP MAC ${mac}, which node ${macHolder.node} holds ${why(peer, macHolder)}`;
  }
  for (const { text, cidr } of mine) {
    const holder = cidrs.overlapping(cidr);
    if (!holder) continue;
    return holder.node === own.node
      ? `claims pod CIDR ${text}, which overlaps this node's own pod CIDR ${holder.cidr}`
      : `claims pod CIDR ${text}, which overlaps pod CIDR ${holder.cidr} that node ${holder.node} holds ${why(peer, holder)}`;
  }
  return undefined;
}

function why(peer: Peer, holder: Holder): string {
  return holder.created !== undefined && holder.created < peer.created ? '(it is the older Node)' : '(the same age, and its name sorts first)';
}
