// The machine side of every check: network namespaces standing in for pods
// and for the host, the links, addresses and routes in them, the IPAM data
// dirs, and snapshots of all of it that show exactly what a plugin changed.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defer } from './cleanup.ts';
import type { NetworkConfig } from './conf.ts';
import { canonicalIp, type Family, routeDestination } from './ip.ts';
import { type Completed, describeFailure, run } from './plugin.ts';
import { type AddResultView, escapeControls, isObject, type ResultRoute } from './spec.ts';

export type Netns = { name: string; path: string; forget: () => void };

// The suite's pid keeps concurrent runs apart and traces leftovers to their run.
const NETNS_PREFIX = `cft-${process.pid}-`;
let created = 0;

/** `label` ends the name, for checks that need a path holding particular characters. */
export async function createNetns(label = ''): Promise<Netns> {
  const name = `${NETNS_PREFIX}${++created}${label}`;
  const forget = defer(`delete netns ${JSON.stringify(name)}`, () => removeWithIp(['netns', 'delete', name], /No such file|Invalid argument/));
  await ip(['netns', 'add', name], `create netns ${JSON.stringify(name)}`);
  return { name, path: `/run/netns/${name}`, forget };
}

/** Deletes the namespace now, as a runtime does when a pod goes away. */
export async function deleteNetns(netns: Netns): Promise<void> {
  await ip(['netns', 'delete', netns.name], `delete netns ${netns.name}`);
  netns.forget();
}

/** "netns <name>", or the suite's own namespace for undefined. */
export function describeNetns(netns?: Netns): string {
  return netns ? `netns ${netns.name}` : 'the host namespace';
}

/** `ip <args>`; throws with the command's output when it fails. */
export async function ip(args: readonly string[], purpose: string): Promise<Completed> {
  const completed = await run('ip', args);
  if (completed.exitCode !== 0) {
    throw new Error(`cannot ${purpose}: ${describeFailure(`ip ${args.join(' ')}`, completed)}`);
  }
  return completed;
}

export async function linkNames(netns?: Netns): Promise<string[]> {
  return (await ipObjects(netns, ['link', 'show'])).map((link) => String(link.ifname));
}

export async function linkExists(name: string, netns?: Netns): Promise<boolean> {
  return (await run('ip', [...inNetns(netns), 'link', 'show', 'dev', name])).exitCode === 0;
}

export function deleteLink(name: string, netns?: Netns): Promise<void> {
  return removeWithIp([...inNetns(netns), 'link', 'delete', name], /Cannot find device|does not exist/);
}

/** One echo request from inside the namespace; the first may be lost to neighbour resolution, so up to three tries. */
export async function pingFrom(netns: Netns, ifname: string, address: string): Promise<Completed> {
  const family = address.includes(':') ? '-6' : '-4';
  const ping = () => run('ip', ['netns', 'exec', netns.name, 'ping', family, '-c1', '-W1', '-I', ifname, address]);
  let completed = await ping();
  for (let retries = 2; completed.exitCode !== 0 && retries > 0; retries--) completed = await ping();
  return completed;
}

/** Two echo requests from `source`, an address the namespace holds; whether any answer comes back is for the caller to judge elsewhere. */
export function pingAs(netns: Netns, source: string, address: string): Promise<Completed> {
  const family = address.includes(':') ? '-6' : '-4';
  return run('ip', ['netns', 'exec', netns.name, 'ping', family, '-c2', '-i0.2', '-W1', '-I', source, address]);
}

/** ICMP echo requests and replies the namespace's own stack has received, for one family (/proc/net/snmp, snmp6). */
export async function icmpReceived(netns: Netns, family: Family): Promise<{ requests: number; replies: number }> {
  const file = family === 4 ? '/proc/net/snmp' : '/proc/net/snmp6';
  const completed = await ip(['netns', 'exec', netns.name, 'cat', file], `read ${file} in netns ${netns.name}`);
  const lines = completed.stdout.split('\n');
  if (family === 6) {
    const value = (name: string) => Number(lines.find((l) => l.startsWith(`${name} `))?.split(/\s+/)[1]);
    return { requests: value('Icmp6InEchos'), replies: value('Icmp6InEchoReplies') };
  }
  const [names, values] = lines.filter((l) => l.startsWith('Icmp: ')).map((l) => l.split(/\s+/));
  const value = (name: string) => Number(values?.[names?.indexOf(name) ?? -1]);
  return { requests: value('InEchos'), replies: value('InEchoReps') };
}

