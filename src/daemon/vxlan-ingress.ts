// The VXLAN ingress filter: the VXLAN port decapsulates whatever reaches it,
// so a host on the underlay, or a pod, could put frames with a forged pod
// source into the overlay. One nft table, for both families, drops UDP to
// the port from any source that is not a programmed peer's VTEP of its
// family, and VXLAN sent from a pod address, both at this node and forwarded
// through it (with --ip-masq a pod's VXLAN would otherwise leave with the
// node's own, trusted, address). Like Calico's cali40all-vxlan-net set.
// Event passes change only the sets' elements, and only when the peers
// changed, through a long-lived `nft -i`; the periodic pass re-asserts the
// whole table. nft runs beside the passes, never in their way: a new peer's
// routes do not wait for it.
import { type NftCommand, nftApplyInBackground, separated } from '../linux/nft.ts';
import { createNftShell } from '../linux/nft-shell.ts';
import { type Cidr, familyOfText, formatCidr } from '../net/address.ts';
import { messageOf } from '../text/error-message.ts';
import type { PassKind } from './scheduler.ts';

export const VXLAN_INGRESS_TABLE = 'weft-vxlan';
export const PEER_SET = 'peer-vteps';
export const PEER_SET6 = 'peer-vteps6';
/** Named counters survive the periodic re-assertion, so drops stay countable; each counts both families. */
export const COUNTERS = { fromPods: 'vxlan-from-pods', fromNonPeers: 'vxlan-from-non-peers' } as const;

export type VxlanIngressSpec = { port: number; podNetworks: Cidr[] };

/** The peers' VTEP addresses, IPv4 and IPv6 mixed: canonical text, each once, sorted, as OverlayPass.peerVteps() gives them. */
export type PeerVteps = readonly string[];

/** Per family: how a rule matches the source address, and the peer set. */
const FAMILIES = [
  { family: 4, saddr: ['ip', 'saddr'], set: PEER_SET, type: 'ipv4_addr' },
  { family: 6, saddr: ['ip6', 'saddr'], set: PEER_SET6, type: 'ipv6_addr' },
] as const;

const T = ['inet', VXLAN_INGRESS_TABLE] as const;
const BASE_CHAIN = ['priority', '-10', ';', 'policy', 'accept', ';', '}'];

/** `{ a , b }` as words; never empty (callers skip an empty list). */
const elements = (items: readonly string[]): string[] => ['{', ...separated(items, ','), '}'];

function rules(spec: VxlanIngressSpec): NftCommand[] {
  const vxlan = ['udp', 'dport', String(spec.port)];
  return FAMILIES.flatMap(({ family, saddr, set }): NftCommand[] => {
    const pods = spec.podNetworks.filter((c) => c.family === family).map(formatCidr);
    const fromPods = pods.length > 0 ? [...vxlan, ...saddr, ...elements(pods), 'counter', 'name', COUNTERS.fromPods, 'drop'] : undefined;
    return [
      ...(fromPods ? [['add', 'rule', ...T, 'input', ...fromPods]] : []),
      // Both families, whichever underlays this node has: an empty set drops all of a family's VXLAN.
      ['add', 'rule', ...T, 'input', ...vxlan, ...saddr, '!=', `@${set}`, 'counter', 'name', COUNTERS.fromNonPeers, 'drop'],
      // Forwarded VXLAN from anything but a pod is not this node's to judge: its destination filters it.
      ...(fromPods ? [['add', 'rule', ...T, 'forward', ...fromPods]] : []),
    ];
  });
}

/** The set elements that fill each family's peer set. */
function peerElements(peers: PeerVteps): NftCommand[] {
  return FAMILIES.flatMap(({ family, set }): NftCommand[] => {
    const mine = peers.filter((ip) => familyOfText(ip) === family);
    return mine.length > 0 ? [['add', 'element', ...T, set, ...elements(mine)]] : [];
  });
}

/**
 * The whole table, asserted in place: what is missing is created, the chains
 * and the peer sets are refilled, the counters keep their counts. One
 * transaction, so no packet ever meets a half-built filter.
 */
