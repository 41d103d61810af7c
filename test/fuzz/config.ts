// The network config on stdin: a generator of valid ones, hostile values in
// unknown keys included, and of configs that break exactly one config rule
// (code 7). Every config names its IPAM data dir inside the case directory:
// the default, /var/lib/cni/networks, is the host's.
import fc from 'fast-check';
import { hostileString, invalidId, invalidIfname, invalidPath, pathSegment, printable, validId, validIfname, validPath, validVersion } from './grammar.ts';
import { type Fault, type RangeJson, type RouteJson, rangeFaults, routeFaults, validRangeSets, validRoutes, wrongType } from './ranges.ts';
import { deep, long } from './values.ts';

export type Conf = Record<string, unknown>;

const KNOWN_KEYS = [
  'cniversion',
  'cniversions',
  'name',
  'type',
  'bridge',
  'mtu',
  'hairpinmode',
  'ipmasq',
  'spoofcheck',
  'subnetfile',
  'ipam',
  'dns',
  'prevresult',
  'runtimeconfig',
  'args',
  'capabilities',
  'plugins',
  'disablecheck',
  'disablegc',
  'isgateway',
  'isdefaultgateway',
  'forceaddress',
  'promiscmode',
  'vlan',
  'macspoofchk',
];

// JSON keys are case-sensitive but a Go runtime's decoder is not: a key that
// differs from a known one only in case is left out as open.
const isUnknownKey = (key: string) => !KNOWN_KEYS.includes(key.toLowerCase()) && !key.toLowerCase().startsWith('cni.dev');

/** Small hostile values for keys weft does not know. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  hostileString({ nul: true }),
  fc.constantFrom('::1', 'fe80::1%eth0', '::ffff:10.0.0.1', '10.0.0.0/33', '%s%n', '$(reboot)', '"; rm -rf /', '#', '-1'),
  fc.integer({ min: 1, max: 2000 }).map(deep),
);

// Up to 3 MB of JSON text: with the rest of a config, under the 4 MiB limit.
const BULK_BYTES = 3_000_000;

/** One big value, alone so a stdin stays under the limit. */
export const bulkValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 1, max: BULK_BYTES / 2 }).map(deep),
  fc.constantFrom('a', '\u00e9', '\\', '"', '\0', '😀').chain((unit) => {
    const bytesPerUnit = Buffer.byteLength(JSON.stringify(unit)) - 2;
    return fc.integer({ min: 1, max: Math.floor(BULK_BYTES / bytesPerUnit) }).map((n) => long(n, unit));
  }),
);

const unknownKey = fc
  .oneof(
    printable(20).map((k) => `x-${k}`),
    hostileString({ nul: true, maxLength: 12 }),
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', ''),
  )
  .filter(isUnknownKey);

const unknownMembers = fc.uniqueArray(fc.tuple(unknownKey, hostileValue), { maxLength: 3, selector: ([k]) => k });

const dnsText = fc.oneof({ weight: 9, arbitrary: printable(30) }, { weight: 1, arbitrary: fc.constant(long(1024, 'a')) });
const dnsList = (item: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 9, arbitrary: fc.array(item, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.array(item, { minLength: 64, maxLength: 64 }) });

const validDns = fc.record(
  {
    nameservers: dnsList(fc.constantFrom('10.96.0.10', '8.8.8.8', 'fd00::10', '::1')),
    domain: dnsText,
    search: dnsList(dnsText),
    options: dnsList(fc.oneof(fc.constantFrom('ndots:5', 'edns0', 'timeout:1'), dnsText)),
  },
  { requiredKeys: [] },
);

const mtuFor = (sets: RangeJson[][]) => {
  // Below 1280 the kernel turns IPv6 off on the link: no IPv6 address would fit.
  const min = sets.flat().some((r) => r.subnet.includes(':')) ? 1280 : 68;
  return fc.oneof(fc.constantFrom(min, 65535, 1500, 9000), fc.integer({ min, max: 65535 }));
};

const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

export function validConf(): fc.Arbitrary<Conf> {
  return validRangeSets().chain((ranges) =>
    fc
      .record({
        cniVersion: validVersion(),
        name: validId(128),
        bridge: opt(validIfname()),
        mtu: opt(mtuFor(ranges)),
        hairpinMode: opt(fc.boolean()),
        ipMasq: opt(fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })),
        spoofCheck: opt(fc.boolean()),
        subnetFile: opt(validPath('@case')),
        ipamType: opt(fc.constantFrom('weft', 'host-local')),
        dataDir: validPath('@case'),
        routes: opt(validRoutes(ranges)),
        dns: opt(validDns),
        unknown: unknownMembers,
      })
      .map(({ ipamType, dataDir, routes, unknown, ...top }) => ({
        ...top,
        type: 'weft',
        ipam: { type: ipamType, dataDir, ranges, routes },
        ...Object.fromEntries(unknown),
      })),
  );
}

// --- Faults -------------------------------------------------------------------

