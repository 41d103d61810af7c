// The overlay's data: what the API server says about other nodes (peers) and
// the kernel entries weftd programs for them. Plain data, compared by value.
import type { Vteps } from '../k8s/annotations.ts';

/** A node whose values are all valid, each in canonical text form. */
export type Peer = {
  node: string;
  /** metadata.creationTimestamp (ms); the older of two claimants keeps a CIDR or MAC. */
  created: number;
  /** The node's pod CIDRs (spec.podCIDRs) of every family the cluster network has. */
  podCidrs: string[];
  /** Its VTEP over each underlay family it has. */
  vteps: Vteps;
};

/**
 * Why a node is not programmed: not-ready (no pod CIDR or VTEP yet: waited
 * for), malformed (a value that cannot be used), conflict (another node holds
 * its CIDR or MAC), kernel-refused (the kernel would not take an entry).
 */
export type SkipReason = 'not-ready' | 'malformed' | 'conflict' | 'kernel-refused';

export const SKIP_REASONS: readonly SkipReason[] = ['not-ready', 'malformed', 'conflict', 'kernel-refused'];

/** `problem` reads after "node X": "has an invalid ...". */
export type Skipped = { node: string; reason: SkipReason; problem: string };

/** Remote subnet's network address → remote VTEP MAC (permanent), on a VXLAN device. */
export type NeighborEntry = { ip: string; mac: string; dev: string };
/** Remote VTEP MAC → remote VTEP IP (permanent), on the VXLAN device of that IP's family. */
export type FdbEntry = { mac: string; dst: string; dev: string };
/**
 * Remote pod CIDR via its network address, onlink on a VXLAN device; or,
 * with direct routing to a peer on the same underlay subnet, via the peer's
 * underlay address on the underlay interface (no encapsulation). `metric`:
 * src/overlay/route-metric.ts.
 */
export type RouteEntry = { dst: string; via: string; dev: string; metric: number };

export type OverlayState = {
  neighbors: NeighborEntry[];
  fdb: FdbEntry[];
  routes: RouteEntry[];
};

export type OverlayChanges = {
  add: OverlayState;
  remove: OverlayState;
};
