// Per-pod anti-spoofing (`"spoofCheck"`, on by default): a frame a pod sends
// into the bridge must carry the pod's own MAC and, for IPv4, ARP and IPv6,
// one of the pod's own addresses; anything else is dropped before the bridge
// forwards it or hands it to the node. One nftables table (bridge family, so
// it sees every frame entering a bridge port) is owned by weft; its rules
// never name a pod, and ADD and DEL only add and remove set elements keyed by
// the host veth, so dozens of concurrent plugins never race on rules.
//
// IPv6 also allows the unspecified and link-local sources that neighbour
// discovery needs: the kernel never routes a link-local source off the
// bridge, and the MAC check still holds. A neighbour advertisement's target
// is not checked (nft 1.0.6 cannot match it against a typed set), so ND is
// left to the source check; router advertisements and redirects from pods,
// which would steer other pods' traffic, are dropped.

import { type ElementChange, type KeyType, type NftCommand, separated } from '../linux/nft.ts';
import { type Address, formatAddress, parseAddress } from '../net/address.ts';

export const ANTISPOOF_TABLE = 'weft-antispoof';

const TABLE = ['bridge', ANTISPOOF_TABLE] as const;

/** What one pod may send from. */
export type PodSources = { hostVeth: string; mac: string; addresses: Address[] };

export type AntispoofSet = 'ports' | 'macs' | 'sources4' | 'sources6';

/** One set element: its key's parts, e.g. [hostVeth, mac, address]. */
export type AntispoofElement = { set: AntispoofSet; key: string[] };

const SET_TYPES: Record<AntispoofSet, KeyType[]> = {
  ports: ['ifname'],
  macs: ['ifname', 'ether_addr'],
  sources4: ['ifname', 'ether_addr', 'ipv4_addr'],
  sources6: ['ifname', 'ether_addr', 'ipv6_addr'],
};

const RULES: Record<'prerouting' | 'pod', string[][]> = {
  // Only the veths of pods under the check are looked at; other ports of the
  // same bridge (other networks, spoofCheck false) pass untouched.
  prerouting: [['iifname', '@ports', 'jump', 'pod']],
  pod: [
    ['iifname', '.', 'ether', 'saddr', '!=', '@macs', 'drop'],
    // VLAN tags and other protocols would carry a forged address past the checks below.
    ['ether', 'type', '!=', '{', 'ip', ',', 'arp', ',', 'ip6', '}', 'drop'],
    ['ether', 'type', 'arp', 'iifname', '.', 'arp', 'saddr', 'ether', '.', 'arp', 'saddr', 'ip', '!=', '@sources4', 'drop'],
    ['ether', 'type', 'ip', 'iifname', '.', 'ether', 'saddr', '.', 'ip', 'saddr', '!=', '@sources4', 'drop'],
    ['ip6', 'saddr', '!=', '{', '::', ',', 'fe80::/10', '}', 'iifname', '.', 'ether', 'saddr', '.', 'ip6', 'saddr', '!=', '@sources6', 'drop'],
    ['icmpv6', 'type', '{', 'nd-router-advert', ',', 'nd-redirect', '}', 'drop'],
  ],
};

/**
 * The table, its sets, chains and rules, asserted idempotently: the chains
 * are flushed and refilled in the same transaction, so whichever plugin runs
 * first or last, exactly one copy of each rule is there.
 */
function tableCommands(): NftCommand[] {
  const commands: NftCommand[] = [['add', 'table', ...TABLE]];
  for (const [set, type] of Object.entries(SET_TYPES)) {
    commands.push(['add', 'set', ...TABLE, set, '{', 'type', ...separated(type, '.'), ';', '}']);
  }
  // Before anything else on the bridge sees the frame (the reference bridge plugin's macspoofchk uses the same priority).
  commands.push(
    ['add', 'chain', ...TABLE, 'prerouting', '{', 'type', 'filter', 'hook', 'prerouting', 'priority', '-300', ';', 'policy', 'accept', ';', '}'],
    ['add', 'chain', ...TABLE, 'pod'],
  );
  for (const [chain, rules] of Object.entries(RULES)) {
    commands.push(['flush', 'chain', ...TABLE, chain], ...rules.map((r) => ['add', 'rule', ...TABLE, chain, ...r]));
  }
  return commands;
}

/** The elements that let one pod send: its port, its MAC, and MAC with each address. */
export function antispoofElements(pod: PodSources): AntispoofElement[] {
  return [
    { set: 'ports', key: [pod.hostVeth] },
    { set: 'macs', key: [pod.hostVeth, pod.mac] },
    ...pod.addresses.map((a): AntispoofElement => ({ set: a.family === 4 ? 'sources4' : 'sources6', key: [pod.hostVeth, pod.mac, formatAddress(a)] })),
  ];
}

/** The elements DEL removes for an attachment: those of every MAC it could have (pod-mac.ts). */
export function attachmentElements(hostVeth: string, macs: string[], addresses: Address[]): AntispoofElement[] {
  return macs.flatMap((mac) => antispoofElements({ hostVeth, mac, addresses }));
}