/** The interface's MAC address in the namespace. */
export async function linkMac(netns: Netns, ifname: string): Promise<string | undefined> {
  const link = (await ipObjects(netns, ['link', 'show', 'dev', ifname]))[0];
  return typeof link?.address === 'string' ? link.address.toLowerCase() : undefined;
}

/** The MAC the namespace's neighbour cache holds for `address` on `ifname`, if any. */
export async function neighbourMac(netns: Netns, ifname: string, address: string): Promise<string | undefined> {
  const entry = (await ipObjects(netns, ['neigh', 'show', 'dev', ifname])).find((n) => canonicalIp(String(n.dst)) === canonicalIp(address));
  return typeof entry?.lladdr === 'string' ? entry.lladdr.toLowerCase() : undefined;
}

/** An address on an interface as the kernel holds it; `tentative` while IPv6 duplicate address detection runs, `dadfailed` after it found a duplicate. */
export type KernelAddress = { family: Family; cidr: string; scope: string; tentative: boolean; dadfailed: boolean };

export async function interfaceAddresses(netns: Netns, ifname: string): Promise<KernelAddress[]> {
  const link = (await ipObjects(netns, ['addr', 'show', 'dev', ifname]))[0];
  return objects(link?.addr_info).map((a) => ({
    family: a.family === 'inet6' ? 6 : 4,
    cidr: `${canonicalIp(String(a.local))}/${String(a.prefixlen)}`,
    scope: String(a.scope),
    tentative: a.tentative === true,
    dadfailed: a.dadfailed === true,
  }));
}

/** A sysctl as the namespace sees it, e.g. `net/ipv6/conf/eth0/accept_ra`. */
export async function sysctlIn(netns: Netns, key: string): Promise<string> {
  const file = `/proc/sys/${key}`;
  return (await ip(['netns', 'exec', netns.name, 'cat', file], `read ${file} in netns ${netns.name}`)).stdout.trim();
}

/** Undo actions run this, so what is already gone counts as removed. */
async function removeWithIp(args: readonly string[], gone: RegExp): Promise<void> {
  const completed = await run('ip', args);
  if (completed.exitCode !== 0 && !gone.test(completed.stderr)) {
    throw new Error(`${describeFailure(`ip ${args.join(' ')}`, completed)}; delete it by hand`);
  }
}

function inNetns(netns?: Netns): string[] {
  return netns ? ['-n', netns.name] : [];
}

/** The objects `ip -j <args>` lists in `netns` (undefined: the suite's own). */
async function ipObjects(netns: Netns | undefined, args: readonly string[]): Promise<Record<string, unknown>[]> {
  const completed = await ip([...inNetns(netns), '-j', ...args], `read ${args.join(' ')} in ${describeNetns(netns)}`);
  // iproute2 copies interface names into its JSON byte for byte, so a name
  // holding a control character (the kernel allows all but whitespace, "/"
  // and ":") makes the text invalid JSON until it is escaped.
  return objects(JSON.parse(escapeControls(completed.stdout.trim()) || '[]'));
}

