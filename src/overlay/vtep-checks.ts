// Whether a peer's VTEP can stand in a kernel entry at all. The kernel takes
// much that would hurt: an FDB entry to 224.0.0.1, 255.255.255.255 or
// 0.0.0.0, a route "via 0.0.0.0" that turns into a plain device route, a
// neighbour with an all-zero MAC. So every such value is refused here,
// before any command is built from it.
import { type Address, type Cidr, cidrContains, type Family, formatCidr, lastAddress, parseCidr } from '../net/address.ts';
import { vtepMacFor } from '../net/mac.ts';

type Block = { cidr: Cidr; what: string };

const block = (text: string, what: string): Block => ({ cidr: parseCidr(text)!, what });

// Exact addresses first, so 0.0.0.0 reads "unspecified" rather than "this network".
const NOT_UNICAST: Block[] = [
  block('0.0.0.0/32', 'the unspecified address'),
  block('255.255.255.255/32', 'the limited broadcast address'),
  block('0.0.0.0/8', 'in 0.0.0.0/8 ("this network")'),
  block('127.0.0.0/8', 'a loopback address (127.0.0.0/8)'),
  block('169.254.0.0/16', 'a link-local address (169.254.0.0/16)'),
  block('224.0.0.0/4', 'a multicast address (224.0.0.0/4)'),
  block('240.0.0.0/4', 'a reserved address (240.0.0.0/4)'),
  block('::/128', 'the unspecified address'),
  block('::1/128', 'the loopback address'),
  block('fe80::/10', 'a link-local address (fe80::/10)'),
  block('ff00::/8', 'a multicast address (ff00::/8)'),
  // An IPv4 address in IPv6 form: no IPv6 underlay reaches it.
  block('::ffff:0:0/96', 'an IPv4-mapped address (::ffff:0:0/96)'),
];

/** Why `address` is not a unicast address one host can send to another, or undefined. */
export function unicastProblem(address: Address): string | undefined {
  return NOT_UNICAST.find((b) => cidrContains(b.cidr, address))?.what;
}

/** This node's underlay of one family. */
export type VtepContext = {
  /** This node's own VTEP address. */
  ownIp: Address;
  /** The underlay's subnet (this node's underlay address and prefix). */
  underlay: Cidr;
};

/**
 * Why `ip` cannot be a peer's VTEP address as seen from this node, or
 * undefined. `ctx`: this node's underlay of the address's family, if it has one.
 */
export function vtepIpProblem(ip: Address, ctx: VtepContext | undefined): string | undefined {
  const scope = unicastProblem(ip);
  if (scope) return `is ${scope}`;
  if (!ctx) return undefined;
  if (ip.family === ctx.ownIp.family && ip.value === ctx.ownIp.value) return "is this node's own VTEP address";
  const { underlay } = ctx;
  // A /31 or /32 (and an IPv6 subnet) has no network or broadcast address to avoid.
  if (underlay.family !== 4 || underlay.prefix > 30 || !cidrContains(underlay, ip)) return undefined;
  if (ip.value === underlay.network) return `is the network address of the underlay subnet ${formatCidr(underlay)}`;
  if (ip.value === lastAddress(underlay)) return `is the broadcast address of the underlay subnet ${formatCidr(underlay)}`;
  return undefined;
}

/** Why a canonical MAC cannot be a VTEP's (the kernel's FDB refuses both kinds), or undefined. */
export function vtepMacProblem(mac: string): string | undefined {
  if (mac === '00:00:00:00:00:00') return 'is all zeros';
  // The I/G bit, the lowest bit of the first octet, marks group addresses.
  if ((Number.parseInt(mac.slice(0, 2), 16) & 1) === 1) return mac === 'ff:ff:ff:ff:ff:ff' ? 'is the broadcast MAC' : 'is a multicast MAC';
  return undefined;
}

/**
 * Why a canonical MAC cannot be the VTEP MAC of the node named `node` over
 * the underlay of `family`, or undefined. Every weftd derives its MACs from
 * its node's name (src/net/mac.ts), so each peer's MAC is known in advance: a
 * Node that copies another's MAC (to take its FDB entry and neighbour, and so
 * knock it off the overlay) names itself as the copier, and is the one left out.
 */
export function vtepMacOwnerProblem(mac: string, node: string, family: Family): string | undefined {
  const own = vtepMacFor(node, family);
  return mac === own ? undefined : `is not ${own}, the MAC weftd derives from the node name ${node}`;
}
