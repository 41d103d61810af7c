// A successful ADD: the result is one the runtime can use, the kernel holds
// what it says (pod interface, addresses, routes; host veth on the bridge),
// and a DEL of the same attachment leaves the netns pair and the data dir as
// they were (but for the bridge, which outlives its pods).
import { addressText, canonical, type Family, parseCidr } from './addresses.ts';
import { confOf, type FuzzCase } from './cases.ts';
import { changes, type Footprint, footprint } from './footprint.ts';
import { SUPPORTED_VERSIONS } from './grammar.ts';
import { delOutputProblems, traceProblems } from './output.ts';
import { type ParsedRange, parseRange, type RangeJson, type RouteJson } from './ranges.ts';
import { type KernelRoute, type Link, type NetnsState, netnsState, runPlugin, type Sandbox } from './sandbox.ts';

type Interface = { name?: unknown; mac?: unknown; mtu?: unknown; sandbox?: unknown };
type IpConfig = { address?: unknown; gateway?: unknown; interface?: unknown; version?: unknown };
type Route = { dst?: unknown; gw?: unknown };

/** What a valid config asks for, read back from the case. */
type Asked = {
  cniVersion: string;
  bridge: string;
  mtu?: number;
  hairpinMode?: boolean;
  spoofCheck?: boolean;
  sets: ParsedRange[][];
  routes?: RouteJson[];
};

function asked(c: FuzzCase): Asked {
  const conf = confOf(c)!;
  const ipam = conf.ipam as { ranges: RangeJson[][]; routes?: RouteJson[] };
  return {
    cniVersion: conf.cniVersion as string,
    bridge: (conf.bridge as string | undefined) ?? 'weft0',
    mtu: conf.mtu as number | undefined,
    hairpinMode: conf.hairpinMode as boolean | undefined,
    spoofCheck: conf.spoofCheck as boolean | undefined,
    sets: ipam.ranges.map((set) => set.map(parseRange)),
    routes: ipam.routes,
  };
}

const familyOf = (text: string): Family => (text.includes(':') ? 6 : 4);
const isCidr = (v: unknown): v is string => typeof v === 'string' && v.includes('/') && parseCidr(v) !== undefined;
const isAddress = (v: unknown): v is string => typeof v === 'string' && !v.includes('/') && parseCidr(v) !== undefined;

/** `call` is the ADD as the plugin got it; the DEL gets the same. */
export async function successProblems(
  c: FuzzCase,
  call: { env: Record<string, string>; stdin: string },
  sb: Sandbox,
  result: Record<string, unknown>,
  before: Footprint,
): Promise<string[]> {
  const { env } = call;
  const want = asked(c);
  const shape = shapeProblems(result, want);
  if (shape.length) return shape.map((p) => `result: ${p}`);
  const [host, pod] = await Promise.all([netnsState(sb.host), netnsState(sb.pod)]);
  const problems = [
    ...assignmentProblems(result, want).map((p) => `result: ${p}`),
    ...podProblems(result, want, env.CNI_IFNAME!, sb.netns, pod).map((p) => `pod netns: ${p}`),
    ...hostProblems(result, want, host).map((p) => `host netns: ${p}`),
    ...antispoofProblems(result, want, host).map((p) => `host netns: ${p}`),
  ];
  const del = await runPlugin(sb, { ...env, CNI_COMMAND: 'DEL' }, call.stdin);
  problems.push(...traceProblems(del.stdout, del.stderr).map((p) => `DEL: ${p}`));
  if (del.exitCode !== 0) return [...problems, `DEL failed: ${del.stdout.slice(0, 300)}`];
  problems.push(...delOutputProblems(del.stdout));
  const after = await footprint(sb, want.bridge);
  return [...problems, ...changes(before, after, { allowBookkeeping: true }).map((p) => `after DEL: ${p}`)];
}

function shapeProblems(result: Record<string, unknown>, want: Asked): string[] {
  const problems: string[] = [];
  if (result.cniVersion !== want.cniVersion) problems.push(`cniVersion ${String(result.cniVersion)}, the config's is ${want.cniVersion}`);
  const { interfaces, ips, routes, dns } = result as { interfaces?: Interface[]; ips?: IpConfig[]; routes?: Route[]; dns?: unknown };
  if (!Array.isArray(interfaces) || interfaces.some((i) => typeof i?.name !== 'string')) return [...problems, 'interfaces is not a list of named interfaces'];
  if (!Array.isArray(ips)) return [...problems, 'ips is not a list'];
  const legacy = (SUPPORTED_VERSIONS as readonly string[]).indexOf(want.cniVersion) < SUPPORTED_VERSIONS.indexOf('1.0.0');
  for (const ip of ips) {
    if (!isCidr(ip.address)) problems.push(`ips: address ${String(ip.address)} is not a CIDR`);
    else if (ip.gateway !== undefined && !(isAddress(ip.gateway) && familyOf(ip.gateway) === familyOf(ip.address)))
      problems.push(`ips: gateway ${String(ip.gateway)} of ${ip.address}`);
    if (ip.interface !== undefined && !(Number.isInteger(ip.interface) && (ip.interface as number) >= 0 && (ip.interface as number) < interfaces.length))
      problems.push(`ips: interface ${String(ip.interface)} is no index into interfaces`);
    if (legacy && isCidr(ip.address) && ip.version !== String(familyOf(ip.address)))
      problems.push(`ips: a ${want.cniVersion} result needs version "${familyOf(ip.address)}", got ${String(ip.version)}`);
  }
  if (
    routes !== undefined &&
    (!Array.isArray(routes) || routes.some((r) => !isCidr(r.dst) || (r.gw !== undefined && !(isAddress(r.gw) && familyOf(r.gw) === familyOf(r.dst)))))
  ) {
    problems.push(`routes is not a list of {dst, gw}: ${JSON.stringify(routes).slice(0, 200)}`);
  }
  if (dns !== undefined && (typeof dns !== 'object' || dns === null || Array.isArray(dns))) problems.push('dns is not an object');
  return problems;
}

