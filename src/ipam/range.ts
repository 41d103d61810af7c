// Address ranges with host-local's semantics, as pure functions: which
// addresses a range may hand out and in which order (round-robin from the last
// reservation). The on-disk side is store.ts.

import {
  type Address,
  type Cidr,
  cidrContains,
  cidrsOverlap,
  type Family,
  formatAddress,
  formatCidr,
  lastAddress,
  parseAddress,
  parseCidr,
} from '../net/address.ts';
import { quote } from '../text/quote.ts';
import { IpamError } from './errors.ts';

/** One entry of host-local's `ranges` format. */
export type RangeSpec = {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
};

export type AddressRange = {
  subnet: Cidr;
  first: bigint;
  last: bigint;
  gateway: bigint;
};

/** A range set hands out one address per attachment; its ranges share a family. */
export type RangeSet = AddressRange[];

/** The shortest prefix a node's pod range may have, per family. */
export const MIN_PREFIX: Record<Family, number> = { 4: 8, 6: 32 };

export function parseRange(spec: RangeSpec, where: string): AddressRange {
  const subnet = parseCidr(spec.subnet);
  if (!subnet) throw rangeError(`${where}.subnet ${quote(spec.subnet)} is not a CIDR: write it like "10.244.1.0/24"`);
  const family = subnet.family;
  // A v4 subnet needs network, gateway, one pod and broadcast addresses.
  const maxPrefix = family === 4 ? 30 : 126;
  if (subnet.prefix > maxPrefix) {
    throw rangeError(`${where}.subnet ${spec.subnet} is too small to hold a gateway and a pod: use /${maxPrefix} or larger`);
  }
  // The bridge gets the subnet as a connected route: a /1 would pull half of
  // the address space, the node's own networks included, onto the pod bridge.
  const minPrefix = MIN_PREFIX[family];
  if (subnet.prefix < minPrefix) {
    throw rangeError(`${where}.subnet ${spec.subnet} is far too large for one node's pods: use /${minPrefix} or smaller`);
  }
  const top = lastAddress(subnet);
  const usableFirst = subnet.network + 1n;
  const usableLast = family === 4 ? top - 1n : top;
  const inside = (key: 'rangeStart' | 'rangeEnd' | 'gateway'): bigint | undefined => {
    const text = spec[key];
    if (text === undefined) return undefined;
    const address = parseAddress(text);
    if (!address || !cidrContains(subnet, address) || address.value < usableFirst || address.value > usableLast) {
      const usable = family === 4 ? 'between its network and broadcast addresses' : 'after its network address (the subnet-router anycast address)';
      throw rangeError(`${where}.${key} ${quote(text)} is not a usable address of ${formatCidr(subnet)}: pick one ${usable}`);
    }
    return address.value;
  };
  const gateway = inside('gateway') ?? usableFirst;
  const first = inside('rangeStart') ?? usableFirst;
  const last = inside('rangeEnd') ?? usableLast;
  if (first > last) throw rangeError(`${where}.rangeStart ${spec.rangeStart} is after rangeEnd ${spec.rangeEnd}: swap them`);
  return { subnet, first, last, gateway };
}

export function parseRangeSets(specs: RangeSpec[][], where: string): RangeSet[] {
  if (specs.length === 0) throw rangeError(`${where} is empty: give at least one range set, e.g. [[{"subnet":"10.244.1.0/24"}]]`);
  const sets = specs.map((set, i) => {
    if (set.length === 0) throw rangeError(`${where}[${i}] is empty: give at least one range`);
    return set.map((spec, j) => parseRange(spec, `${where}[${i}][${j}]`));
  });
  const all = sets.flat();
  for (const [i, set] of sets.entries()) {
    const family = set[0]!.subnet.family;
    if (set.some((r) => r.subnet.family !== family)) {
      throw rangeError(`${where}[${i}] mixes IPv4 and IPv6 ranges: put each family in its own range set`);
    }
  }
  for (let a = 0; a < all.length; a++) {
    for (let b = a + 1; b < all.length; b++) {
      const problem = rangeConflict(all[a]!, all[b]!);
      if (problem) throw rangeError(`${where}: ${problem}`);
    }
  }
  return sets;
}

/**
 * Why two ranges cannot share a bridge: overlapping addresses would be handed
 * out twice, a gateway inside another range would be handed to a pod, and two
 * subnets that overlap without being equal give the bridge two connected
 * routes for the same addresses.
 */
function rangeConflict(a: AddressRange, b: AddressRange): string | undefined {
  if (a.subnet.family !== b.subnet.family) return undefined;
  const inRange = (v: bigint, r: AddressRange) => v >= r.first && v <= r.last;
  const gw = (r: AddressRange) => formatAddress({ family: r.subnet.family, value: r.gateway });
  if (a.first <= b.last && b.first <= a.last) {
    return `ranges in ${formatCidr(a.subnet)} and ${formatCidr(b.subnet)} overlap: give each range its own addresses`;
  }
  for (const [r, other] of [
    [a, b],
    [b, a],
  ] as const) {
    if (inRange(r.gateway, other)) {
      return `gateway ${gw(r)} of ${formatCidr(r.subnet)} lies inside the range of ${formatCidr(other.subnet)}: it would be handed to a pod; narrow that range or pick another gateway`;
    }
  }
  const sameSubnet = a.subnet.network === b.subnet.network && a.subnet.prefix === b.subnet.prefix;
  if (!sameSubnet && cidrsOverlap(a.subnet, b.subnet)) {
    return `subnets ${formatCidr(a.subnet)} and ${formatCidr(b.subnet)} overlap: use the same subnet with separate ranges, or subnets that do not overlap`;
  }
  return undefined;
}

export function rangeSetFamily(set: RangeSet): Family {
  return set[0]!.subnet.family;
}

export function findRange(set: RangeSet, address: Address): AddressRange | undefined {
  return set.find((r) => address.family === r.subnet.family && address.value >= r.first && address.value <= r.last);
}

/**
 * Every assignable address of the set, once, starting just after
 * `lastReserved` and wrapping around, the way host-local walks its ranges.
 */
export function* candidates(set: RangeSet, lastReserved?: Address): Generator<Address> {
  const family = rangeSetFamily(set);
  let startRange = 0;
  let startValue = set[0]!.first;
  const lastRange = lastReserved ? set.findIndex((r) => lastReserved.value >= r.first && lastReserved.value <= r.last) : -1;
  if (lastReserved && lastRange >= 0) {
    const r = set[lastRange]!;
    if (lastReserved.value < r.last) {
      startRange = lastRange;
      startValue = lastReserved.value + 1n;
    } else {
      startRange = (lastRange + 1) % set.length;
      startValue = set[startRange]!.first;
    }
  }
  for (let step = 0; step <= set.length; step++) {
    const index = (startRange + step) % set.length;
    const r = set[index]!;
    const from = step === 0 ? startValue : r.first;
    // The last step revisits the start range's head that the first step skipped.
    const to = step === set.length ? startValue - 1n : r.last;
    for (let v = from; v <= to; v++) {
      if (v !== r.gateway) yield { family, value: v };
    }
  }
}

/** How many addresses the set can hand out in all. */
export function capacity(set: RangeSet): bigint {
  return set.reduce((sum, r) => sum + (r.last - r.first + 1n) - (r.gateway >= r.first && r.gateway <= r.last ? 1n : 0n), 0n);
}

export function hostCidr(range: AddressRange, address: Address): string {
  return `${formatAddress(address)}/${range.subnet.prefix}`;
}

function rangeError(message: string): IpamError {
  return new IpamError('config', message);
}
