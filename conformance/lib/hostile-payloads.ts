// What the hostile-input cases are built from: canaries that only an injected
// command would set off, JSON no recursive encoder can write, and edits of a
// plugin's own ipam section, so that a hostile request differs from the conf
// in one value only.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defer } from './cleanup.ts';
import { distinctPlugins, type NetworkConfig } from './conf.ts';
import { createNetns, deleteLink, deleteNetns, describeNetns, linkExists, type Netns } from './host.ts';
import { addressAt, parseCidr } from './ip.ts';
import { describeFailure, run } from './plugin.ts';
import { type Breakage, breakRequest } from './pods.ts';
import type { Check } from './report.ts';
import { isObject } from './spec.ts';

export type HostileInput = {
  breakage: Breakage;
  /** Ends the pod's netns name, and so CNI_NETNS. */
  netnsLabel?: string;
  /** The network name the request carries when it is not the conf's: a plugin may make directories under it. */
  networkName?: string;
  /** Paths only a misused value would create. */
  forbiddenPaths?: readonly string[];
};

/** 'ipam': only the plugins whose ipam section has a subnet (host-local's format) to build hostile values on. */
export type Targets = 'all' | 'ipam';

export type HostileCase = { check: Check; targets: Targets; input: HostileInput };

export function hostileCase(id: string, what: string, targets: Targets, input: HostileInput): HostileCase {
  return { check: { id: `hostile.${id}`, title: `${what}: a clean error or an exact result, nothing left behind` }, targets, input };
}

/** The request's network name replaced, the way a conf could set it. */
export function withNetworkName(name: string, forbiddenPaths?: readonly string[]): HostileInput {
  return { breakage: breakRequest((valid) => ({ ...valid, name })), networkName: name, forbiddenPaths };
}

/** Indexes into the conf's plugins: the first entry of each type the case concerns. */
export function targetIndexes(net: NetworkConfig, targets: Targets): number[] {
  return distinctPlugins(net)
    .filter(({ index }) => targets === 'all' || ipamBase(net.plugins[index]?.ipam) !== undefined)
    .map(({ index }) => index);
}

// Canaries are a link name and a directory that only an injected `ip` line or
// shell command would create or write to. After every call the suite looks
// for them and removes what it finds, so the next call starts clean.

/** Plugins run with `dir` as their working directory, so payloads can name files in it in a few characters. */
export type Canaries = { link: string; dir: string };

