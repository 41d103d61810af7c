// ipam.ranges and ipam.routes: valid ones the kernel can carry out, and one
// broken rule at a time.
//
// Every valid range sits in a slot of its own (an IPv4 /8, an IPv6 /32), so
// valid ranges never overlap and no gateway falls in another range; slots
// 10/8 and 2001:db8::/32 are kept for the faults that need room of their own.
// The plugin runs in a private netns, so any unicast space is safe to use.
import fc from 'fast-check';
import { addressText, BITS, type Cidr, cidrText, type Family, lastOf, networkOf, parseCidr, usable } from './addresses.ts';
import { hostileString } from './grammar.ts';
import { deep } from './values.ts';

export type RangeJson = { subnet: string; rangeStart?: string; rangeEnd?: string; gateway?: string };
export type RouteJson = { dst: string; gw?: string };

const TOP_BITS: Record<Family, number> = { 4: 8, 6: 32 };
const PREFIX_BOUNDS: Record<Family, { min: number; max: number }> = { 4: { min: 8, max: 30 }, 6: { min: 32, max: 126 } };

// IPv4 slots avoid 0/8, loopback, multicast and class E, and 10/8.
const V4_SLOTS = Array.from({ length: 223 }, (_, i) => i + 1).filter((o) => o !== 10 && o !== 127);
const V6_SLOTS = { min: 0x24000000, max: 0x3fffffff };
const RESERVED_SLOT: Record<Family, bigint> = { 4: 10n, 6: 0x20010db8n };

function slotCidr(family: Family, slot: bigint): Cidr {
  return { family, network: slot << BigInt(BITS[family] - TOP_BITS[family]), prefix: TOP_BITS[family] };
}

// --- Valid -------------------------------------------------------------------

const prefixIn = (family: Family) => {
  const { min, max } = PREFIX_BOUNDS[family];
  const common = family === 4 ? [16, 24] : [48, 64, 120];
  return fc.oneof(fc.constantFrom(min, max, ...common), fc.integer({ min, max }));
};

const pick = (first: bigint, last: bigint) => fc.oneof(fc.constantFrom(first, last), fc.bigInt({ min: first, max: last }));

/** A range in `slot` with at least one address besides its gateway. */
function rangeIn(family: Family, slot: bigint): fc.Arbitrary<RangeJson> {
  const top = slotCidr(family, slot);
  return prefixIn(family).chain((prefix) => {
    const freeBits = BigInt(prefix - TOP_BITS[family]);
    return fc.bigInt({ min: 0n, max: (1n << freeBits) - 1n }).chain((free) => {
      const subnet: Cidr = { family, network: top.network | (free << BigInt(BITS[family] - prefix)), prefix };
      const { first, last } = usable(subnet);
      const opt = fc.option(pick(first, last), { nil: undefined });
      return fc.tuple(opt, opt, opt).map(([a, b, gateway]) => {
        let [start, end] = a !== undefined && b !== undefined && a > b ? [b, a] : [a, b];
        const onlyGateway = (start ?? first) === (end ?? last) && (start ?? first) === (gateway ?? first);
        if (onlyGateway) {
          gateway = undefined;
          end = undefined;
        }
        const text = (v: bigint | undefined) => (v === undefined ? undefined : addressText({ family, value: v }));
        return dropUndefined({ subnet: cidrText(subnet), rangeStart: text(start), rangeEnd: text(end), gateway: text(gateway) });
      });
    });
  });
}

function dropUndefined<T extends Record<string, unknown>>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

type SetShape = { family: Family; size: number };

const setShapes: fc.Arbitrary<SetShape[]> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.array(fc.record({ family: fc.constantFrom<Family>(4, 4, 6), size: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 3 }),
  },
  // The limits themselves: 16 range sets, 64 ranges in a set.
  { weight: 1, arbitrary: fc.array(fc.constantFrom<Family>(4, 6), { minLength: 16, maxLength: 16 }).map((fs) => fs.map((family) => ({ family, size: 1 }))) },
  { weight: 1, arbitrary: fc.constantFrom<Family>(4, 6).map((family) => [{ family, size: 64 }]) },
);

