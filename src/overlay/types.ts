// The overlay's data: what the API server says about other nodes (peers) and
// the kernel entries weftd programs for them. Plain data, compared by value.

export type Peer = {
  node: string;
  /** The node's IPv4 pod CIDRs (spec.podCIDRs). */
  podCidrs: string[];
  vtepIp: string;
  vtepMac: string;
};

/** Remote subnet's network address → remote VTEP MAC (permanent). */
export type NeighborEntry = { ip: string; mac: string };
/** Remote VTEP MAC → remote VTEP IP (permanent). */
export type FdbEntry = { mac: string; dst: string };
/**
 * Remote pod CIDR via its network address, onlink on the VXLAN device; or,
 * with direct routing to a peer on the same underlay subnet, via the peer's
 * underlay address on the underlay interface (no encapsulation).
 */
export type RouteEntry = { dst: string; via: string; dev: string };

export type OverlayState = {
  neighbors: NeighborEntry[];
  fdb: FdbEntry[];
  routes: RouteEntry[];
};

export type OverlayChanges = {
  add: OverlayState;
  remove: OverlayState;
};
