// The identity of a kernel entry: what the kernel itself keys it by (a
// neighbour by device and address, an FDB entry by device and MAC, a route by
// destination, which is unique across families, and metric). The diff pairs desired and
// actual entries by it, and a failed command is traced back through it to the
// peer the entry belongs to.
import type { FdbEntry, NeighborEntry, OverlayState, RouteEntry } from './types.ts';

export const neighborKey = (e: NeighborEntry): string => `neigh ${e.dev} ${e.ip}`;
export const fdbKey = (e: FdbEntry): string => `fdb ${e.dev} ${e.mac}`;
export const routeKey = (e: RouteEntry): string => `route ${e.dst} metric ${e.metric}`;

export function entryKeys(s: OverlayState): string[] {
  return [...s.neighbors.map(neighborKey), ...s.fdb.map(fdbKey), ...s.routes.map(routeKey)];
}

/** The entries whose key `keep` accepts. */
export function filterState(s: OverlayState, keep: (key: string) => boolean): OverlayState {
  return {
    neighbors: s.neighbors.filter((e) => keep(neighborKey(e))),
    fdb: s.fdb.filter((e) => keep(fdbKey(e))),
    routes: s.routes.filter((e) => keep(routeKey(e))),
  };
}