function uniqueSlots(family: Family, count: number): fc.Arbitrary<bigint[]> {
  const slot = family === 4 ? fc.constantFrom(...V4_SLOTS).map(BigInt) : fc.integer(V6_SLOTS).map(BigInt);
  return fc.uniqueArray(slot, { minLength: count, maxLength: count });
}

export function validRangeSets(): fc.Arbitrary<RangeJson[][]> {
  return setShapes.chain((shapes) => {
    const count = (f: Family) => shapes.filter((s) => s.family === f).reduce((n, s) => n + s.size, 0);
    return fc.tuple(uniqueSlots(4, count(4)), uniqueSlots(6, count(6))).chain(([v4, v6]) => {
      const slots = { 4: [...v4], 6: [...v6] };
      return fc.tuple(...shapes.map((s) => fc.tuple(...Array.from({ length: s.size }, () => rangeIn(s.family, slots[s.family].shift()!)))));
    });
  });
}

/** What the plugin makes of a range: its subnet, the addresses it hands out and its gateway. */
export type ParsedRange = { subnet: Cidr; first: bigint; last: bigint; gateway: bigint };

export function parseRange(r: RangeJson): ParsedRange {
  const subnet = parseCidr(r.subnet)!;
  const at = (text: string | undefined) => (text === undefined ? undefined : parseCidr(text)!.host);
  return {
    subnet,
    first: at(r.rangeStart) ?? subnet.network + 1n,
    // The last usable address in either reading of IPv6's last address.
    last: at(r.rangeEnd) ?? (subnet.family === 4 ? lastOf(subnet) - 1n : lastOf(subnet)),
    gateway: at(r.gateway) ?? subnet.network + 1n,
  };
}

const familyOf = (set: RangeJson[]) => parseCidr(set[0]!.subnet)!.family;

/**
 * Routes of the config's families to destinations outside every pod subnet
 * (a route to a subnet the pod is on would clash with the kernel's own).
 * A gateway is given only where it is surely on the pod's link: the gateway
 * of a range set with one range, which the pod must have its address from.
 */
export function validRoutes(sets: RangeJson[][]): fc.Arbitrary<RouteJson[]> {
  const families = [...new Set(sets.map(familyOf))];
  const subnets = sets.flat().map((r) => parseCidr(r.subnet)!);
  const gateways = (f: Family) =>
    sets.filter((s) => s.length === 1 && familyOf(s) === f).map((s) => addressText({ family: f, value: parseRange(s[0]!).gateway }));
  const route = fc
    .constantFrom(...families)
    .chain((family) =>
      fc.record({
        dst: destination(family),
        gw: fc.option(gateways(family).length ? fc.constantFrom(...gateways(family)) : fc.constant(undefined), { nil: undefined }),
      }),
    )
    .filter((r) => !subnets.some((s) => inside(parseCidr(r.dst)!, s)))
    .map((r) => dropUndefined(r));
  const key = (r: RouteJson) => canonicalDst(r.dst);
  return fc.oneof(
    { weight: 10, arbitrary: fc.uniqueArray(route, { maxLength: 3, selector: key }) },
    { weight: 1, arbitrary: fc.uniqueArray(route, { minLength: 64, maxLength: 64, selector: key }) },
  );
}

const canonicalDst = (dst: string) => cidrText(parseCidr(dst)!);

function inside(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.prefix >= outer.prefix && networkOf(inner.network, outer.family, outer.prefix) === outer.network;
}

/** A canonical unicast destination (the default route included). */
function destination(family: Family): fc.Arbitrary<string> {
  const bits = BITS[family];
  const any = fc.tuple(fc.integer({ min: 1, max: bits }), fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n })).map(([prefix, value]) => {
    // Keep to unicast space: 1–223 but 127 for IPv4, 2000::/3 for IPv6.
    const fixed = family === 4 ? (value % (223n << 24n)) + (1n << 24n) : (value & ((1n << 125n) - 1n)) | (1n << 125n);
    const v = family === 4 && fixed >> 24n === 127n ? fixed + (1n << 24n) : fixed;
    return cidrText({ family, network: networkOf(v, family, prefix), prefix });
  });
  return fc.oneof(fc.constant(family === 4 ? '0.0.0.0/0' : '::/0'), any);
}

