// The network configuration weft reads on stdin: decoded and validated once,
// here, into plain data the verbs trust.

import type { RangeSpec } from '../ipam/range.ts';
import { type Address, type Cidr, parseAddress, parseCidr } from '../net/address.ts';
import { SUBNET_FILE_PATH } from '../subnet/subnet-file.ts';
import { isObject, type JsonObject } from '../text/json.ts';
import { quote } from '../text/quote.ts';
import { CniError, configError, ErrorCode } from './errors.ts';
import { optArray, optBoolean, optInteger, optObject, optString, optStringArray } from './json-fields.ts';
import { absolutePathProblem, interfaceNameProblem, isValidContainerId, isValidNetworkName, MAX_NETWORK_NAME } from './names.ts';
import type { Attachment, Dns } from './types.ts';

export const PLUGIN_DEFAULTS = {
  bridge: 'weft0',
  subnetFile: SUBNET_FILE_PATH,
  dataDir: '/var/lib/cni/networks',
  hairpinMode: true,
  ipMasq: false,
  spoofCheck: true,
} as const;

/** An ipam route, parsed: `gw` has the family of `dst`. */
export type RouteSpec = { dst: Cidr; gw?: Address };

// Far more than any real network needs; what bounds the work a config can ask for.
export const LIMITS = { rangeSets: 16, rangesPerSet: 64, routes: 64, dnsEntries: 64, attachments: 65536 } as const;

export type NetworkConfig = {
  cniVersion: string;
  name: string;
  bridge: string;
  subnetFile: string;
  mtu: number | undefined;
  hairpinMode: boolean;
  ipMasq: boolean;
  /** A pod may send only from its own MAC and addresses (pod-antispoof.ts). */
  spoofCheck: boolean;
  dns: Dns;
  ipam: {
    ranges: RangeSpec[][] | undefined;
    routes: RouteSpec[] | undefined;
    dataDir: string;
  };
  prevResult: unknown;
  validAttachments: Attachment[];
};

