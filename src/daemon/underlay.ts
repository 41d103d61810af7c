// Which interfaces carry the overlay's UDP traffic, one per address family
// the node's underlay has, and why: the operator's choice (--iface,
// --iface-regex, --iface-can-reach) or each family's own default route.
// A node needs one family at least; with both, each gets its own VXLAN
// device (docs/overlay.md says why).
import { IpCommandError, ipShow, ipShowFamily } from '../linux/ip.ts';
import type { Link } from '../linux/links.ts';
import { type Address, FAMILIES, type Family, formatAddress, parseAddress } from '../net/address.ts';
import { unicastProblem } from '../overlay/vtep-checks.ts';

export type UnderlayOptions = {
  /** Names or addresses, first match wins. */
  iface: string[];
  ifaceRegex: string[];
  /** Canonical addresses, at most one per family (config.ts checks). */
  ifaceCanReach: string[];
};
export type Underlay = { family: Family; name: string; ip: string; prefix: number; mtu: number; reason: string };
export type Underlays = { 4?: Underlay; 6?: Underlay };

/** An address as `ip -j addr show` reports it. */
export type InterfaceAddress = { address: string; prefix: number; scope?: string; tentative?: boolean; dadfailed?: boolean };
export type InterfaceView = { name: string; mtu: number; up: boolean; addresses: InterfaceAddress[] };
/** What the routing table says, per family and per --iface-can-reach address. */
export type RouteView = {
  /** The device of each family's default route, if it has one. */
  defaultDev: { 4?: string; 6?: string };
  /** `ip route get ADDRESS`: the device and source address; undefined when there is no route. */
  reach: Record<string, { dev: string; src?: string } | undefined>;
};

const FAMILY_NAME: Record<Family, string> = { 4: 'IPv4', 6: 'IPv6' };

type Usable = { address: Address; text: string; prefix: number };
type Candidate = { name: string; mtu: number; addresses: Usable[] };
/** An interface an option picked; `address` when it was picked by one of its addresses. */
type Match = { iface: Candidate; address?: Usable; why: string };

/**
 * An address peers can send VXLAN to: of global scope, unicast (not
 * loopback, link-local, multicast, …), and through duplicate address
 * detection (a tentative address cannot be a source yet; a dadfailed one never).
 */
function usable(a: InterfaceAddress): Usable | undefined {
  const address = parseAddress(a.address);
  if (!address || unicastProblem(address) || (a.scope !== undefined && a.scope !== 'global') || a.tentative || a.dadfailed) return undefined;
  return { address, text: formatAddress(address), prefix: a.prefix };
}

function candidates(ifaces: InterfaceView[]): Candidate[] {
  return ifaces
    .filter((i) => i.up)
    .map((i) => ({ name: i.name, mtu: i.mtu, addresses: i.addresses.map(usable).filter((a) => a !== undefined) }))
    .filter((i) => i.addresses.length > 0);
}

function ifaceMatches(up: Candidate[], entry: string): Match[] {
  const byName = up.find((i) => i.name === entry);
  if (byName) return [{ iface: byName, why: `--iface ${entry}` }];
  const wanted = parseAddress(entry);
  for (const iface of up) {
    const address = iface.addresses.find((a) => wanted?.family === a.address.family && wanted.value === a.address.value);
    if (address) return [{ iface, address, why: `--iface ${entry} is an address of ${iface.name}` }];
  }
  return [];
}

function regexMatches(up: Candidate[], pattern: string): Match[] {
  const re = new RegExp(pattern);
  return up.flatMap((iface): Match[] => {
    if (re.test(iface.name)) return [{ iface, why: `--iface-regex ${pattern} matches ${iface.name}` }];
    return iface.addresses
      .filter((a) => re.test(a.text))
      .map((address) => ({ iface, address, why: `--iface-regex ${pattern} matches address ${address.text} of ${iface.name}` }));
  });
}

/** The route to an --iface-can-reach address picks an interface, and its source address for that address's family. */
function reachMatch(up: Candidate[], target: string, routes: RouteView): Match {
  // config.ts lets only addresses through.
  const family = parseAddress(target)!.family;
  const route = routes.reach[target];
  const iface = route && up.find((i) => i.name === route.dev);
  const own = iface?.addresses.filter((a) => a.address.family === family);
  if (!iface || !own?.length) {
    throw new Error(
      `no up interface with a global ${FAMILY_NAME[family]} address routes to ${target} (--iface-can-reach): check \`ip route get ${target}\` and \`ip -br addr\``,
    );
  }
  return { iface, address: own.find((a) => a.text === route.src) ?? own[0], why: `it reaches ${target} (--iface-can-reach)` };
}