// --- One broken rule ------------------------------------------------------------

export type Fault<T> = { why: string; value: T };

/** A JSON value that is not of the `expected` JSON type (null left out: absent or wrong is open). */
export function wrongType(expected: 'string' | 'number' | 'boolean' | 'array' | 'object'): fc.Arbitrary<unknown> {
  const kinds: Record<string, fc.Arbitrary<unknown>> = {
    string: fc.oneof(hostileString(), fc.constantFrom('1500', 'true', '[]', '{}', '10.0.0.0/24')),
    number: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    boolean: fc.boolean(),
    array: fc.oneof(
      fc.array(
        fc.jsonValue({ maxDepth: 2 }).filter((v) => v !== null),
        { maxLength: 3 },
      ),
      fc.integer({ min: 1, max: 5000 }).map(deep),
    ),
    object: fc.dictionary(hostileString({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  };
  return fc.oneof(
    ...Object.entries(kinds)
      .filter(([k]) => k !== expected)
      .map(([, v]) => v),
  );
}

/** Text that is no CIDR of either family. */
function notACidr(family: Family): fc.Arbitrary<string> {
  const a = family === 4 ? '10.1.2.0' : 'fd00:1::';
  const bits = BITS[family];
  return fc
    .oneof(
      fc.constantFrom(a, `${a}/`, `${a}/${bits + 1}`, `${a}/-1`, `${a}/ 24`, `${a}/24 `, ` ${a}/24`, `${a}/2a`, `${a}/24/24`, `${a}/1e1`, ''),
      fc.constantFrom(
        ...(family === 4
          ? ['256.0.0.0/8', '10.0.0/24', '1.2.3.4.5/24', '10.0.0.0.0/8', 'a.b.c.d/8']
          : ['fd00:::/64', 'g::/64', 'fd00::%eth0/64', '1:2:3:4:5:6:7:8:9/64', ':/64']),
      ),
      hostileString({ nul: true }),
    )
    .filter((t) => !(t.includes('/') && parseCidr(t)));
}

/** Text that is no address of `family` at all. */
function notAnAddress(family: Family): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.constantFrom(
        ...(family === 4 ? ['10.0.0.256', '1.2.3', '1.2.3.4.5', '10.0.0.1/32', ' 10.0.0.1', ''] : ['fd00:::1', 'g::1', 'fd00::1%eth0', 'fd00::1/128', '']),
      ),
      hostileString({ nul: true }),
    )
    .filter((t) => parseCidr(t) === undefined || t.includes('/'));
}

type Target = { set: number; range: number };

const target = (sets: RangeJson[][]) =>
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]): Target => {
    const set = i % sets.length;
    return { set, range: j % sets[set]!.length };
  });

const replaceAt = (sets: unknown[][], t: Target, value: unknown): unknown[][] =>
  sets.map((s, i) => (i === t.set ? s.map((r, j) => (j === t.range ? value : r)) : s));

/** Ranges for the fault constructions, from the family's reserved slot. */
function reservedSubnet(family: Family, index: number, prefix: number): Cidr {
  const slot = slotCidr(family, RESERVED_SLOT[family]);
  return { family, network: slot.network | (BigInt(index) << BigInt(BITS[family] - prefix)), prefix };
}