/** Decodes stdin; anything that is not a JSON object is a decode failure. */
export function decodeConfig(raw: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new CniError(
      ErrorCode.DecodeFailure,
      `network config on stdin is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
      'pass the network configuration as a JSON object on stdin',
    );
  }
  if (!isObject(value)) {
    throw new CniError(ErrorCode.DecodeFailure, 'network config on stdin is not a JSON object', 'pass the network configuration as a JSON object on stdin');
  }
  return value;
}

export function configVersion(obj: JsonObject): string {
  const version = optString(obj, 'cniVersion', '');
  if (!version) throw configError('cniVersion is missing: set it, e.g. "cniVersion": "1.1.0"');
  return version;
}

export function parseNetworkConfig(obj: JsonObject): NetworkConfig {
  const name = optString(obj, 'name', '');
  if (!name) throw configError('name is missing: give the network a name, e.g. "name": "weft"');
  if (!isValidNetworkName(name)) {
    throw configError(`name ${quote(name)} is invalid: use up to ${MAX_NETWORK_NAME} letters, digits, "_", "." and "-", starting with a letter or digit`);
  }
  const bridge = optString(obj, 'bridge', '') ?? PLUGIN_DEFAULTS.bridge;
  const bridgeProblem = interfaceNameProblem(bridge);
  if (bridgeProblem) throw configError(`bridge ${quote(bridge)} ${bridgeProblem}: choose another bridge name`);
  const ipam = optObject(obj, 'ipam', '') ?? {};
  const ipamType = optString(ipam, 'type', 'ipam.');
  if (ipamType !== undefined && ipamType !== 'weft' && ipamType !== 'host-local') {
    throw configError(`ipam.type ${quote(ipamType)} is not supported: weft allocates addresses itself; remove ipam.type or set it to "host-local"`);
  }
  return {
    cniVersion: optString(obj, 'cniVersion', '') ?? '',
    name,
    bridge,
    subnetFile: absolutePath(optString(obj, 'subnetFile', ''), 'subnetFile') ?? PLUGIN_DEFAULTS.subnetFile,
    mtu: optInteger(obj, 'mtu', '', 68, 65535),
    hairpinMode: optBoolean(obj, 'hairpinMode', '') ?? PLUGIN_DEFAULTS.hairpinMode,
    ipMasq: optBoolean(obj, 'ipMasq', '') ?? PLUGIN_DEFAULTS.ipMasq,
    spoofCheck: optBoolean(obj, 'spoofCheck', '') ?? PLUGIN_DEFAULTS.spoofCheck,
    dns: parseDns(optObject(obj, 'dns', '')),
    ipam: {
      ranges: parseRangeSpecs(optArray(ipam, 'ranges', 'ipam.', LIMITS.rangeSets)),
      routes: parseRoutes(optArray(ipam, 'routes', 'ipam.', LIMITS.routes)),
      dataDir: absolutePath(optString(ipam, 'dataDir', 'ipam.'), 'ipam.dataDir') ?? PLUGIN_DEFAULTS.dataDir,
    },
    prevResult: obj.prevResult,
    validAttachments: parseAttachments(obj),
  };
}

function absolutePath(path: string | undefined, where: string): string | undefined {
  const problem = path === undefined ? undefined : absolutePathProblem(path);
  if (problem) throw configError(`${where} ${quote(path)} ${problem}: give an absolute path like /var/lib/cni/networks`);
  return path;
}

function parseDns(dns: JsonObject | undefined): Dns {
  if (!dns) return {};
  const out: Dns = {};
  const nameservers = optStringArray(dns, 'nameservers', 'dns.', LIMITS.dnsEntries);
  const domain = optString(dns, 'domain', 'dns.');
  const search = optStringArray(dns, 'search', 'dns.', LIMITS.dnsEntries);
  const options = optStringArray(dns, 'options', 'dns.', LIMITS.dnsEntries);
  if (nameservers) out.nameservers = nameservers;
  if (domain !== undefined) out.domain = domain;
  if (search) out.search = search;
  if (options) out.options = options;
  return out;
}

function parseRangeSpecs(sets: unknown[] | undefined): RangeSpec[][] | undefined {
  if (sets === undefined) return undefined;
  return sets.map((set, i) => {
    if (!Array.isArray(set)) throw configError(`ipam.ranges[${i}] must be an array of ranges, e.g. [{"subnet":"10.244.1.0/24"}]`);
    if (set.length > LIMITS.rangesPerSet) throw configError(`ipam.ranges[${i}] has ${set.length} ranges, at most ${LIMITS.rangesPerSet} are allowed`);
    return set.map((range, j): RangeSpec => {
      const where = `ipam.ranges[${i}][${j}].`;
      if (!isObject(range)) throw configError(`${where.slice(0, -1)} must be an object with a "subnet"`);
      const subnet = optString(range, 'subnet', where);
      if (!subnet) throw configError(`${where}subnet is missing: every range needs a subnet`);
      const spec: RangeSpec = { subnet };
      for (const key of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
        const v = optString(range, key, where);
        if (v !== undefined) spec[key] = v;
      }
      return spec;
    });
  });
}

function parseRoutes(routes: unknown[] | undefined): RouteSpec[] | undefined {
  if (routes === undefined) return undefined;
  const seen = new Set<string>();
  return routes.map((route, i) => {
    const where = `ipam.routes[${i}].`;
    if (!isObject(route)) throw configError(`ipam.routes[${i}] must be an object with a "dst"`);
    const dstText = optString(route, 'dst', where);
    const parsed = dstText === undefined ? undefined : parseCidr(dstText);
    if (!parsed) throw configError(`${where}dst ${quote(dstText)} is not a CIDR: write it like "0.0.0.0/0"`);
    const dst: Cidr = { family: parsed.family, network: parsed.network, prefix: parsed.prefix };
    const key = `${dst.family}/${dst.network}/${dst.prefix}`;
    if (seen.has(key)) throw configError(`${where}dst ${quote(dstText)} is listed twice: give each destination one route`);
    seen.add(key);
    const gwText = optString(route, 'gw', where);
    if (gwText === undefined) return { dst };
    const gw = parseAddress(gwText);
    if (!gw || gw.family !== dst.family) {
      throw configError(`${where}gw ${quote(gwText)} is not an IPv${dst.family} address: the gateway of a route to ${quote(dstText)} must be one`);
    }
    return { dst, gw };
  });
}

// GC's list of attachments to keep; cni.dev/attachments is its pre-1.1 name.
function parseAttachments(obj: JsonObject): Attachment[] {
  const key = 'cni.dev/valid-attachments' in obj ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const list = optArray(obj, key, '', LIMITS.attachments) ?? [];
  return list.map((entry, i) => {
    const where = `${key}[${i}].`;
    if (!isObject(entry)) throw configError(`${key}[${i}] must be an object with containerID and ifname`);
    const containerID = optString(entry, 'containerID', where) ?? '';
    const ifname = optString(entry, 'ifname', where) ?? '';
    if (!isValidContainerId(containerID)) throw configError(`${where}containerID ${quote(containerID)} is not a valid container ID`);
    const problem = interfaceNameProblem(ifname);
    if (problem) throw configError(`${where}ifname ${quote(ifname)} ${problem}`);
    return { containerID, ifname };
  });
}
