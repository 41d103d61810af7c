// A namespace's links, addresses and routes as lines that compare equal
// exactly when nothing was made, removed or moved. Left out is what the
// kernel changes by itself as ports come and go: link state, MACs, MTUs,
// and IPv6 link-local and multicast addresses and routes.
import { isObject } from './json.ts';
import { type Netns, ipJsonIn } from './netns.ts';

export async function snapshotNet(netns: Netns): Promise<Set<string>> {
  const lines = new Set<string>();
  for (const link of objects(await ipJsonIn(netns, ['addr', 'show']))) {
    const name = String(link.ifname);
    lines.add(`link ${name}${typeof link.master === 'string' ? ` on ${link.master}` : ''}`);
    for (const address of objects(link.addr_info)) {
      if (address.scope === 'link' && address.family === 'inet6') continue;
      lines.add(`address ${String(address.local)}/${String(address.prefixlen)} on ${name}`);
    }
  }
  for (const family of ['-4', '-6']) {
    for (const route of objects(await ipJsonIn(netns, [family, 'route', 'show', 'table', 'all']))) {
      const dst = String(route.dst);
      if (family === '-6' && (/^fe80:/i.test(dst) || /^ff[0-9a-f]{2}:/i.test(dst) || route.type === 'multicast')) continue;
      const via = typeof route.gateway === 'string' ? ` via ${route.gateway}` : '';
      const table = typeof route.table === 'string' ? route.table : 'main';
      lines.add(`route ${typeof route.type === 'string' ? `${route.type} ` : ''}${dst}${via} dev ${String(route.dev)} table ${table}`);
    }
  }
  return lines;
}

/** "+line" for what appeared, "-line" for what went away. */
export function setChanges(before: ReadonlySet<string>, after: ReadonlySet<string>): string[] {
  return [...[...after].filter((line) => !before.has(line)).map((line) => `+${line}`), ...[...before].filter((line) => !after.has(line)).map((line) => `-${line}`)];
}

function objects(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}