export function rangeFaults(sets: RangeJson[][]): fc.Arbitrary<Fault<unknown>> {
  const at = (t: Target) => sets[t.set]![t.range]!;
  const fam = (t: Target) => parseCidr(at(t).subnet)!.family;
  const addr = (family: Family, value: bigint) => addressText({ family, value });
  const set = (value: unknown[][], why: string): Fault<unknown> => ({ why, value });

  const prefixOut = target(sets).chain((t) => {
    const f = fam(t);
    const { min, max } = PREFIX_BOUNDS[f];
    return fc.oneof(fc.constantFrom(min - 1, max + 1, BITS[f]), fc.integer({ min: 0, max: min - 1 })).map((prefix) => {
      const network = networkOf(parseCidr(at(t).subnet)!.network, f, prefix);
      return set(replaceAt(sets, t, { subnet: cidrText({ family: f, network, prefix }) }), `ranges: prefix /${prefix} out of bounds`);
    });
  });
  const badSubnet = target(sets).chain((t) => notACidr(fam(t)).map((subnet) => set(replaceAt(sets, t, { ...at(t), subnet }), 'ranges: subnet not a CIDR')));
  const badAddress = fc.tuple(target(sets), fc.constantFrom('rangeStart', 'rangeEnd', 'gateway')).chain(([t, key]) => {
    const f = fam(t);
    const subnet = parseCidr(at(t).subnet)!;
    const other: Family = f === 4 ? 6 : 4;
    const outsideValue = subnet.network > 0n ? subnet.network - 1n : lastOf(subnet) + 1n;
    const values = fc.oneof(
      // The network and broadcast addresses are unusable beyond doubt in IPv4 only.
      fc.constantFrom(addr(f, outsideValue), addr(other, (1n << 24n) | 1n), ...(f === 4 ? [addr(4, subnet.network), addr(4, lastOf(subnet))] : [])),
      notAnAddress(f),
      wrongType('string'),
    );
    return values.map((v) => set(replaceAt(sets, t, { ...at(t), [key]: v }), `ranges: ${key} not a usable address`));
  });
  const startAfterEnd = target(sets).chain((t) => {
    const subnet = parseCidr(at(t).subnet)!;
    const { first, last } = usable(subnet);
    return fc
      .tuple(pick(first, last), pick(first, last))
      .filter(([a, b]) => a !== b)
      .map(([a, b]) => {
        const [lo, hi] = a < b ? [a, b] : [b, a];
        const r = { subnet: at(t).subnet, rangeStart: addr(subnet.family, hi), rangeEnd: addr(subnet.family, lo) };
        return set(replaceAt(sets, t, r), 'ranges: rangeStart after rangeEnd');
      });
  });
  const overlap = fc.tuple(target(sets), fc.boolean(), fc.nat()).map(([t, wide, where]) => {
    const subnet = parseCidr(at(t).subnet)!;
    const copy = { subnet: wide ? cidrText(slotCidr(subnet.family, subnet.network >> BigInt(BITS[subnet.family] - TOP_BITS[subnet.family]))) : at(t).subnet };
    return set(insertRange(sets, copy, subnet.family, where), 'ranges: ranges overlap');
  });
  const gatewayInOther = fc.tuple(fc.constantFrom<Family>(4, 6), fc.integer({ min: 0, max: 9 }), fc.boolean(), fc.nat()).map(([f, k, together, where]) => {
    const s = reservedSubnet(f, 0, f === 4 ? 24 : 64);
    const a = { subnet: cidrText(s), rangeStart: addr(f, s.network + 10n), rangeEnd: addr(f, s.network + 19n) };
    const b = { subnet: cidrText(s), rangeStart: addr(f, s.network + 20n), rangeEnd: addr(f, s.network + 29n), gateway: addr(f, s.network + 10n + BigInt(k)) };
    const added = together ? [[a, b]] : [[a], [b]];
    const pos = where % (sets.length + 1);
    return set([...sets.slice(0, pos), ...added, ...sets.slice(pos)], 'ranges: a gateway inside another range');
  });
  const tooManySets = fc.constantFrom<Family>(4, 6).map((f) => {
    const extra = Array.from({ length: Math.max(0, 17 - sets.length) }, (_, k) => [{ subnet: cidrText(reservedSubnet(f, k, f === 4 ? 16 : 48)) }]);
    return set([...sets, ...extra], 'ranges: 17 range sets');
  });
  const tooManyRanges = target(sets).map((t) => {
    const f = fam(t);
    const extra = Array.from({ length: Math.max(0, 65 - sets[t.set]!.length) }, (_, k) => ({ subnet: cidrText(reservedSubnet(f, k, f === 4 ? 16 : 48)) }));
    return set(
      sets.map((s, i) => (i === t.set ? [...s, ...extra] : s)),
      'ranges: 65 ranges in a set',
    );
  });
  const wrongTypes = fc.oneof(
    wrongType('array').map((v): Fault<unknown> => ({ why: 'ranges: not an array', value: v })),
    fc
      .tuple(fc.nat(), wrongType('array'))
      .map(([i, v]): Fault<unknown> => ({ why: 'ranges: a range set not an array', value: sets.map((s, k) => (k === i % sets.length ? v : s)) })),
    fc.tuple(target(sets), wrongType('object')).map(([t, v]) => set(replaceAt(sets, t, v), 'ranges: a range not an object')),
    fc
      .tuple(target(sets), fc.constantFrom('subnet', 'rangeStart', 'rangeEnd', 'gateway'), wrongType('string'))
      .map(([t, key, v]) => set(replaceAt(sets, t, { ...at(t), [key]: v }), `ranges: ${key} not a string`)),
    target(sets).map((t) => {
      const { subnet: _, ...rest } = at(t);
      return set(replaceAt(sets, t, rest), 'ranges: subnet missing');
    }),
  );
  return fc.oneof(prefixOut, badSubnet, badAddress, startAfterEnd, overlap, gatewayInOther, tooManySets, tooManyRanges, wrongTypes);
}

