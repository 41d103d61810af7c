// The VXLAN ingress filter: the VXLAN port decapsulates whatever reaches it,
// so a host on the underlay, or a pod, could put frames with a forged pod
// source into the overlay. One nft table, for both families, drops UDP to
// the port from any source that is not a programmed peer's VTEP of its
// family, and VXLAN sent from a pod address, both at this node and forwarded
// through it (with --ip-masq a pod's VXLAN would otherwise leave with the
// node's own, trusted, address). Like Calico's cali40all-vxlan-net set.
// Event passes change only the elements of the VTEPs their nodes brought or
// took away (never a walk over every peer), through a long-lived `nft -i`;
// the periodic pass re-asserts the whole table. nft runs beside the
// passes, never in their way: a new peer's routes do not wait for it.
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

/**
 * The programmed peers' VTEP addresses (canonical text, IPv4 and IPv6
 * mixed), and those of them that may have come or gone since the last
 * update: an event names only its own, so that it costs its own nodes, not
 * the cluster. `all` (a Set, or a Map keyed by address) may change after the
 * call; what a run applies is read when the run starts.
 */
export type PeerVteps = { all: VtepView; touched: ReadonlySet<string> };

/** Which addresses are peers' VTEPs now. */
type VtepView = { has(ip: string): boolean; keys(): Iterable<string> };

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

/** One command per family's set that `op`s the addresses of that family; none for a family without any. */
function elementCommands(op: 'add' | 'delete', addresses: readonly string[]): NftCommand[] {
  return FAMILIES.flatMap(({ family, set }): NftCommand[] => {
    const mine = addresses.filter((ip) => familyOfText(ip) === family).sort();
    return mine.length > 0 ? [[op, 'element', ...T, set, ...elements(mine)]] : [];
  });
}

/**
 * The whole table, asserted in place: what is missing is created, the chains
 * and the peer sets are refilled, the counters keep their counts. One
 * transaction, so no packet ever meets a half-built filter.
 */
export function ingressTable(spec: VxlanIngressSpec, peers: Iterable<string>): NftCommand[] {
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
    ...elementCommands('add', [...peers]),
    ...rules(spec),
  ];
}

/** The table made anew, for when something in the way (a chain of another shape) refuses the assertion. */
export function replacedIngressTable(spec: VxlanIngressSpec, peers: Iterable<string>): NftCommand[] {
  return [['add', 'table', ...T], ['delete', 'table', ...T], ...ingressTable(spec, peers)];
}

/**
 * The element changes, per family's set, that bring the kernel's set
 * (`applied`) to `peers`, looking only at the `touched` addresses; none when
 * they agree.
 */
export function peerSetChanges(applied: ReadonlySet<string>, peers: VtepView, touched: Iterable<string>): NftCommand[] {
  return elementChanges(peerSetDiff(applied, peers, touched));
}

type SetDiff = { added: string[]; removed: string[] };

function peerSetDiff(applied: ReadonlySet<string>, peers: VtepView, touched: Iterable<string>): SetDiff {
  const diff: SetDiff = { added: [], removed: [] };
  for (const ip of touched) {
    if (peers.has(ip) && !applied.has(ip)) diff.added.push(ip);
    else if (!peers.has(ip) && applied.has(ip)) diff.removed.push(ip);
  }
  return diff;
}

const elementChanges = ({ added, removed }: SetDiff): NftCommand[] => [...elementCommands('add', added), ...elementCommands('delete', removed)];

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
  // What the kernel's sets hold after the last run; undefined: not known.
  let applied: Set<string> | undefined;
  // Asked for and not yet taken by a run: the latest peers, every address
  // touched since the last run took its share, and periodic once any call was.
  let wanted: { peers: VtepView; touched: Set<string>; periodic: boolean } | undefined;
  let queued: Promise<void> | undefined;
  let last: Promise<void> = Promise.resolve();
  // Element changes go to a long-lived nft: an event pass forks nothing.
  const shell = createNftShell();
  /** Asserts the whole table with `peers` in its sets; gives what the sets then hold. */
  const assertWhole = async (peers: readonly string[]): Promise<Set<string>> => {
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
    return new Set(peers);
  };
  const apply = async ({ peers, touched, periodic }: NonNullable<typeof wanted>) => {
    const known = applied;
    if (!periodic && known !== undefined && touched.size === 0) return;
    applied = undefined;
    // Read now, before any await: the overlay may change the peers while nft runs.
    if (periodic || known === undefined) {
      applied = await assertWhole([...peers.keys()]);
      return;
    }
    const diff = peerSetDiff(known, peers, touched);
    const changes = elementChanges(diff);
    if (changes.length > 0) {
      try {
        await shell.run(changes);
      } catch {
        // The table or an element went behind weftd's back: put it all back now.
        applied = await assertWhole([...peers.keys()]);
        return;
      }
    }
    for (const ip of diff.added) known.add(ip);
    for (const ip of diff.removed) known.delete(ip);
    applied = known;
  };
  return {
    update({ all, touched }, kind) {
      const gathered = wanted?.touched ?? new Set<string>();
      for (const ip of touched) gathered.add(ip);
      wanted = { peers: all, touched: gathered, periodic: (wanted?.periodic ?? false) || kind === 'periodic' };
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
