// rtnetlink dump replies as the shapes weft reads from `ip -j -d ... show`
// (src/linux/links.ts), field for field, so CHECK and GC read the same facts
// whichever path produced them.
import { type Cidr, cidrContains, type Family, formatAddress } from '../../net/address.ts';
import type { AddressInfo, Link, RouteInfo } from '../links.ts';
import {
  IFA_ADDRESS,
  IFA_LOCAL,
  IFLA_ADDRESS,
  IFLA_BRPORT_MODE,
  IFLA_IFALIAS,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_INFO_SLAVE_DATA,
  IFLA_INFO_SLAVE_KIND,
  IFLA_LINK,
  IFLA_LINK_NETNSID,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  RT_TABLE_MAIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_TABLE,
  RTM_F_CLONED,
} from './attributes.ts';
import { AF_INET, AF_INET6, parseAttributes, readI32, readString, readU8, readU32 } from './message.ts';

/** A link as its RTM_NEWLINK says, its master still an index (the name needs the master's own message). */
export type DecodedLink = Omit<Link, 'master'> & { masterIndex: number | undefined };

// linux/if.h flags in the order iproute2 prints them.
const FLAG_NAMES: [number, string][] = [
  [0x8, 'LOOPBACK'],
  [0x2, 'BROADCAST'],
  [0x10, 'POINTOPOINT'],
  [0x1000, 'MULTICAST'],
  [0x80, 'NOARP'],
  [0x200, 'ALLMULTI'],
  [0x100, 'PROMISC'],
  [0x20, 'NOTRAILERS'],
  [0x4, 'DEBUG'],
  [0x8000, 'DYNAMIC'],
  [0x4000, 'AUTOMEDIA'],
  [0x2000, 'PORTSEL'],
  [0x400, 'MASTER'],
  [0x800, 'SLAVE'],
  [0x1, 'UP'],
  [0x10000, 'LOWER_UP'],
  [0x20000, 'DORMANT'],
  [0x40000, 'ECHO'],
];
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;

function flagNames(flags: number): string[] {
  const names = flags & IFF_UP && !(flags & IFF_RUNNING) ? ['NO-CARRIER'] : [];
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) names.push(name);
  return names;
}

const macText = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');

function addressText(family: Family, bytes: Uint8Array): string {
  return formatAddress({ family, value: bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n) });
}

const familyOf = (af: number): Family | undefined => (af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined);

/** One RTM_NEWLINK payload (struct ifinfomsg, then attributes). */
export function decodeLink(payload: Uint8Array): DecodedLink {
  const attrs = parseAttributes(payload.subarray(16));
  const get = (type: number) => attrs.get(type);
  const link: DecodedLink = {
    ifindex: readI32(payload, 4),
    ifname: readString(get(IFLA_IFNAME) ?? new Uint8Array()),
    mtu: get(IFLA_MTU) ? readU32(get(IFLA_MTU)!) : 0,
    flags: flagNames(readU32(payload, 8)),
    masterIndex: get(IFLA_MASTER) ? readU32(get(IFLA_MASTER)!) : undefined,
  };
  const address = get(IFLA_ADDRESS);
  if (address) link.address = macText(address);
  const alias = get(IFLA_IFALIAS);
  if (alias) link.ifalias = readString(alias);
  // Like `ip -j`: the peer's index is given only for a peer in another namespace.
  const peer = get(IFLA_LINK);
  if (peer && get(IFLA_LINK_NETNSID)) link.link_index = readU32(peer);
  const info = get(IFLA_LINKINFO);
  if (info) {
    const inner = parseAttributes(info);
    const kind = inner.get(IFLA_INFO_KIND);
    const slaveKind = inner.get(IFLA_INFO_SLAVE_KIND);
    const slaveData = inner.get(IFLA_INFO_SLAVE_DATA);
    link.linkinfo = {};
    if (kind) link.linkinfo.info_kind = readString(kind);
    if (slaveKind) link.linkinfo.info_slave_kind = readString(slaveKind);
    const mode = slaveData && parseAttributes(slaveData).get(IFLA_BRPORT_MODE);
    if (mode) link.linkinfo.info_slave_data = { hairpin: readU8(mode) !== 0 };
  }
  return link;
}

/** The links with their masters named, as `ip -j -d link show` lists them; `names` knows links outside the list. */
export function namedLinks(links: readonly DecodedLink[], names: ReadonlyMap<number, string> = new Map()): Link[] {
  const byIndex = new Map([...names, ...links.map((l) => [l.ifindex, l.ifname] as const)]);
  return links.map(({ masterIndex, ...link }) => {
    const master = masterIndex === undefined ? undefined : byIndex.get(masterIndex);
    return master === undefined ? link : { ...link, master };
  });
}

/** RTM_NEWADDR payloads grouped by link, as `ip -j addr show` lists them. */
export function addressesByLink(links: readonly Link[], payloads: readonly Uint8Array[]): AddressInfo[] {
  const byIndex = new Map<number, NonNullable<AddressInfo['addr_info']>>(links.map((l) => [l.ifindex, []]));
  for (const payload of payloads) {
    const family = familyOf(readU8(payload, 0));
    if (!family) continue;
    const attrs = parseAttributes(payload.subarray(8));
    const local = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
    if (!local) continue;
    byIndex.get(readU32(payload, 4))?.push({ family: family === 4 ? 'inet' : 'inet6', local: addressText(family, local), prefixlen: readU8(payload, 1) });
  }
  return links.map((l) => ({ ifname: l.ifname, addr_info: byIndex.get(l.ifindex) ?? [] }));
}

/** RTM_NEWROUTE payloads of table main within `root`, as `ip -j route show table main root ROOT` lists them. */
export function mainRoutes(payloads: readonly Uint8Array[], root: Cidr, names: ReadonlyMap<number, string>): RouteInfo[] {
  const out: RouteInfo[] = [];
  for (const payload of payloads) {
    const family = familyOf(readU8(payload, 0));
    const dstLen = readU8(payload, 1);
    const attrs = parseAttributes(payload.subarray(12));
    const table = attrs.get(RTA_TABLE) ? readU32(attrs.get(RTA_TABLE)!) : readU8(payload, 4);
    if (family !== root.family || table !== RT_TABLE_MAIN || readU32(payload, 8) & RTM_F_CLONED || dstLen < root.prefix) continue;
    const dstBytes = attrs.get(RTA_DST);
    const dst = dstBytes ? dstBytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n) : 0n;
    if (!cidrContains(root, { family, value: dst })) continue;
    const full = family === 4 ? 32 : 128;
    const route: RouteInfo = { dst: dstLen === 0 ? 'default' : `${addressText(family, dstBytes!)}${dstLen === full ? '' : `/${dstLen}`}` };
    const gateway = attrs.get(RTA_GATEWAY);
    if (gateway) route.gateway = addressText(family, gateway);
    const oif = attrs.get(RTA_OIF);
    const dev = oif && names.get(readU32(oif));
    if (dev) route.dev = dev;
    out.push(route);
  }
  return out;
}