/** `range` added to a set of its family, or as a set of its own. */
function insertRange(sets: RangeJson[][], range: RangeJson, family: Family, where: number): RangeJson[][] {
  const sameFamily = sets
    .map((s, i) => [s, i] as const)
    .filter(([s]) => familyOf(s) === family)
    .map(([, i]) => i);
  const choice = where % (sameFamily.length + 1);
  if (choice === sameFamily.length) return [...sets, [range]];
  const i = sameFamily[choice]!;
  return sets.map((s, k) => (k === i ? [...s, range] : s));
}

export function routeFaults(sets: RangeJson[][], routes: RouteJson[]): fc.Arbitrary<Fault<unknown>> {
  const family = familyOf(sets[0]!);
  const base = routes.length ? routes : [{ dst: family === 4 ? '0.0.0.0/0' : '::/0' }];
  const at = fc.nat().map((i) => i % base.length);
  const replace = (i: number, value: unknown) => base.map((r, k) => (k === i ? value : r));
  const fault =
    (why: string) =>
    (value: unknown): Fault<unknown> => ({ why, value });
  const fam = (r: RouteJson) => parseCidr(r.dst)!.family;
  return fc.oneof(
    wrongType('array').map(fault('routes: not an array')),
    fc.tuple(at, wrongType('object')).map(([i, v]) => fault('routes: a route not an object')(replace(i, v))),
    at.map((i) => fault('routes: dst missing')(replace(i, dropUndefined({ gw: base[i]!.gw })))),
    fc.tuple(at, fc.oneof(wrongType('string'), notACidr(family))).map(([i, dst]) => fault('routes: dst not a CIDR')(replace(i, { ...base[i], dst }))),
    at.chain((i) => {
      const r = base[i]!;
      const otherFamily = addressText({ family: fam(r) === 4 ? 6 : 4, value: (1n << 24n) | 1n });
      return fc
        .oneof(fc.constant(otherFamily), notAnAddress(fam(r)), wrongType('string'))
        .map((gw) => fault('routes: gw not an address of the family')(replace(i, { ...r, gw })));
    }),
    fc
      .uniqueArray(destination(family), { minLength: 65, maxLength: 65, selector: canonicalDst })
      .map((dsts) => fault('routes: 65 routes')(dsts.map((dst) => ({ dst })))),
  );
}
