// What SPEC.md 1.1.0 says a plugin prints, as checks: exactly one JSON object
// on stdout, shaped as a result or an error for the version it was asked in;
// and the version grammar those shapes and the verbs depend on.
import { type Cidr, canonicalIp, ipFamily, parseCidr } from './ip.ts';
import type { Completed } from './plugin.ts';

/** The newest spec version this suite knows; newer versions in a conf are ignored, as libcni does. */
export const NEWEST_SPEC_VERSION = '1.1.0';

/** Versions whose ADD result shape the suite checks, oldest first (0.1.0/0.2.0 predate the interfaces list). */
export const RESULT_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** The spec version that introduced each verb the suite gates on. */
export const INTRODUCED_IN = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' } as const;

export type GatedVerb = keyof typeof INTRODUCED_IN;

const VERSION = /^(\d+)\.(\d+)\.(\d+)$/;

export function isVersion(text: string): boolean {
  return VERSION.test(text);
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const difference = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The one JSON object `text` must consist of (surrounding whitespace aside),
 * or why it does not: the spec lets a plugin print exactly one result or
 * error object on stdout, with logs going to stderr.
 */
export function readOneObject(text: string): { value: Record<string, unknown> } | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { problem: 'stdout is empty' };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (err) {
    return { problem: `stdout is not exactly one JSON object (${(err as Error).message})` };
  }
  if (!isObject(value)) return { problem: `stdout holds JSON ${Array.isArray(value) ? 'array' : typeof value}, not an object` };
  return { value };
}

/** Control characters (DEL included) as the escapes a JSON string would use. */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\u007f' ? '\\u007f' : JSON.stringify(c).slice(1, -1)));
}

export type CniErrorObject = { cniVersion?: unknown; code: number; msg: string; details?: string };

/** SPEC.md section 5 "Error": the error object, and every way the output departs from a non-zero exit with exactly one on stdout. */
export function readErrorOutput(completed: Completed): { error?: CniErrorObject; problems: string[] } {
  if (completed.exitCode === 0) return { problems: ['the plugin exited 0, accepting the request; it must exit non-zero with an error object on stdout'] };
  const parsed = readOneObject(completed.stdout);
  if ('problem' in parsed) return { problems: [`${parsed.problem}; print the error object on stdout`] };
  const problems: string[] = [];
  const { code, msg, details, cniVersion } = parsed.value;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0) problems.push(`"code" ${JSON.stringify(code)} is not a non-negative integer`);
  if (typeof msg !== 'string' || msg === '') problems.push('"msg" must be a non-empty string');
  if (details !== undefined && typeof details !== 'string') problems.push('"details" must be a string when present');
  if (problems.length > 0 || typeof code !== 'number' || typeof msg !== 'string') return { problems };
  return { error: { cniVersion, code, msg, details: typeof details === 'string' ? details : undefined }, problems };
}

/** "code 4: msg (details)" for a failure reason. */
export function describeError(error: CniErrorObject): string {
  return `code ${error.code}: ${error.msg}${error.details ? ` (${error.details})` : ''}`;
}

export type ResultIp = { address: Cidr; text: string; gateway?: string; interface?: number };
export type ResultRoute = { dst: Cidr; text: string; gw?: string; table?: number };
export type ResultInterface = { name: string; mac?: string; mtu?: number; sandbox?: string };

/** What the kernel checks need from a result. */
export type AddResultView = {
  interfaces: ResultInterface[];
  /** Index of CNI_IFNAME's entry in `interfaces`. */
  containerIndex: number;
  containerIps: ResultIp[];
  routes: ResultRoute[];
};

export type Expectation = { cniVersion: string; netns: string; ifname: string };