const ipsOf = (result: Record<string, unknown>) => result.ips as { address: string; gateway?: string }[];
const routesOf = (result: Record<string, unknown>) => (result.routes ?? []) as { dst: string; gw?: string }[];
const routeText = (dst: string, gw: string | undefined) => `${canonical(dst)} via ${gw ? canonical(gw) : '-'}`;

/** One address from each range set, each with its range's prefix and gateway; the routes asked for. */
function assignmentProblems(result: Record<string, unknown>, want: Asked): string[] {
  const problems: string[] = [];
  const covered = want.sets.map(() => 0);
  for (const ip of ipsOf(result)) {
    const cidr = parseCidr(ip.address)!;
    const setIndex = want.sets.findIndex((set) => set.some((r) => inRange(r, cidr.family, cidr.host)));
    if (setIndex < 0) {
      problems.push(`address ${ip.address} is in no range it may be handed out from`);
      continue;
    }
    covered[setIndex]!++;
    const range = want.sets[setIndex]!.find((r) => inRange(r, cidr.family, cidr.host))!;
    if (cidr.prefix !== range.subnet.prefix) problems.push(`address ${ip.address} has not its subnet's prefix /${range.subnet.prefix}`);
    const gateway = addressText({ family: cidr.family, value: range.gateway });
    if (ip.gateway !== undefined && canonical(ip.gateway) !== gateway)
      problems.push(`address ${ip.address} has gateway ${ip.gateway}, its range's is ${gateway}`);
  }
  for (const [i, n] of covered.entries()) if (n !== 1) problems.push(`range set ${i} gave ${n} addresses, not 1`);
  const routes = routesOf(result);
  if (want.routes === undefined) {
    for (const family of new Set(want.sets.map((s) => s[0]!.subnet.family))) {
      const defaults = routes.filter((r) => parseCidr(r.dst)?.prefix === 0 && familyOf(r.dst) === family);
      if (defaults.length !== 1) problems.push(`${defaults.length} default routes for IPv${family}, not 1`);
    }
  } else {
    const got = routes.map((r) => canonical(r.dst)).sort();
    const wanted = want.routes.map((r) => canonical(r.dst)).sort();
    if (got.join() !== wanted.join()) problems.push(`routes to ${got.join(', ')}; the config asks for ${wanted.join(', ')}`);
    for (const r of want.routes.filter((x) => x.gw)) {
      const match = routes.find((x) => canonical(x.dst) === canonical(r.dst));
      if (match && (!match.gw || canonical(match.gw) !== canonical(r.gw!)))
        problems.push(`route to ${r.dst} via ${String(match.gw)}, the config says via ${r.gw}`);
    }
  }
  return problems;
}

function inRange(r: ParsedRange, family: Family, host: bigint): boolean {
  return r.subnet.family === family && host >= r.first && host <= r.last && host !== r.gateway;
}

function podProblems(result: Record<string, unknown>, want: Asked, ifname: string, netns: string, pod: NetnsState): string[] {
  const interfaces = result.interfaces as Interface[];
  const declared = interfaces.find((i) => i.name === ifname && i.sandbox === netns);
  if (!declared) return [`the result has no interface ${ifname} with sandbox ${netns}`];
  const link = pod.links.find((l) => l.ifname === ifname);
  if (!link) return [`${ifname} is missing`];
  const problems: string[] = [];
  if (typeof declared.mac === 'string' && declared.mac.toLowerCase() !== link.address?.toLowerCase())
    problems.push(`${ifname} has MAC ${link.address}, the result says ${declared.mac}`);
  if (want.mtu !== undefined && link.mtu !== want.mtu) problems.push(`${ifname} has MTU ${link.mtu}, the config says ${want.mtu}`);
  if (declared.mtu !== undefined && declared.mtu !== link.mtu) problems.push(`${ifname} has MTU ${link.mtu}, the result says ${String(declared.mtu)}`);
  if (!link.flags?.includes('UP')) problems.push(`${ifname} is down`);
  const addresses = (link.addr_info ?? [])
    .filter((a) => a.scope === 'global')
    .map((a) => canonical(`${a.local}/${a.prefixlen}`))
    .sort();
  const results = ipsOf(result)
    .map((ip) => canonical(ip.address))
    .sort();
  if (addresses.join() !== results.join()) problems.push(`${ifname} has addresses ${addresses.join(', ') || 'none'}, the result says ${results.join(', ')}`);
  const kernelRoutes = ([4, 6] as const)
    .flatMap((f) => pod.routes[f].filter((r) => isConfigured(r, ifname)).map((r) => routeText(kernelDst(r, f), r.gateway)))
    .sort();
  const resultRoutes = routesOf(result)
    .map((r) => routeText(r.dst, r.gw))
    .sort();
  if (kernelRoutes.join() !== resultRoutes.join())
    problems.push(`routes ${kernelRoutes.join('; ') || 'none'}, the result says ${resultRoutes.join('; ') || 'none'}`);
  return problems;
}

