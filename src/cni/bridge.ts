// The node bridge: created on the first ADD with the gateway address(es) and a
// pinned MAC (a Linux bridge otherwise takes the lowest MAC of its ports, and
// its MAC would change as pods come and go).
import { type Address, formatAddress } from '../ipam/address.ts';
import { IpCommandError, ipBatch, ipShow } from '../linux/ip.ts';
import type { AddressInfo, Link } from '../linux/links.ts';
import { macForAddress, macForName } from '../linux/mac.ts';
import { configError } from './errors.ts';
import { kernelError } from './kernel-error.ts';

export type Gateway = { address: Address; prefix: number };
export type BridgeState = { name: string; mac: string; mtu: number };

type LinkWithAddresses = Link & AddressInfo;

function readBridge(name: string): LinkWithAddresses | undefined {
  try {
    return ipShow([`addr show dev ${name}`])[0]![0] as LinkWithAddresses | undefined;
  } catch (err) {
    if (err instanceof IpCommandError && err.notFound) return undefined;
    throw kernelError(`cannot read bridge ${name}`, err);
  }
}

export function ensureBridge(name: string, gateways: Gateway[], mtu: number | undefined): BridgeState {
  // Read, fix, read again: the second read shows the fixed bridge, or the one
  // a concurrent ADD created between our read and our write.
  for (let attempt = 0; attempt < 3; attempt++) {
    const link = readBridge(name);
    const commands = bridgeFixes(name, link, gateways, mtu);
    if (link && commands.length === 0) return { name, mac: link.address ?? '', mtu: link.mtu };
    try {
      ipBatch(commands);
    } catch (err) {
      if (err instanceof IpCommandError && err.exists) continue;
      throw kernelError(`cannot set up bridge ${name}`, err);
    }
  }
  throw kernelError(`cannot set up bridge ${name}`, new Error('it keeps changing under weft: is another program managing it?'));
}

/** The commands that turn `link` into weft's bridge; empty when it already is. */
export function bridgeFixes(name: string, link: LinkWithAddresses | undefined, gateways: Gateway[], mtu: number | undefined): string[] {
  if (link && link.linkinfo?.info_kind !== 'bridge') {
    const kind = link.linkinfo?.info_kind ?? 'non-bridge';
    throw configError(`bridge ${name} exists but is a ${kind} link, not a bridge: delete it or set "bridge" to another name`);
  }
  const commands: string[] = [];
  if (!link) {
    const first = gateways[0];
    const mac = first && first.address.family === 4 ? macForAddress(first.address) : macForName(name);
    commands.push(`link add ${name}${mtu ? ` mtu ${mtu}` : ''} address ${mac} type bridge`);
  }
  const present = new Set((link?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  for (const gw of gateways) {
    const cidr = `${formatAddress(gw.address)}/${gw.prefix}`;
    if (!present.has(cidr)) commands.push(`addr add ${cidr} dev ${name}${gw.address.family === 6 ? ' nodad' : ''}`);
  }
  if (!link || !(link.flags ?? []).includes('UP')) commands.push(`link set ${name} up`);
  return commands;
}