type Ipam = { ranges: RangeJson[][]; routes?: RouteJson[] } & Record<string, unknown>;

const ipamOf = (conf: Conf) => conf.ipam as Ipam;
const withIpam = (conf: Conf, change: Record<string, unknown>): Conf => ({ ...conf, ipam: { ...ipamOf(conf), ...change } });

const topLevel = (key: string, values: fc.Arbitrary<unknown>, why: string) =>
  values.map((value) => ({ why, change: (c: Conf): Conf => ({ ...c, [key]: value }) }));
const inIpam = (key: string, values: fc.Arbitrary<unknown>, why: string) =>
  values.map((value) => ({ why, change: (c: Conf): Conf => withIpam(c, { [key]: value }) }));

const invalidMtu = fc.oneof(
  fc.constantFrom(-1, 0, 67, 65536, 2 ** 31, 1e20, 67.5, 1500.5, -1500),
  fc.integer({ min: 65536 }),
  fc.integer({ max: 67 }),
  wrongType('number'),
);

const nonBoolean = fc.oneof(fc.constantFrom('true', 'false', 'yes', 1, 0), wrongType('boolean'));

const dnsFaults = (dns: Record<string, unknown>) => {
  const list = fc.constantFrom('nameservers', 'search', 'options');
  const set = (why: string) => (change: Record<string, unknown>) => ({ why, change: (c: Conf): Conf => ({ ...c, dns: { ...dns, ...change } }) });
  return fc.oneof(
    wrongType('object').map((v) => ({ why: 'dns: not an object', change: (c: Conf): Conf => ({ ...c, dns: v }) })),
    fc.tuple(list, wrongType('array')).map(([k, v]) => set(`dns: ${k} not a list`)({ [k]: v })),
    fc
      .tuple(list, wrongType('string'), fc.array(printable(10), { maxLength: 3 }))
      .map(([k, v, rest]) => set(`dns: ${k} holds a non-string`)({ [k]: [...rest, v] })),
    fc.tuple(list, fc.integer({ min: 65, max: 200 })).map(([k, n]) => set(`dns: ${k} longer than 64`)({ [k]: Array.from({ length: n }, (_, i) => `e${i}`) })),
    fc.tuple(list, fc.integer({ min: 1025, max: 5000 })).map(([k, n]) => set(`dns: a ${k} string over 1024`)({ [k]: [long(n, 'a')] })),
    fc.integer({ min: 1025, max: 5000 }).map((n) => set('dns: domain over 1024')({ domain: long(n, 'a') })),
    wrongType('string').map((v) => set('dns: domain not a string')({ domain: v })),
  );
};

/** A valid config with one config rule broken. */
export function invalidConf(): fc.Arbitrary<Fault<Conf>> {
  return validConf().chain((conf) => {
    const ipam = ipamOf(conf);
    const faults = fc.oneof(
      fc.constant({ why: 'cniVersion missing', change: ({ cniVersion: _, ...c }: Conf): Conf => c }),
      fc.constant({ why: 'name missing', change: ({ name: _, ...c }: Conf): Conf => c }),
      topLevel('name', fc.oneof(invalidId(128, { nul: true }), wrongType('string')), 'name invalid'),
      topLevel('bridge', fc.oneof(invalidIfname({ nul: true }), wrongType('string')), 'bridge not an interface name'),
      topLevel('mtu', invalidMtu, 'mtu not an integer 68–65535'),
      topLevel('hairpinMode', nonBoolean, 'hairpinMode not a boolean'),
      topLevel('ipMasq', nonBoolean, 'ipMasq not a boolean'),
      topLevel('spoofCheck', nonBoolean, 'spoofCheck not a boolean'),
      topLevel('subnetFile', fc.oneof(invalidPath('@case', pathSegment, { nul: true }), wrongType('string')), 'subnetFile not an absolute clean path'),
      inIpam('dataDir', fc.oneof(invalidPath('@case', pathSegment, { nul: true }), wrongType('string')), 'ipam.dataDir not an absolute clean path'),
      inIpam(
        'type',
        fc
          .oneof(fc.constantFrom('dhcp', 'static', 'bridge', 'Weft', 'weft ', 'host-local\n', ''), hostileString({ nul: true }), wrongType('string'))
          .filter((t) => t !== 'weft' && t !== 'host-local'),
        'ipam.type unsupported',
      ),
      topLevel('ipam', wrongType('object'), 'ipam not an object'),
      rangeFaults(ipam.ranges).map((f) => ({ why: f.why, change: (c: Conf) => withIpam(c, { ranges: f.value }) })),
      routeFaults(ipam.ranges, ipam.routes ?? []).map((f) => ({ why: f.why, change: (c: Conf) => withIpam(c, { routes: f.value }) })),
      dnsFaults((conf.dns as Record<string, unknown> | undefined) ?? {}),
    );
    return faults.map((f) => ({ why: f.why, value: f.change(conf) }));
  });
}
