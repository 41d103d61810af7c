// The node bridge: created by the first ADD with the gateway address(es) and a
// pinned MAC (a Linux bridge otherwise takes the lowest MAC of its ports, and
// its MAC would change as pods come and go). Its commands go at the head of
// the ADD's host batch, so the common case costs no process of its own.

import type { RangeSet } from '../ipam/range.ts';
import { type IpCommand, linkAdd, linkSet } from '../linux/ip.ts';
import { readLink } from '../linux/links.ts';
import type { SysfsLink } from '../linux/sysfs.ts';
import { type Address, formatAddress } from '../net/address.ts';
import { macForAddress, macForName } from '../net/mac.ts';
import { configError } from './errors.ts';

export type Gateway = { address: Address; prefix: number };

/** The bridge's addresses: each range's gateway with its subnet's prefix, once. */
export function bridgeGateways(rangeSets: RangeSet[]): Gateway[] {
  const seen = new Map<string, Gateway>();
  for (const r of rangeSets.flat()) {
    const gw: Gateway = { address: { family: r.subnet.family, value: r.gateway }, prefix: r.subnet.prefix };
    seen.set(`${formatAddress(gw.address)}/${gw.prefix}`, gw);
  }
  return [...seen.values()];
}

export function pinnedBridgeMac(name: string, gateways: Gateway[]): string {
  const first = gateways[0];
  return first && first.address.family === 4 ? macForAddress(first.address) : macForName(name);
}

/**
 * Commands that make `link` weft's bridge. Gateways go on with `addr
 * replace`, which changes nothing when they are there: also on a bridge this
 * ADD creates, since a concurrent ADD that found it made may put them on
 * between our `link add` and our address (seen in CI as "File exists").
 */
export function bridgeCommands(name: string, link: SysfsLink | undefined, gateways: Gateway[], mtu: number | undefined): IpCommand[] {
  if (link && !link.isBridge) throw notABridge(name);
  const commands: IpCommand[] = [];
  if (!link) commands.push(linkAdd(name, ...(mtu ? ['mtu', String(mtu)] : []), 'address', pinnedBridgeMac(name, gateways), 'type', 'bridge'));
  for (const gw of gateways) {
    const cidr = `${formatAddress(gw.address)}/${gw.prefix}`;
    commands.push(['addr', 'replace', cidr, 'dev', name, ...(gw.address.family === 6 ? ['nodad'] : [])]);
  }
  if (!link?.up) commands.push(linkSet(name, 'up'));
  return commands;
}

function notABridge(name: string) {
  const kind = readLink(name)?.linkinfo?.info_kind ?? 'non-bridge';
  return configError(`bridge ${name} exists but is a ${kind} link, not a bridge: delete it or set "bridge" to another name`);
}