function objects(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

// Host-side links a plugin creates for the suite's pods (a bridge, say) are
// the suite's leftovers too. Links present before the run are never touched,
// so a run against a node's real configuration leaves its bridge alone.
const reportedHostLinks = new Set<string>();

/** Records the host's links now and registers removal of any new one a result names. */
export async function watchHostLinks(): Promise<void> {
  const before = new Set(await linkNames());
  defer('remove host links the plugin created for the suite', async () => {
    const now = new Set(await linkNames());
    const problems: string[] = [];
    for (const name of reportedHostLinks) {
      if (before.has(name) || !now.has(name)) continue;
      await deleteLink(name).catch((err: Error) => problems.push(err.message));
    }
    if (problems.length > 0) throw new Error(problems.join('; '));
  });
}

/** Remembers the host interfaces (those without a sandbox) an ADD result lists. */
export function noteHostInterfaces(result: unknown): void {
  if (!isObject(result) || !Array.isArray(result.interfaces)) return;
  for (const iface of result.interfaces) {
    if (isObject(iface) && typeof iface.name === 'string' && !iface.sandbox) reportedHostLinks.add(iface.name);
  }
}

export type KernelRoute = { family: Family; dst: string; gateway?: string; dev: string; table: string };

/** How the kernel differs from an ADD result; `host` is where the plugin ran when that was not the suite's own namespace. */
export async function kernelProblems(netns: Netns, ifname: string, view: AddResultView, host?: Netns): Promise<string[]> {
  const problems: string[] = [];
  const link = (await ipObjects(netns, ['addr', 'show'])).find((l) => l.ifname === ifname);
  if (!link) return [`netns ${netns.name} has no interface ${ifname}; the ADD result says it was created there`];

  const declared = view.interfaces[view.containerIndex];
  if (declared?.mac && String(link.address).toLowerCase() !== declared.mac.toLowerCase()) {
    problems.push(`${ifname} has MAC ${String(link.address)}, the result says ${declared.mac}`);
  }
  if (declared?.mtu !== undefined && link.mtu !== declared.mtu) {
    problems.push(`${ifname} has MTU ${String(link.mtu)}, the result says ${declared.mtu}`);
  }
  const assigned = objects(link.addr_info).map((a) => `${canonicalIp(String(a.local))}/${String(a.prefixlen)}`);
  for (const ip of view.containerIps) {
    const wanted = `${ip.address.address}/${ip.address.prefix}`;
    if (!assigned.includes(wanted)) problems.push(`${ifname} lacks ${ip.text} (it has ${assigned.join(', ') || 'no addresses'})`);
  }

  // Indexed by destination: results with 100 000 routes exist.
  const routes = Map.groupBy([...(await routesIn(netns, 4)), ...(await routesIn(netns, 6))], (r) => `${r.family} ${r.dst}`);
  for (const route of view.routes) {
    const candidates = routes.get(`${route.dst.family} ${routeDestination(route.dst)}`) ?? [];
    if (!candidates.some((kernel) => routeMatches(kernel, route))) {
      const via = route.gw ? ` via ${route.gw}` : '';
      problems.push(`netns ${netns.name} has no route to ${route.text}${via}${route.table !== undefined ? ` in table ${route.table}` : ''}`);
    }
  }

  for (const iface of view.interfaces) {
    if (iface.sandbox || !iface.name) continue;
    if (!(await linkExists(iface.name, host))) problems.push(`host interface ${iface.name} from the result does not exist on the host`);
  }
  return problems;
}

/** Every route of one family in the namespace, in all tables; `dst` as iproute2 prints it ("default" for /0). */
export async function routesIn(netns: Netns, family: Family): Promise<KernelRoute[]> {
  return (await ipObjects(netns, [`-${family}`, 'route', 'show', 'table', 'all'])).map((r) => ({
    family,
    dst: String(r.dst),
    gateway: typeof r.gateway === 'string' ? canonicalIp(r.gateway) : undefined,
    dev: String(r.dev),
    table: typeof r.table === 'string' ? r.table : 'main',
  }));
}

/** Whether a kernel route to the result route's destination also has its gateway and table. */
function routeMatches(kernel: KernelRoute, route: ResultRoute): boolean {
  if (route.gw !== undefined && kernel.gateway !== route.gw) return false;
  return route.table === undefined || kernel.table === tableName(route.table);
}

// iproute2 prints the well-known tables by name.
function tableName(table: number): string {
  return ({ 253: 'default', 254: 'main', 255: 'local' } as Record<number, string>)[table] ?? String(table);
}

// Snapshots are sets of lines that compare equal exactly when nothing was
// made, removed or moved.
export type Observation = { host: Set<string>; pod: Set<string>; data: Set<string> };

// Listing every change would make a FAIL line as long as a 100 000-route table.
const CHANGES_SHOWN = 4;

/** Everything a plugin could change for one attachment: the stand-in host's namespace, the pod's, and the IPAM data. */
export async function observe(host: Netns, pod: Netns, dataDirs: readonly string[]): Promise<Observation> {
  return { host: await snapshotNet(host), pod: await snapshotNet(pod), data: snapshotDirs(dataDirs) };
}

export function changesSince(before: Observation, after: Observation): string[] {
  return [
    ...setChanges(before.host, after.host).map((change) => `host netns ${change}`),
    ...setChanges(before.pod, after.pod).map((change) => `pod netns ${change}`),
    ...setChanges(before.data, after.data).map((change) => `IPAM data ${change}`),
  ];
}

/** The first few changes, and how many more there are. */
export function listChanges(changes: readonly string[]): string {
  const shown = changes.slice(0, CHANGES_SHOWN).join(', ');
  return changes.length > CHANGES_SHOWN ? `${shown} and ${changes.length - CHANGES_SHOWN} more` : shown;
}

/**
 * Links, addresses and routes. Left out is what the kernel changes by itself
 * as ports come and go: link state, MACs, MTUs, IPv6 link-local and
 * multicast addresses and routes, and the local table's routes it derives
 * from the addresses (for IPv6 only once duplicate address detection ends,
 * which may be after a snapshot; the addresses themselves are in it).
 */
export async function snapshotNet(netns: Netns): Promise<Set<string>> {
  const lines = new Set<string>();
  for (const link of await ipObjects(netns, ['addr', 'show'])) {
    const name = String(link.ifname);
    lines.add(`link ${name}${typeof link.master === 'string' ? ` on ${link.master}` : ''}`);
    for (const address of objects(link.addr_info)) {
      if (address.scope === 'link' && address.family === 'inet6') continue;
      lines.add(`address ${String(address.local)}/${String(address.prefixlen)} on ${name}`);
    }
  }
  for (const family of ['-4', '-6']) {
    for (const route of await ipObjects(netns, [family, 'route', 'show', 'table', 'all'])) {
      const dst = String(route.dst);
      if (family === '-6' && (/^fe80:/i.test(dst) || /^ff[0-9a-f]{2}:/i.test(dst) || route.type === 'multicast')) continue;
      const via = typeof route.gateway === 'string' ? ` via ${route.gateway}` : '';
      const table = typeof route.table === 'string' ? route.table : 'main';
      if (table === 'local' && route.protocol === 'kernel') continue;
      lines.add(`route ${typeof route.type === 'string' ? `${route.type} ` : ''}${dst}${via} dev ${String(route.dev)} table ${table}`);
    }
  }
  return lines;
}

/** "+line" for what appeared, "-line" for what went away. */
export function setChanges(before: ReadonlySet<string>, after: ReadonlySet<string>): string[] {
  return [
    ...[...after].filter((line) => !before.has(line)).map((line) => `+${line}`),
    ...[...before].filter((line) => !after.has(line)).map((line) => `-${line}`),
  ];
}

/** Files and directories, with the content of files; allocation cursors by name only, since an ADD and its DEL legitimately move them. */
function snapshotDirs(dirs: readonly string[]): Set<string> {
  const lines = new Set<string>();
  const walk = (path: string): void => {
    const entries = entriesOf(path);
    if (!entries) return;
    lines.add(`directory ${path}`);
    for (const entry of entries) {
      const child = join(path, entry);
      const stat = lstatSync(child, { throwIfNoEntry: false });
      if (!stat) continue;
      if (stat.isDirectory()) walk(child);
      else if (!stat.isFile() || ALLOCATION_CURSOR.test(entry)) lines.add(`file ${child}`);
      else lines.add(`file ${child} (sha256 ${createHash('sha256').update(readFileSync(child)).digest('hex').slice(0, 12)})`);
    }
  };
  for (const dir of dirs) walk(dir);
  return lines;
}

// A white-box fallback for proving an address was released, for confs whose
// IPAM keeps host-local's on-disk format: under <ipam.dataDir>/<network>/ one
// file per reserved address, named by the address and starting with the
// holder's container ID.

// Where host-local (and allocators that copy it) keep their state when the conf names no dataDir.
const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
// host-local's last_reserved_ip.N: where the next search starts, not a reservation.
const ALLOCATION_CURSOR = /^last_reserved_ip\.\d+$/;

/** Every plugin's IPAM data dir, the default for an ipam section that names none. */
export function ipamDataDirs(net: NetworkConfig): string[] {
  const dirs = net.plugins.flatMap((plugin) => {
    if (!isObject(plugin.ipam)) return [];
    return [typeof plugin.ipam.dataDir === 'string' ? plugin.ipam.dataDir : DEFAULT_DATA_DIR];
  });
  return [...new Set(dirs)];
}

/** The reservation directory, when a plugin's ipam names a dataDir. */
export function reservationDir(net: NetworkConfig): string | undefined {
  for (const plugin of net.plugins) {
    if (isObject(plugin.ipam) && typeof plugin.ipam.dataDir === 'string') return join(plugin.ipam.dataDir, net.name);
  }
  return undefined;
}

/** Container ID holding `address` (bare IP), or undefined when it is not reserved. */
export function reservationHolder(dir: string, address: string): string | undefined {
  return unlessMissing(() => readFileSync(join(dir, address), 'utf8').split(/\r?\n/)[0]?.trim());
}

/** Addresses still reserved for any of `containerIds`. */
export function addressesHeldBy(dir: string, containerIds: ReadonlySet<string>): string[] {
  return (entriesOf(dir) ?? []).filter((name) => {
    const holder = reservationHolder(dir, name);
    return holder !== undefined && containerIds.has(holder);
  });
}

function entriesOf(dir: string): string[] | undefined {
  return unlessMissing(() => readdirSync(dir));
}

function unlessMissing<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