export function ingressTable(spec: VxlanIngressSpec, peers: PeerVteps): NftCommand[] {
  // Before iptables' filter tables (priority 0): the counters see every VXLAN packet weft drops.
  const chain = (name: string, hook: 'input' | 'forward'): NftCommand => ['add', 'chain', ...T, name, '{', 'type', 'filter', 'hook', hook, ...BASE_CHAIN];
  return [
    ['add', 'table', ...T],
    ...Object.values(COUNTERS).map((c): NftCommand => ['add', 'counter', ...T, c]),
    ...FAMILIES.map(({ set, type }): NftCommand => ['add', 'set', ...T, set, '{', 'type', type, ';', '}']),
    chain('input', 'input'),
    chain('forward', 'forward'),
    ['flush', 'chain', ...T, 'input'],
    ['flush', 'chain', ...T, 'forward'],
    ...FAMILIES.map(({ set }): NftCommand => ['flush', 'set', ...T, set]),
    ...peerElements(peers),
    ...rules(spec),
  ];
}

/** The table made anew, for when something in the way (a chain of another shape) refuses the assertion. */
export function replacedIngressTable(spec: VxlanIngressSpec, peers: PeerVteps): NftCommand[] {
  return [['add', 'table', ...T], ['delete', 'table', ...T], ...ingressTable(spec, peers)];
}

/** The element changes, per family's set, that turn the peers `before` into `after`; none when they hold the same addresses. */
export function peerSetChanges(before: PeerVteps, after: PeerVteps): NftCommand[] {
  // Sets: with thousands of peers, list lookups would cost more than the nft run.
  const had = new Set(before);
  const has = new Set(after);
  const added = after.filter((ip) => !had.has(ip));
  const removed = before.filter((ip) => !has.has(ip));
  return FAMILIES.flatMap(({ family, set }): NftCommand[] => {
    const add = added.filter((ip) => familyOfText(ip) === family);
    const remove = removed.filter((ip) => familyOfText(ip) === family);
    return [
      ...(add.length > 0 ? [['add', 'element', ...T, set, ...elements(add)]] : []),
      ...(remove.length > 0 ? [['delete', 'element', ...T, set, ...elements(remove)]] : []),
    ];
  });
}

export type VxlanIngress = {
  /**
   * Keeps the filter in step with the peers a pass programmed. Runs nft in
   * the background, one run at a time; calls made while one runs share the
   * next, which takes the latest peers. Resolves once the kernel holds them.
   */
  update(peers: PeerVteps, kind: PassKind): Promise<void>;
  close(): void;
};

export function createVxlanIngress(spec: VxlanIngressSpec): VxlanIngress {
  // What the kernel's set holds after the last run; undefined: not known.
  let applied: PeerVteps | undefined;
  // The latest peers asked for and not yet taken by a run; periodic once any such call was.
  let wanted: { peers: PeerVteps; periodic: boolean } | undefined;
  let queued: Promise<void> | undefined;
  let last: Promise<void> = Promise.resolve();
  // Element changes go to a long-lived nft: an event pass forks nothing.
  const shell = createNftShell();
  const assertWhole = async (peers: PeerVteps) => {
    try {
      await nftApplyInBackground(ingressTable(spec, peers));
    } catch (err) {
      try {
        await nftApplyInBackground(replacedIngressTable(spec, peers));
      } catch (again) {
        const why = `cannot install the VXLAN ingress filter (nft table inet ${VXLAN_INGRESS_TABLE}): ${messageOf(again)}`;
        throw new Error(`${why}; weftd needs nftables and CAP_NET_ADMIN`, { cause: new AggregateError([err, again]) });
      }
    }
  };
  const apply = async ({ peers, periodic }: { peers: PeerVteps; periodic: boolean }) => {
    if (!periodic && peers === applied) return;
    const known = applied;
    applied = undefined;
    if (periodic || known === undefined) {
      await assertWhole(peers);
    } else {
      const changes = peerSetChanges(known, peers);
      if (changes.length > 0) {
        try {
          await shell.run(changes);
        } catch {
          // The table or an element went behind weftd's back: put it all back now.
          await assertWhole(peers);
        }
      }
    }
    applied = peers;
  };
  return {
    update(peers, kind) {
      wanted = { peers, periodic: (wanted?.periodic ?? false) || kind === 'periodic' };
      if (queued) return queued;
      const run = last
        .catch(() => {})
        .then(() => {
          const next = wanted!;
          wanted = undefined;
          queued = undefined;
          return apply(next);
        });
      queued = run;
      last = run;
      return run;
    },
    close: () => shell.close(),
  };
}