function elementCommand(verb: 'add' | 'delete', e: AntispoofElement): NftCommand {
  return [verb, 'element', ...TABLE, e.set, '{', ...separated(e.key, '.'), '}'];
}

/** ADD: the table asserted and the pod's elements added. */
export function antispoofScript(pod: PodSources): NftCommand[] {
  return [...tableCommands(), ...antispoofElements(pod).map((e) => elementCommand('add', e))];
}

function uniqueElements(elements: AntispoofElement[]): AntispoofElement[] {
  return [...new Map(elements.map((e) => [`${e.set} ${e.key.join(' ')}`, e])).values()];
}

/**
 * DEL and GC: each element added, then deleted, in one transaction. Deleting
 * an element that is not there fails the whole transaction, and nft 1.0.6
 * has no `destroy`; adding it first makes removal succeed whether or not
 * the element (or the table) was there.
 */
export function antispoofRemovalScript(elements: AntispoofElement[]): NftCommand[] {
  const unique = uniqueElements(elements);
  if (unique.length === 0) return [];
  return [...tableCommands(), ...unique.map((e) => elementCommand('add', e)), ...unique.map((e) => elementCommand('delete', e))];
}

/** Elements as nfnetlink changes, one per set, each key field typed as its set declares it. */
export function antispoofChanges(verb: 'add' | 'delete', elements: AntispoofElement[]): ElementChange[] {
  const bySet = new Map<AntispoofSet, AntispoofElement[]>();
  for (const e of elements) bySet.set(e.set, [...(bySet.get(e.set) ?? []), e]);
  return [...bySet].map(([set, members]) => ({
    verb,
    family: 'bridge',
    table: ANTISPOOF_TABLE,
    set,
    keys: members.map((e) => e.key.map((value, i) => ({ type: SET_TYPES[set][i]!, value }))),
  }));
}

/**
 * DEL and GC over nfnetlink: as the script above, each element added, then
 * deleted, in one batch, so an element already gone does not fail it.
 * NFT_MSG_DESTROYSETELEM would say this in one message, but only kernels
 * from 6.3 have it; the pair works on every kernel nft 1.0.6 runs on, at the
 * cost of a few bytes more, and needs no probe.
 */
export function antispoofRemovalChanges(elements: AntispoofElement[]): ElementChange[] {
  const unique = uniqueElements(elements);
  return [...antispoofChanges('add', unique), ...antispoofChanges('delete', unique)];
}

/** What `nft -j list table bridge weft-antispoof` holds, parsed. */
export type AntispoofListing = { elements: AntispoofElement[]; rules: Record<string, number> };

export function parseAntispoofListing(listed: unknown[]): AntispoofListing {
  const elements: AntispoofElement[] = [];
  const rules: Record<string, number> = {};
  for (const item of listed as Record<string, unknown>[]) {
    const set = item.set as { name?: string; elem?: unknown[] } | undefined;
    if (set?.name && set.name in SET_TYPES) {
      for (const elem of set.elem ?? []) elements.push({ set: set.name as AntispoofSet, key: elementKey(elem) });
    }
    const rule = item.rule as { chain?: string } | undefined;
    if (rule?.chain) rules[rule.chain] = (rules[rule.chain] ?? 0) + 1;
  }
  return { elements, rules };
}

function elementKey(elem: unknown): string[] {
  const parts = typeof elem === 'object' && elem !== null && 'concat' in elem ? (elem as { concat: unknown[] }).concat : [elem];
  return parts.map((p) => canonical(String(p)));
}

// nft prints addresses and MACs its own way; keys compare in weft's spelling.
function canonical(part: string): string {
  const address = parseAddress(part);
  return address ? formatAddress(address) : part.toLowerCase();
}

/** CHECK: why the table does not let `pod` send as ADD set it up, or undefined when it does. */
export function antispoofProblem(listing: AntispoofListing | undefined, pod: PodSources): string | undefined {
  const where = `table bridge ${ANTISPOOF_TABLE}`;
  if (!listing) return `${where} is missing`;
  for (const [chain, rules] of Object.entries(RULES)) {
    if (listing.rules[chain] !== rules.length) return `chain ${chain} of ${where} has ${listing.rules[chain] ?? 0} rules, weft puts ${rules.length} there`;
  }
  const present = new Set(listing.elements.map((e) => `${e.set} ${e.key.join(' . ')}`));
  const wanted = { ...pod, mac: pod.mac.toLowerCase() };
  for (const e of antispoofElements(wanted)) {
    const text = `${e.set} ${e.key.join(' . ')}`;
    if (!present.has(text)) return `anti-spoofing element ${e.key.join(' . ')} is missing from set ${e.set} of ${where}`;
  }
  return undefined;
}

/** GC: the elements of host veths that no longer exist. */
export function staleElements(listing: AntispoofListing, liveVeths: Set<string>): AntispoofElement[] {
  return listing.elements.filter((e) => !liveVeths.has(e.key[0]!));
}
