// Checks an ADD result against SPEC.md section 5 "ADD Success" for the version
// it was requested at, and extracts what the kernel checks need from it.
import { type Cidr, canonicalIp, ipFamily, parseCidr } from './ip.ts';
import { isObject } from './json.ts';
import { resultHasIpVersion } from './versions.ts';

export type ResultIp = { address: Cidr; text: string; gateway?: string; interface?: number };
export type ResultRoute = { dst: Cidr; text: string; gw?: string; table?: number };
export type ResultInterface = { name: string; mac?: string; mtu?: number; sandbox?: string };

export type AddResultView = {
  interfaces: ResultInterface[];
  /** Index of CNI_IFNAME's entry in `interfaces`. */
  containerIndex: number;
  /** The addresses assigned to the container interface. */
  containerIps: ResultIp[];
  routes: ResultRoute[];
};

export type Expectation = { cniVersion: string; netns: string; ifname: string };

/** Every way `value` departs from the spec; `view` is there whenever the container interface could be found. */
export function inspectAddResult(value: Record<string, unknown>, expect: Expectation): { view?: AddResultView; problems: string[] } {
  const problems: string[] = [];
  if (value.cniVersion !== expect.cniVersion) {
    problems.push(`cniVersion is ${JSON.stringify(value.cniVersion)}; it must be the request's "${expect.cniVersion}"`);
  }
  const interfaces = readInterfaces(value.interfaces, problems);
  const ips = readIps(value.ips, interfaces.length, expect.cniVersion, problems);
  const routes = readRoutes(value.routes, problems);
  readDns(value.dns, problems);

  const containerIndex = interfaces.findIndex((iface) => iface.name === expect.ifname);
  if (containerIndex < 0) {
    problems.push(`interfaces[] has no entry named "${expect.ifname}" (CNI_IFNAME); list the container interface`);
    return { problems };
  }
  const sandbox = interfaces[containerIndex]?.sandbox;
  if (sandbox !== expect.netns) {
    problems.push(`interfaces[${containerIndex}] ("${expect.ifname}") has sandbox ${JSON.stringify(sandbox)}; it must be CNI_NETNS "${expect.netns}"`);
  }
  const containerIps = ips.filter((ip) => ip.interface === containerIndex);
  if (containerIps.length === 0) {
    problems.push(`no ips[] entry has "interface": ${containerIndex}, the index of "${expect.ifname}"; point the pod's addresses at it`);
  }
  return { view: { interfaces, containerIndex, containerIps, routes }, problems };
}

function readInterfaces(raw: unknown, problems: string[]): ResultInterface[] {
  if (!Array.isArray(raw)) {
    problems.push('interfaces is missing or not a list; an interface plugin must list the interfaces it created');
    return [];
  }
  return raw.map((entry: unknown, i): ResultInterface => {
    const at = `interfaces[${i}]`;
    if (!isObject(entry) || typeof entry.name !== 'string' || entry.name === '') {
      problems.push(`${at} needs a non-empty "name"`);
      return { name: '' };
    }
    if (entry.mac !== undefined && (typeof entry.mac !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2})+$/i.test(entry.mac))) {
      problems.push(`${at}.mac ${JSON.stringify(entry.mac)} is not a hardware address like "0a:58:0a:00:00:02"`);
    }
    if (entry.mtu !== undefined && !isUint(entry.mtu)) problems.push(`${at}.mtu ${JSON.stringify(entry.mtu)} is not an unsigned integer`);
    if (entry.sandbox !== undefined && typeof entry.sandbox !== 'string') problems.push(`${at}.sandbox must be a string`);
    return {
      name: entry.name,
      mac: typeof entry.mac === 'string' ? entry.mac : undefined,
      mtu: isUint(entry.mtu) ? entry.mtu : undefined,
      sandbox: typeof entry.sandbox === 'string' ? entry.sandbox : undefined,
    };
  });
}