/** SPEC.md section 5 "ADD Success": every way `value` departs from it; `view` is there whenever the container interface could be found. */
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
    problems.push("ips is missing or not a list; the suite needs the pod's address to check it");
    return [];
  }
  // 0.3.x and 0.4.0 results carry ips[].version; 1.0.0 removed it.
  const versioned = compareVersions(cniVersion, '1.0.0') < 0;
  return readCidrEntries(raw, 'ips', 'address', 'an address in CIDR notation like "10.1.0.5/24"', problems, (entry, at, address) => {
    const gateway = typeof entry.gateway === 'string' ? entry.gateway : undefined;
    if (entry.gateway !== undefined && (gateway === undefined || ipFamily(gateway) !== address.family)) {
      problems.push(`${at}.gateway ${JSON.stringify(entry.gateway)} is not an IPv${address.family} address like its address`);
    }
    if (entry.interface !== undefined && (!isUint(entry.interface) || entry.interface >= interfaceCount)) {
      problems.push(`${at}.interface ${JSON.stringify(entry.interface)} is not an index into interfaces[] (0…${interfaceCount - 1})`);
    }
    if (versioned) {
      if (entry.version !== String(address.family)) {
        problems.push(`${at}.version is ${JSON.stringify(entry.version)}; a ${cniVersion} result needs "${address.family}" for ${entry.address}`);
      }
    } else if ('version' in entry) {
      problems.push(`${at} has "version", which results from 1.0.0 on no longer carry; drop it for cniVersion ${cniVersion}`);
    }
    return {
      address,
      text: entry.address as string,
      gateway: gateway && ipFamily(gateway) ? canonicalIp(gateway) : undefined,
      interface: isUint(entry.interface) ? entry.interface : undefined,
    };
  });
}

function readRoutes(raw: unknown, problems: string[]): ResultRoute[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.push('routes must be a list');
    return [];
  }
  return readCidrEntries(raw, 'routes', 'dst', 'a destination in CIDR notation like "0.0.0.0/0"', problems, (entry, at, dst) => {
    const gw = typeof entry.gw === 'string' && ipFamily(entry.gw) ? canonicalIp(entry.gw) : undefined;
    if (entry.gw !== undefined && gw === undefined) problems.push(`${at}.gw ${JSON.stringify(entry.gw)} is not an IP address`);
    for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope']) {
      if (entry[key] !== undefined && !isUint(entry[key])) problems.push(`${at}.${key} ${JSON.stringify(entry[key])} is not an unsigned integer`);
    }
    return { dst, text: entry.dst as string, gw, table: isUint(entry.table) ? entry.table : undefined };
  });
}

/** The entries of `list` whose `key` holds a CIDR, each read by `read`; the others are reported and dropped. */
function readCidrEntries<T>(
  raw: readonly unknown[],
  list: string,
  key: string,
  mustBe: string,
  problems: string[],
  read: (entry: Record<string, unknown>, at: string, cidr: Cidr) => T,
): T[] {
  const entries: T[] = [];
  raw.forEach((entry, i) => {
    const at = `${list}[${i}]`;
    const cidr = isObject(entry) && typeof entry[key] === 'string' ? parseCidr(entry[key]) : undefined;
    if (!isObject(entry) || !cidr) problems.push(`${at}.${key} must be ${mustBe}`);
    else entries.push(read(entry, at, cidr));
  });
  return entries;
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

// A runtime's stack trace means the input reached code that did not expect
// it, whatever the exit status says.
const STACK_LINES: [RegExp, string][] = [
  [/^goroutine \d+ \[[^\]]*\]:$/m, 'a Go goroutine dump'],
  [/^panic: /m, 'a Go panic'],
  [/^\s+at .+:\d+:\d+\)?$/m, 'a JavaScript stack trace'],
  [/^Traceback \(most recent call last\):$/m, 'a Python traceback'],
  [/^thread '.*' panicked at /m, 'a Rust panic'],
];

/** What kind of stack trace `text` holds, or undefined when it holds none. */
export function stackTraceIn(text: string): string | undefined {
  return STACK_LINES.find(([pattern]) => pattern.test(text))?.[1];
}
