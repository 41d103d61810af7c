// Which way traffic to a peer's pod CIDR goes: over which underlay family,
// and so through which VXLAN device, or straight over the underlay. There is
// one VXLAN device per underlay family (weft.<vni> over IPv4, weft6.<vni>
// over IPv6), and either carries pods of both families: an IPv6 pod CIDR
// rides IPv4 VXLAN when the two nodes share only an IPv4 underlay, and the
// other way round.
import { type Cidr, cidrContains, FAMILIES, type Family, parseAddress } from '../net/address.ts';
import type { Peer } from './types.ts';

export type DirectRoute = { subnet: Cidr; dev: string };

/** This node's side of every route. */
export type LocalView = {
  /** The VXLAN device over each underlay family this node has. */
  devices: { 4?: string; 6?: string };
  /** Per underlay family: route peers on that underlay's subnet over it, without VXLAN. */
  direct?: { 4?: DirectRoute; 6?: DirectRoute };
};

export type RouteChoice =
  /** Through the VXLAN device over the underlay of `family`, to the peer's VTEP of that family. */
  | { via: 'vxlan'; family: Family; dev: string; vtep: { ip: string; mac: string } }
  /** Unencapsulated, via the peer's underlay address of the pod CIDR's family. */
  | { via: 'direct'; gateway: string; dev: string };

const OTHER: Record<Family, Family> = { 4: 6, 6: 4 };

/**
 * The underlay family that carries a pod CIDR of family `pod`: that family
 * when both nodes have a VTEP of it, else the other when both have that.
 * Undefined when the two share no underlay family. `ours`: anything keyed
 * by this node's underlay families.
 */
export function carrierFamily(pod: Family, ours: { 4?: unknown; 6?: unknown }, theirs: Peer['vteps']): Family | undefined {
  for (const f of [pod, OTHER[pod]]) if (ours[f] !== undefined && theirs[f] !== undefined) return f;
  return undefined;
}

/** How this node reaches the peer's pod CIDR `dst` (canonical), or undefined when no underlay family is shared. */
export function chooseRoute(dst: Cidr, peer: Peer, local: LocalView): RouteChoice | undefined {
  const family = carrierFamily(dst.family, local.devices, peer.vteps);
  if (family === undefined) return undefined;
  const vtep = peer.vteps[family]!;
  const direct = local.direct?.[family];
  // Only a pod CIDR of the underlay's own family can be routed over it unencapsulated.
  if (direct && family === dst.family && cidrContains(direct.subnet, parseAddress(vtep.ip)!)) return { via: 'direct', gateway: vtep.ip, dev: direct.dev };
  return { via: 'vxlan', family, dev: local.devices[family]!, vtep };
}

/** The peer's VTEP addresses on the underlay families this node has: where its VXLAN comes from. */
export function reachableVteps(peer: Peer, local: LocalView): string[] {
  return FAMILIES.filter((f) => local.devices[f] !== undefined && peer.vteps[f] !== undefined).map((f) => peer.vteps[f]!.ip);
}