export function prepareCanaries(): Canaries {
  const dir = mkdtempSync(join(tmpdir(), `cft-${process.pid}-canary-`));
  const link = `cfk${process.pid}`;
  defer(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  // Namespaces the suite made take their canaries with them; the host's own would stay.
  defer(`remove link ${link} should an injected command have made it on the host`, () => deleteLink(link));
  return { link, dir };
}

/**
 * A newline, then the `ip -batch` line that makes the canary link, its end
 * commented out so that words a plugin appends to the value cannot spoil it.
 */
export function canaryInjection(canaries: Canaries): string {
  return `\nlink add ${canaries.link} type bridge #`;
}

/**
 * Shell commands that write into the canary dir wherever a shell meets them
 * in a word: after ";", in $(…) and in backquotes. The names are relative
 * because CNI_IFNAME leaves no room for a path and a netns name may hold no "/".
 */
export const CANARY_SHELL_COMMANDS = ';touch semi;$(touch subst)`touch tick`';

/** Why the injections cannot leave their canaries here, or undefined when they can: otherwise their absence would prove nothing. */
export async function canaryInjectionProblem(canaries: Canaries): Promise<string | undefined> {
  // Each injection as a naive plugin would embed it: inside a line, with more words after it.
  const netns = await createNetns('-canary-test');
  try {
    const batch = `link show dev lo${canaryInjection(canaries)} up\n`;
    const completed = await run('ip', ['-n', netns.name, '-batch', '-'], { input: batch });
    if (completed.exitCode !== 0) return `the canary injection fails here: ${describeFailure(`ip -batch with ${JSON.stringify(batch)}`, completed)}`;
    if (!(await linkExists(canaries.link, netns))) return `ip -batch with ${JSON.stringify(batch)} succeeded but made no link ${canaries.link}`;
  } finally {
    await deleteNetns(netns);
  }
  const script = `echo value${CANARY_SHELL_COMMANDS} more`;
  await run('sh', ['-c', script], { cwd: canaries.dir });
  const made = readdirSync(canaries.dir);
  for (const file of made) rmSync(join(canaries.dir, file), { force: true });
  return made.length === 3 ? undefined : `sh -c ${JSON.stringify(script)} made ${made.length} of its 3 canary files in ${canaries.dir}`;
}

/**
 * Every trace of an injected command: the canary link in any of `namespaces`
 * (undefined: the suite's own), a file in the canary dir, or one of
 * `forbiddenPaths`. Each is removed once found.
 */
export async function canaryTraces(canaries: Canaries, namespaces: readonly (Netns | undefined)[], forbiddenPaths: readonly string[]): Promise<string[]> {
  const traces: string[] = [];
  for (const netns of namespaces) {
    if (!(await linkExists(canaries.link, netns))) continue;
    traces.push(`canary link ${canaries.link} appeared in ${describeNetns(netns)}: an injected ip command ran`);
    await deleteLink(canaries.link, netns);
  }
  for (const file of readdirSync(canaries.dir)) {
    traces.push(`canary file ${file} appeared in the plugin's working directory: an injected shell command ran`);
    rmSync(join(canaries.dir, file), { recursive: true, force: true });
  }
  for (const path of forbiddenPaths) {
    if (!existsSync(path)) continue;
    traces.push(`${path} appeared`);
    rmSync(path, { recursive: true, force: true });
  }
  return traces;
}

// Values nested so deep that JSON.stringify overflows its stack are spliced
// into the request as text.

export function nestedArrays(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

export function nestedObjects(depth: number): string {
  return `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;
}

/** `request` as JSON text, with `raw` (JSON text itself) as the value at `path`. */
export function withRawValue(request: Record<string, unknown>, path: readonly [string, ...string[]], raw: string): string {
  const placeholder = `cft-raw-${randomUUID()}`;
  return JSON.stringify(setAt(request, path, placeholder)).replace(JSON.stringify(placeholder), () => raw);
}

function setAt(target: Record<string, unknown>, [key, ...rest]: readonly string[], value: unknown): Record<string, unknown> {
  if (key === undefined) throw new Error('an empty path has no place for a value');
  const inner = target[key];
  const child = isObject(inner) ? inner : {};
  return { ...target, [key]: rest.length === 0 ? value : setAt(child, rest, value) };
}

// The ipam edits read host-local's format: the subnet in ranges[0][0] or, in
// the older form, directly in the ipam section.

export type RangeKey = 'subnet' | 'rangeStart' | 'gateway';
export type RouteKey = 'dst' | 'gw';

/** The conf's valid values (or the conventional ones it implies) that hostile values are built on. */
export type IpamBase = Record<RangeKey | RouteKey, string>;

/** Undefined when the ipam section names no subnet to start from. */
export function ipamBase(ipam: unknown): IpamBase | undefined {
  const range = firstRange(ipam);
  const cidr = typeof range?.subnet === 'string' ? parseCidr(range.subnet) : undefined;
  if (!range || !cidr) return undefined;
  const gateway = typeof range.gateway === 'string' ? range.gateway : addressAt(cidr, 1n);
  const route = isObject(ipam) && Array.isArray(ipam.routes) && isObject(ipam.routes[0]) ? ipam.routes[0] : undefined;
  return {
    subnet: range.subnet as string,
    rangeStart: typeof range.rangeStart === 'string' ? range.rangeStart : addressAt(cidr, 2n),
    gateway,
    dst: typeof route?.dst === 'string' ? route.dst : cidr.family === 4 ? '0.0.0.0/0' : '::/0',
    gw: typeof route?.gw === 'string' ? route.gw : gateway,
  };
}

/** The request with `key` of its first range set to `value`. */
export function withRangeValue(request: Record<string, unknown>, key: RangeKey, value: string): Record<string, unknown> {
  const ipam = ipamOf(request);
  if (!Array.isArray(ipam.ranges)) return { ...request, ipam: { ...ipam, [key]: value } };
  const [firstSet, ...otherSets] = ipam.ranges as unknown[];
  const [first, ...otherRanges] = Array.isArray(firstSet) ? firstSet : [];
  const ranges = [[{ ...(isObject(first) ? first : {}), [key]: value }, ...otherRanges], ...otherSets];
  return { ...request, ipam: { ...ipam, ranges } };
}

/** The request with `key` of its first route (one to the default destination if it has none) set to `value`. */
export function withRouteValue(request: Record<string, unknown>, key: RouteKey, value: string, base: IpamBase): Record<string, unknown> {
  const ipam = ipamOf(request);
  const [first, ...others] = Array.isArray(ipam.routes) ? (ipam.routes as unknown[]) : [];
  const route = { ...(isObject(first) ? first : { dst: base.dst }), [key]: value };
  return { ...request, ipam: { ...ipam, routes: [route, ...others] } };
}

/** The request with `routes` appended to the conf's own. */
export function withExtraRoutes(request: Record<string, unknown>, routes: readonly Record<string, string>[]): Record<string, unknown> {
  const ipam = ipamOf(request);
  return { ...request, ipam: { ...ipam, routes: [...(Array.isArray(ipam.routes) ? ipam.routes : []), ...routes] } };
}

function firstRange(ipam: unknown): Record<string, unknown> | undefined {
  if (!isObject(ipam)) return undefined;
  if (Array.isArray(ipam.ranges)) {
    const set: unknown = ipam.ranges[0];
    return Array.isArray(set) && isObject(set[0]) ? set[0] : undefined;
  }
  return typeof ipam.subnet === 'string' ? ipam : undefined;
}

function ipamOf(request: Record<string, unknown>): Record<string, unknown> {
  if (!isObject(request.ipam)) throw new Error(`plugin ${String(request.type)} has no ipam section to edit`);
  return request.ipam;
}