/** The first match that gives `family` an address: its own, or its interface's first of that family. */
function underlayFrom(matches: Match[], family: Family): Underlay | undefined {
  for (const { iface, address, why } of matches) {
    const own = address?.address.family === family;
    const chosen = own ? address : iface.addresses.find((a) => a.address.family === family);
    if (!chosen) continue;
    const reason = !address || own ? why : `${why}; ${chosen.text} is its first global ${FAMILY_NAME[family]} address`;
    return { family, name: iface.name, ip: chosen.text, prefix: chosen.prefix, mtu: iface.mtu, reason };
  }
  return undefined;
}

function compact(found: (Underlay | undefined)[]): Underlays {
  const out: Underlays = {};
  for (const u of found) if (u) out[u.family] = u;
  return out;
}

/**
 * Pure choice over what the kernel reported. The selection flags, when any
 * is given, decide alone (--iface, then --iface-regex, then
 * --iface-can-reach, per family); without them each family's default route
 * does. Throws with the fix when a flag matches nothing, or no family is found.
 */
export function chooseUnderlays(ifaces: InterfaceView[], routes: RouteView, opts: UnderlayOptions): Underlays {
  const up = candidates(ifaces);
  const named = [...opts.iface.flatMap((e) => ifaceMatches(up, e)), ...opts.ifaceRegex.flatMap((p) => regexMatches(up, p))];
  if (named.length === 0 && opts.iface.length + opts.ifaceRegex.length > 0) {
    const flags = [...opts.iface.map((i) => `--iface ${i}`), ...opts.ifaceRegex.map((r) => `--iface-regex ${r}`)].join(', ');
    throw new Error(`no up interface with a global address (not loopback, link-local or tentative) matches ${flags}: check the flags against \`ip -br addr\``);
  }
  const reach = opts.ifaceCanReach.map((target) => reachMatch(up, target, routes));
  if (named.length + reach.length > 0) {
    return compact(
      FAMILIES.map((family) => {
        // A family's own --iface-can-reach before the interface the other family's reaches.
        const ownReach = (m: Match) => m.address?.address.family === family;
        return underlayFrom([...named, ...reach.filter(ownReach), ...reach.filter((m) => !ownReach(m))], family);
      }),
    );
  }
  const found = compact(
    FAMILIES.map((family) => {
      const iface = up.find((i) => i.name === routes.defaultDev[family]);
      return iface && underlayFrom([{ iface, why: `it carries the ${FAMILY_NAME[family]} default route` }], family);
    }),
  );
  if (!found[4] && !found[6]) {
    throw new Error(
      'no default route (IPv4 or IPv6) through an up interface with a global address of its family: pass --iface, --iface-regex or --iface-can-reach',
    );
  }
  return found;
}

type RouteJson = { dev?: string; prefsrc?: string; nexthops?: { dev?: string }[] };

/** A multipath route names its devices per next hop. */
const routeDev = (r: RouteJson | undefined): string | undefined => r?.dev ?? r?.nexthops?.[0]?.dev;

/** The IPv6 default route's device; none when the kernel has IPv6 turned off (ipv6.disable=1 refuses the dump). */
function ipv6DefaultDev(): string | undefined {
  try {
    return routeDev((ipShowFamily(6, [['route', 'show', 'default']])[0] as RouteJson[])[0]);
  } catch (err) {
    if (err instanceof IpCommandError) return undefined;
    throw err;
  }
}

function routeTo(target: string): { dev: string; src?: string } | undefined {
  try {
    const route = (ipShow([['route', 'get', target]])[0] as RouteJson[])[0];
    const dev = routeDev(route);
    return dev ? { dev, src: route?.prefsrc } : undefined;
  } catch (err) {
    // "Network is unreachable": no route, which chooseUnderlays reports with the fix.
    if (!(err instanceof IpCommandError)) throw err;
    return undefined;
  }
}

type AddrJson = Link & {
  addr_info?: { local: string; prefixlen: number; scope?: string; tentative?: boolean; dadfailed?: boolean }[];
};

export function detectUnderlays(opts: UnderlayOptions): Underlays {
  const [links, defaults4] = ipShow([
    ['addr', 'show'],
    ['route', 'show', 'default'],
  ]) as [AddrJson[], RouteJson[]];
  const ifaces: InterfaceView[] = links.map((l) => ({
    name: l.ifname,
    mtu: l.mtu,
    up: (l.flags ?? []).includes('UP'),
    addresses: (l.addr_info ?? []).map((a) => ({ address: a.local, prefix: a.prefixlen, scope: a.scope, tentative: a.tentative, dadfailed: a.dadfailed })),
  }));
  const routes: RouteView = {
    defaultDev: { 4: routeDev(defaults4[0]), 6: ipv6DefaultDev() },
    reach: Object.fromEntries(opts.ifaceCanReach.map((target) => [target, routeTo(target)])),
  };
  return chooseUnderlays(ifaces, routes, opts);
}
