// The network configuration weft reads on stdin: decoded and validated once,
// here, into plain data the verbs trust.
import { isAbsolute } from 'node:path';
import { parseCidr } from '../ipam/address.ts';
import type { RangeSpec } from '../ipam/range.ts';
import { CniError, ErrorCode, configError } from './errors.ts';
import {
  type JsonObject, isObject, optArray, optBoolean, optInteger, optObject, optString, optStringArray,
} from './json-fields.ts';
import { interfaceNameProblem, isValidContainerId, isValidNetworkName } from './names.ts';
import type { Attachment, Dns, Route } from './types.ts';

export const DEFAULTS = {
  bridge: 'weft0',
  subnetFile: '/run/weft/subnet.json',
  dataDir: '/var/lib/cni/networks',
  hairpinMode: true,
  ipMasq: false,
} as const;

export type NetConf = {
  cniVersion: string;
  name: string;
  bridge: string;
  subnetFile: string;
  mtu: number | undefined;
  hairpinMode: boolean;
  ipMasq: boolean;
  dns: Dns;
  ipam: {
    ranges: RangeSpec[][] | undefined;
    routes: Route[] | undefined;
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
    throw new CniError(ErrorCode.DecodeFailure, `network config on stdin is not valid JSON: ${(err as Error).message}`, 'pass the network configuration as a JSON object on stdin');
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

export function parseNetConf(obj: JsonObject): NetConf {
  const name = optString(obj, 'name', '');
  if (!name) throw configError('name is missing: give the network a name, e.g. "name": "weft"');
  if (!isValidNetworkName(name)) {
    throw configError(`name ${JSON.stringify(name)} is invalid: use letters, digits, "_", "." and "-", starting with a letter or digit`);
  }
  const bridge = optString(obj, 'bridge', '') ?? DEFAULTS.bridge;
  const bridgeProblem = interfaceNameProblem(bridge);
  if (bridgeProblem) throw configError(`bridge ${JSON.stringify(bridge)} ${bridgeProblem}: choose another bridge name`);
  const ipam = optObject(obj, 'ipam', '') ?? {};
  const ipamType = optString(ipam, 'type', 'ipam.');
  if (ipamType !== undefined && ipamType !== 'weft' && ipamType !== 'host-local') {
    throw configError(`ipam.type ${JSON.stringify(ipamType)} is not supported: weft allocates addresses itself; remove ipam.type or set it to "host-local"`);
  }
  return {
    cniVersion: optString(obj, 'cniVersion', '') ?? '',
    name,
    bridge,
    subnetFile: absolutePath(optString(obj, 'subnetFile', ''), 'subnetFile') ?? DEFAULTS.subnetFile,
    mtu: optInteger(obj, 'mtu', '', 68, 65535),
    hairpinMode: optBoolean(obj, 'hairpinMode', '') ?? DEFAULTS.hairpinMode,
    ipMasq: optBoolean(obj, 'ipMasq', '') ?? DEFAULTS.ipMasq,
    dns: parseDns(optObject(obj, 'dns', '')),
    ipam: {
      ranges: parseRangeSpecs(optArray(ipam, 'ranges', 'ipam.')),
      routes: parseRoutes(optArray(ipam, 'routes', 'ipam.')),
      dataDir: absolutePath(optString(ipam, 'dataDir', 'ipam.'), 'ipam.dataDir') ?? DEFAULTS.dataDir,
    },
    prevResult: obj.prevResult,
    validAttachments: parseAttachments(obj),
  };
}

function absolutePath(path: string | undefined, where: string): string | undefined {
  if (path !== undefined && !isAbsolute(path)) throw configError(`${where} ${JSON.stringify(path)} must be an absolute path`);
  return path;
}

function parseDns(dns: JsonObject | undefined): Dns {
  if (!dns) return {};
  const out: Dns = {};
  const nameservers = optStringArray(dns, 'nameservers', 'dns.');
  const domain = optString(dns, 'domain', 'dns.');
  const search = optStringArray(dns, 'search', 'dns.');
  const options = optStringArray(dns, 'options', 'dns.');
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

function parseRoutes(routes: unknown[] | undefined): Route[] | undefined {
  if (routes === undefined) return undefined;
  return routes.map((route, i) => {
    const where = `ipam.routes[${i}].`;
    if (!isObject(route)) throw configError(`ipam.routes[${i}] must be an object with a "dst"`);
    const dst = optString(route, 'dst', where);
    if (!dst || !parseCidr(dst)) throw configError(`${where}dst ${JSON.stringify(dst)} is not a CIDR: write it like "0.0.0.0/0"`);
    const gw = optString(route, 'gw', where);
    return gw === undefined ? { dst } : { dst, gw };
  });
}

// GC's list of attachments to keep; cni.dev/attachments is its pre-1.1 name.
function parseAttachments(obj: JsonObject): Attachment[] {
  const key = 'cni.dev/valid-attachments' in obj ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const list = optArray(obj, key, '') ?? [];
  return list.map((entry, i) => {
    const where = `${key}[${i}].`;
    if (!isObject(entry)) throw configError(`${key}[${i}] must be an object with containerID and ifname`);
    const containerID = optString(entry, 'containerID', where) ?? '';
    const ifname = optString(entry, 'ifname', where) ?? '';
    if (!isValidContainerId(containerID)) throw configError(`${where}containerID ${JSON.stringify(containerID)} is not a valid container ID`);
    return { containerID, ifname };
  });
}
