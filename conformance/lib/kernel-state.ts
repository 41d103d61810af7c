// Compares an ADD result with what the kernel really holds: the container
// interface, its addresses and routes inside the pod's namespace, and the
// host-side interfaces the result lists.
import { type Family, canonicalIp, routeDestination } from './ip.ts';
import { isObject } from './json.ts';
import { type Netns, ipJsonIn } from './netns.ts';
import { run } from './process.ts';
import type { AddResultView, ResultRoute } from './result-shape.ts';

type KernelRoute = { family: Family; dst: string; gateway?: string; table: string };

/** `hostNetns` names the namespace the plugin ran in when that was not the suite's own. */
export async function kernelProblems(netns: Netns, ifname: string, view: AddResultView, hostNetns?: string): Promise<string[]> {
  const problems: string[] = [];
  const links = asObjects(await ipJsonIn(netns, ['addr', 'show']));
  const link = links.find((l) => l.ifname === ifname);
  if (!link) return [`netns ${netns.name} has no interface ${ifname}; the ADD result says it was created there`];

  const declared = view.interfaces[view.containerIndex];
  if (declared?.mac && String(link.address).toLowerCase() !== declared.mac.toLowerCase()) {
    problems.push(`${ifname} has MAC ${String(link.address)}, the result says ${declared.mac}`);
  }
  if (declared?.mtu !== undefined && link.mtu !== declared.mtu) {
    problems.push(`${ifname} has MTU ${String(link.mtu)}, the result says ${declared.mtu}`);
  }
  const assigned = asObjects(link.addr_info).map((a) => `${canonicalIp(String(a.local))}/${String(a.prefixlen)}`);
  for (const ip of view.containerIps) {
    const wanted = `${ip.address.address}/${ip.address.prefix}`;
    if (!assigned.includes(wanted)) problems.push(`${ifname} lacks ${ip.text} (it has ${assigned.join(', ') || 'no addresses'})`);
  }

  // Indexed by destination: results with 100 000 routes exist.
  const routes = Map.groupBy([...(await routesIn(netns, 4)), ...(await routesIn(netns, 6))], (r) => `${r.family} ${r.dst}`);
  for (const route of view.routes) {
    const candidates = routes.get(`${route.dst.family} ${routeDestination(route.dst)}`) ?? [];
    if (!candidates.some((kernel) => matches(kernel, route))) {
      const via = route.gw ? ` via ${route.gw}` : '';
      problems.push(`netns ${netns.name} has no route to ${route.text}${via}${route.table !== undefined ? ` in table ${route.table}` : ''}`);
    }
  }

  for (const iface of view.interfaces) {
    if (iface.sandbox || !iface.name) continue;
    const completed = await run('ip', [...(hostNetns ? ['-n', hostNetns] : []), 'link', 'show', 'dev', iface.name]);
    if (completed.exitCode !== 0) problems.push(`host interface ${iface.name} from the result does not exist on the host`);
  }
  return problems;
}

async function routesIn(netns: Netns, family: Family): Promise<KernelRoute[]> {
  return asObjects(await ipJsonIn(netns, [`-${family}`, 'route', 'show', 'table', 'all'])).map((r) => ({
    family,
    dst: String(r.dst),
    gateway: typeof r.gateway === 'string' ? canonicalIp(r.gateway) : undefined,
    table: typeof r.table === 'string' ? r.table : 'main',
  }));
}

/** Whether a kernel route to the result route's destination also has its gateway and table. */
function matches(kernel: KernelRoute, route: ResultRoute): boolean {
  if (route.gw !== undefined && kernel.gateway !== route.gw) return false;
  return route.table === undefined || kernel.table === tableName(route.table);
}

// iproute2 prints the well-known tables by name.
function tableName(table: number): string {
  return ({ 253: 'default', 254: 'main', 255: 'local' } as Record<number, string>)[table] ?? String(table);
}

function asObjects(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}
