// Which interface carries the overlay's UDP traffic, and why: the operator's
// choice (--iface, --iface-regex, --iface-can-reach) or the default route's.
import { IpCommandError, ipShow } from '../linux/ip.ts';
import type { AddressInfo, Link } from '../linux/links.ts';

export type UnderlayOptions = { iface: string[]; ifaceRegex: string[]; ifaceCanReach?: string };
export type Underlay = { name: string; ip: string; prefix: number; mtu: number; reason: string };
export type Ipv4 = { address: string; prefix: number };
export type InterfaceView = { name: string; mtu: number; up: boolean; ipv4: Ipv4[] };

/** Pure choice over what the kernel reported; throws with the fix when nothing fits. */
export function chooseUnderlay(
  ifaces: InterfaceView[],
  defaultRouteDev: string | undefined,
  reachDev: { dev: string; src?: string } | undefined,
  opts: UnderlayOptions,
): Underlay {
  const usable = ifaces.filter((i) => i.up && i.ipv4.length > 0);
  const pick = (i: InterfaceView, ip: Ipv4, reason: string): Underlay => ({ name: i.name, ip: ip.address, prefix: ip.prefix, mtu: i.mtu, reason });
  for (const wanted of opts.iface) {
    const byName = usable.find((i) => i.name === wanted);
    if (byName) return pick(byName, byName.ipv4[0]!, `--iface ${wanted}`);
    for (const i of usable) {
      const ip = i.ipv4.find((a) => a.address === wanted);
      if (ip) return pick(i, ip, `--iface ${wanted} is an address of ${i.name}`);
    }
  }
  for (const pattern of opts.ifaceRegex) {
    const re = new RegExp(pattern);
    for (const i of usable) {
      if (re.test(i.name)) return pick(i, i.ipv4[0]!, `--iface-regex ${pattern} matches ${i.name}`);
      const ip = i.ipv4.find((a) => re.test(a.address));
      if (ip) return pick(i, ip, `--iface-regex ${pattern} matches address ${ip.address}`);
    }
  }
  if (opts.iface.length > 0 || opts.ifaceRegex.length > 0) {
    throw new Error(
      `no up interface with an IPv4 address matches ${[...opts.iface.map((i) => `--iface ${i}`), ...opts.ifaceRegex.map((r) => `--iface-regex ${r}`)].join(', ')}: check the flags against \`ip -br addr\``,
    );
  }
  if (opts.ifaceCanReach) {
    const i = reachDev && usable.find((x) => x.name === reachDev.dev);
    if (!i) throw new Error(`no route from an up interface to ${opts.ifaceCanReach} (--iface-can-reach): check \`ip route get ${opts.ifaceCanReach}\``);
    return pick(i, i.ipv4.find((a) => a.address === reachDev!.src) ?? i.ipv4[0]!, `it reaches ${opts.ifaceCanReach} (--iface-can-reach)`);
  }
  const viaDefault = defaultRouteDev && usable.find((i) => i.name === defaultRouteDev);
  if (!viaDefault) throw new Error('no default route through an up interface with an IPv4 address: pass --iface, --iface-regex or --iface-can-reach');
  return pick(viaDefault, viaDefault.ipv4[0]!, 'it carries the default route');
}

export function detectUnderlay(opts: UnderlayOptions): Underlay {
  const [addrs, defaults] = ipShow([
    ['addr', 'show'],
    ['route', 'show', 'default'],
  ]) as [(Link & AddressInfo)[], { dev?: string }[]];
  const ifaces: InterfaceView[] = addrs.map((l) => ({
    name: l.ifname,
    mtu: l.mtu,
    up: (l.flags ?? []).includes('UP'),
    ipv4: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => ({ address: a.local, prefix: a.prefixlen })),
  }));
  let reach: { dev: string; src?: string } | undefined;
  if (opts.ifaceCanReach) {
    try {
      reach = (ipShow([['route', 'get', opts.ifaceCanReach]])[0] as { dev: string; prefsrc?: string }[]).map((r) => ({ dev: r.dev, src: r.prefsrc }))[0];
    } catch (err) {
      if (!(err instanceof IpCommandError)) throw err;
    }
  }
  return chooseUnderlay(ifaces, defaults[0]?.dev, reach, opts);
}
