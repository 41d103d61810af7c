// The parts of `ip -j -d link show` weft reads (on Bun, read over rtnetlink
// into the same shapes: netlink/replies.ts).
import { IpCommandError, ipShow, type Namespace } from './ip.ts';

export type Link = {
  ifindex: number;
  ifname: string;
  mtu: number;
  address?: string;
  master?: string;
  ifalias?: string;
  link_index?: number;
  flags?: string[];
  linkinfo?: {
    info_kind?: string;
    info_slave_kind?: string;
    info_slave_data?: { hairpin?: boolean };
  };
};

export type AddressInfo = {
  ifname: string;
  addr_info?: { family: 'inet' | 'inet6'; local: string; prefixlen: number }[];
};

export type RouteInfo = { dst: string; gateway?: string; dev?: string };

/** The link, or undefined when there is no link of that name. */
export function readLink(name: string, where: Namespace = {}): Link | undefined {
  try {
    return ipShow([['link', 'show', 'dev', name]], where)[0]![0] as Link | undefined;
  } catch (err) {
    if (err instanceof IpCommandError && err.notFound) return undefined;
    throw err;
  }
}