function readIps(raw: unknown, interfaceCount: number, cniVersion: string, problems: string[]): ResultIp[] {
  if (!Array.isArray(raw)) {
    problems.push('ips is missing or not a list; the suite needs the pod\'s address to check it');
    return [];
  }
  const ips: ResultIp[] = [];
  raw.forEach((entry: unknown, i) => {
    const at = `ips[${i}]`;
    const address = isObject(entry) && typeof entry.address === 'string' ? parseCidr(entry.address) : undefined;
    if (!isObject(entry) || !address) {
      problems.push(`${at}.address must be an address in CIDR notation like "10.1.0.5/24"`);
      return;
    }
    const gateway = typeof entry.gateway === 'string' ? entry.gateway : undefined;
    if (entry.gateway !== undefined && (gateway === undefined || ipFamily(gateway) !== address.family)) {
      problems.push(`${at}.gateway ${JSON.stringify(entry.gateway)} is not an IPv${address.family} address like its address`);
    }
    if (entry.interface !== undefined && (!isUint(entry.interface) || entry.interface >= interfaceCount)) {
      problems.push(`${at}.interface ${JSON.stringify(entry.interface)} is not an index into interfaces[] (0…${interfaceCount - 1})`);
    }
    if (resultHasIpVersion(cniVersion)) {
      if (entry.version !== String(address.family)) {
        problems.push(`${at}.version is ${JSON.stringify(entry.version)}; a ${cniVersion} result needs "${address.family}" for ${entry.address}`);
      }
    } else if ('version' in entry) {
      problems.push(`${at} has "version", which results from 1.0.0 on no longer carry; drop it for cniVersion ${cniVersion}`);
    }
    ips.push({
      address,
      text: entry.address as string,
      gateway: gateway && ipFamily(gateway) ? canonicalIp(gateway) : undefined,
      interface: isUint(entry.interface) ? entry.interface : undefined,
    });
  });
  return ips;
}

function readRoutes(raw: unknown, problems: string[]): ResultRoute[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.push('routes must be a list');
    return [];
  }
  const routes: ResultRoute[] = [];
  raw.forEach((entry: unknown, i) => {
    const at = `routes[${i}]`;
    const dst = isObject(entry) && typeof entry.dst === 'string' ? parseCidr(entry.dst) : undefined;
    if (!isObject(entry) || !dst) {
      problems.push(`${at}.dst must be a destination in CIDR notation like "0.0.0.0/0"`);
      return;
    }
    const gw = typeof entry.gw === 'string' && ipFamily(entry.gw) ? canonicalIp(entry.gw) : undefined;
    if (entry.gw !== undefined && gw === undefined) problems.push(`${at}.gw ${JSON.stringify(entry.gw)} is not an IP address`);
    for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope']) {
      if (entry[key] !== undefined && !isUint(entry[key])) problems.push(`${at}.${key} ${JSON.stringify(entry[key])} is not an unsigned integer`);
    }
    routes.push({ dst, text: entry.dst as string, gw, table: isUint(entry.table) ? entry.table : undefined });
  });
  return routes;
}

function readDns(raw: unknown, problems: string[]): void {
  if (raw === undefined) return;
  if (!isObject(raw)) {
    problems.push('dns must be an object');
    return;
  }
  const strings = (key: string) => raw[key] === undefined || (Array.isArray(raw[key]) && raw[key].every((s) => typeof s === 'string'));
  if (!strings('nameservers') || (Array.isArray(raw.nameservers) && !raw.nameservers.every((s: string) => ipFamily(s)))) {
    problems.push('dns.nameservers must be a list of IP addresses');
  }
  if (raw.domain !== undefined && typeof raw.domain !== 'string') problems.push('dns.domain must be a string');
  if (!strings('search')) problems.push('dns.search must be a list of strings');
  if (!strings('options')) problems.push('dns.options must be a list of strings');
}

function isUint(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