// A route someone added, not one the kernel made for an address or a link.
const isConfigured = (r: KernelRoute, ifname: string) =>
  r.dev === ifname && r.protocol !== 'kernel' && (r.table ?? 'main') === 'main' && (r.type ?? 'unicast') === 'unicast';

function kernelDst(r: KernelRoute, family: Family): string {
  if (r.dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  return r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`;
}

function hostProblems(result: Record<string, unknown>, want: Asked, host: NetnsState): string[] {
  const interfaces = result.interfaces as Interface[];
  const byName = (name: unknown): Link | undefined => host.links.find((l) => l.ifname === name);
  const problems: string[] = [];
  const bridge = byName(want.bridge);
  if (bridge?.linkinfo?.info_kind !== 'bridge') problems.push(`no bridge ${want.bridge}`);
  const declaredBridge = interfaces.find((i) => i.name === want.bridge && i.sandbox === undefined);
  if (bridge && typeof declaredBridge?.mac === 'string' && declaredBridge.mac.toLowerCase() !== bridge.address?.toLowerCase()) {
    problems.push(`bridge ${want.bridge} has MAC ${bridge.address}, the result says ${declaredBridge.mac}`);
  }
  const hostSide = interfaces.filter((i) => i.sandbox === undefined && i.name !== want.bridge);
  if (hostSide.length !== 1) return [...problems, `the result names ${hostSide.length} host interfaces besides the bridge, not 1 veth`];
  const veth = byName(hostSide[0]!.name);
  if (!veth) return [...problems, `host veth ${String(hostSide[0]!.name)} is missing`];
  if (veth.linkinfo?.info_kind !== 'veth') problems.push(`${veth.ifname} is a ${veth.linkinfo?.info_kind ?? 'plain'} link, not a veth`);
  if (veth.master !== want.bridge) problems.push(`${veth.ifname} is on ${veth.master ?? 'no bridge'}, not ${want.bridge}`);
  if (typeof hostSide[0]!.mac === 'string' && hostSide[0]!.mac.toLowerCase() !== veth.address?.toLowerCase())
    problems.push(`${veth.ifname} has MAC ${veth.address}, the result says ${hostSide[0]!.mac}`);
  const hairpin = veth.linkinfo?.info_slave_data?.hairpin;
  if (want.hairpinMode !== undefined && hairpin !== want.hairpinMode)
    problems.push(`${veth.ifname} has hairpin ${String(hairpin)}, hairpinMode is ${want.hairpinMode}`);
  return problems;
}

/** The host veth's anti-spoofing elements: its port, the pod's MAC, and MAC with each address; none with spoofCheck false. */
function antispoofProblems(result: Record<string, unknown>, want: Asked, host: NetnsState): string[] {
  const interfaces = result.interfaces as Interface[];
  const veth = interfaces.find((i) => i.sandbox === undefined && i.name !== want.bridge)?.name;
  const mac = String(interfaces.find((i) => i.sandbox !== undefined)?.mac).toLowerCase();
  const table = 'bridge weft-antispoof';
  const mine = host.nftElements
    .filter((e) => e.startsWith(`${table} `) && e.split(' ')[3] === veth)
    .map((e) =>
      e
        .split(' . ')
        .map((part, i) => (i === 2 ? canonical(part) : part))
        .join(' . '),
    )
    .sort();
  if (want.spoofCheck === false) return mine.length > 0 ? [`spoofCheck is false, yet ${String(veth)} has anti-spoofing elements: ${mine.join(', ')}`] : [];
  const addresses = (result.ips as IpConfig[]).map((ip) => canonical(String(ip.address).split('/')[0]!));
  const wanted = [
    `${table} ports ${String(veth)}`,
    `${table} macs ${String(veth)} . ${mac}`,
    ...addresses.map((a) => `${table} sources${familyOf(a)} ${String(veth)} . ${mac} . ${a}`),
  ].sort();
  return mine.join('\n') === wanted.join('\n') ? [] : [`anti-spoofing elements of ${String(veth)} are [${mine.join(', ')}], not [${wanted.join(', ')}]`];
}
