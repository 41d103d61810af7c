// The VXLAN ingress filter: the VXLAN port decapsulates whatever reaches it,
// so a host on the underlay, or a pod, could put frames with a forged pod
// source into the overlay. One nft table drops UDP to the port from any
// source that is not a programmed peer's VTEP, and VXLAN sent from a pod
// address, both at this node and forwarded through it (with --ip-masq a pod's
// VXLAN would otherwise leave with the node's own, trusted, address). Like
// Calico's cali40all-vxlan-net set. Event passes change only the set's
// elements, and only when the peers changed; the periodic pass re-asserts
// the whole table.
import { type NftCommand, nftApply, separated } from '../linux/nft.ts';
import { type Cidr, formatCidr } from '../net/address.ts';
import { messageOf } from '../text/error-message.ts';
import type { PassKind } from './scheduler.ts';

export const VXLAN_INGRESS_TABLE = 'weft-vxlan';
export const PEER_SET = 'peer-vteps';
/** Named counters survive the periodic re-assertion, so drops stay countable. */
export const COUNTERS = { fromPods: 'vxlan-from-pods', fromNonPeers: 'vxlan-from-non-peers' } as const;

export type VxlanIngressSpec = { port: number; podNetworks: Cidr[] };

const T = ['inet', VXLAN_INGRESS_TABLE] as const;
const BASE_CHAIN = ['priority', '-10', ';', 'policy', 'accept', ';', '}'];

/** `{ a , b }` as words; never empty (callers skip an empty list). */
const elements = (items: string[]): string[] => ['{', ...separated(items, ','), '}'];

function rules(spec: VxlanIngressSpec): NftCommand[] {
  const vxlan = ['udp', 'dport', String(spec.port)];
  const fromPods = [...vxlan, 'ip', 'saddr', ...elements(spec.podNetworks.map(formatCidr)), 'counter', 'name', COUNTERS.fromPods, 'drop'];
  return [
    ['add', 'rule', ...T, 'input', ...fromPods],
    ['add', 'rule', ...T, 'input', ...vxlan, 'ip', 'saddr', '!=', `@${PEER_SET}`, 'counter', 'name', COUNTERS.fromNonPeers, 'drop'],
    // Forwarded VXLAN from anything but a pod is not this node's to judge: its destination filters it.
    ['add', 'rule', ...T, 'forward', ...fromPods],
  ];
}

/**
 * The whole table, asserted in place: what is missing is created, the chains
 * and the peer set are refilled, the counters keep their counts. One
 * transaction, so no packet ever meets a half-built filter.
 */
export function ingressTable(spec: VxlanIngressSpec, peers: string[]): NftCommand[] {
  // Before iptables' filter tables (priority 0): the counters see every VXLAN packet weft drops.
  const chain = (name: string, hook: 'input' | 'forward'): NftCommand => ['add', 'chain', ...T, name, '{', 'type', 'filter', 'hook', hook, ...BASE_CHAIN];
  return [
    ['add', 'table', ...T],
    ...Object.values(COUNTERS).map((c): NftCommand => ['add', 'counter', ...T, c]),
    ['add', 'set', ...T, PEER_SET, '{', 'type', 'ipv4_addr', ';', '}'],
    chain('input', 'input'),
    chain('forward', 'forward'),
    ['flush', 'chain', ...T, 'input'],
    ['flush', 'chain', ...T, 'forward'],
    ['flush', 'set', ...T, PEER_SET],
    ...(peers.length > 0 ? [['add', 'element', ...T, PEER_SET, ...elements(peers)]] : []),
    ...rules(spec),
  ];
}

/** The table made anew, for when something in the way (a chain of another shape) refuses the assertion. */
export function replacedIngressTable(spec: VxlanIngressSpec, peers: string[]): NftCommand[] {
  return [['add', 'table', ...T], ['delete', 'table', ...T], ...ingressTable(spec, peers)];
}

/** The element changes that turn the peer set `before` into `after`; none when they hold the same addresses. */
export function peerSetChanges(before: readonly string[], after: readonly string[]): NftCommand[] {
  // Sets: with thousands of peers, list lookups would cost more than the nft run.
  const had = new Set(before);
  const has = new Set(after);
  const added = after.filter((ip) => !had.has(ip));
  const removed = before.filter((ip) => !has.has(ip));
  return [
    ...(added.length > 0 ? [['add', 'element', ...T, PEER_SET, ...elements(added)]] : []),
    ...(removed.length > 0 ? [['delete', 'element', ...T, PEER_SET, ...elements(removed)]] : []),
  ];
}

export type VxlanIngress = {
  /** Keeps the filter in step with the peers a pass programmed. */
  update(peers: string[], kind: PassKind): void;
};

export function createVxlanIngress(spec: VxlanIngressSpec): VxlanIngress {
  // What the kernel's set holds after the last pass; undefined: not known.
  let applied: string[] | undefined;
  // The list the last event pass was given: the overlay pass hands out the same array while its peers stay the same.
  let seen: readonly string[] | undefined;
  const assertWhole = (peers: string[]) => {
    try {
      nftApply(ingressTable(spec, peers));
    } catch (err) {
      try {
        nftApply(replacedIngressTable(spec, peers));
      } catch (again) {
        const why = `cannot install the VXLAN ingress filter (nft table inet ${VXLAN_INGRESS_TABLE}): ${messageOf(again)}`;
        throw new Error(`${why}; weftd needs nftables and CAP_NET_ADMIN`, { cause: new AggregateError([err, again]) });
      }
    }
  };
  return {
    update(peers, kind) {
      if (kind !== 'periodic' && applied !== undefined && peers === seen) return;
      seen = peers;
      const wanted = [...new Set(peers)].sort();
      const known = applied;
      applied = undefined;
      if (kind === 'periodic' || known === undefined) {
        assertWhole(wanted);
      } else {
        const changes = peerSetChanges(known, wanted);
        if (changes.length === 0) {
          applied = known;
          return;
        }
        try {
          nftApply(changes);
        } catch {
          // The table or an element went behind weftd's back: put it all back now.
          assertWhole(wanted);
        }
      }
      applied = wanted;
    },
  };
}
