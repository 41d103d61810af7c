// The difference between the entries the kernel holds and the ones it should:
// only that is applied, so a resync of an unchanged cluster touches nothing.
import type { IpCommand } from '../linux/ip.ts';
import type { FdbEntry, NeighborEntry, OverlayChanges, OverlayState, RouteEntry } from './types.ts';

function diffBy<T>(desired: T[], actual: T[], key: (e: T) => string, same: (a: T, b: T) => boolean): { add: T[]; remove: T[] } {
  const have = new Map(actual.map((e) => [key(e), e]));
  const want = new Map(desired.map((e) => [key(e), e]));
  const add: T[] = [];
  const remove: T[] = [];
  for (const [k, e] of want) {
    const current = have.get(k);
    if (!current || !same(current, e)) add.push(e);
  }
  for (const [k, e] of have) {
    if (!want.has(k)) remove.push(e);
  }
  return { add, remove };
}

export function diffOverlay(desired: OverlayState, actual: OverlayState): OverlayChanges {
  // A changed entry is "added" with `replace` semantics, never removed first,
  // so traffic to a peer whose VTEP moved is not dropped in between.
  const neighbors = diffBy<NeighborEntry>(desired.neighbors, actual.neighbors, (e) => e.ip, (a, b) => a.mac === b.mac);
  const fdb = diffBy<FdbEntry>(desired.fdb, actual.fdb, (e) => e.mac, (a, b) => a.dst === b.dst);
  const routes = diffBy<RouteEntry>(desired.routes, actual.routes, (e) => e.dst, (a, b) => a.via === b.via && a.dev === b.dev);
  return {
    add: { neighbors: neighbors.add, fdb: fdb.add, routes: routes.add },
    remove: { neighbors: neighbors.remove, fdb: fdb.remove, routes: routes.remove },
  };
}

export function isEmpty(changes: OverlayChanges): boolean {
  const { add, remove } = changes;
  return [add, remove].every((s) => s.neighbors.length === 0 && s.fdb.length === 0 && s.routes.length === 0);
}

/** The iproute2 and bridge batch lines that carry out the changes, in a safe order. */
export function changeCommands(changes: OverlayChanges, device: string, routeProtocol: number): { ip: IpCommand[]; bridge: IpCommand[]; ipAfterFdb: IpCommand[] } {
  const { add, remove } = changes;
  const proto = String(routeProtocol);
  // Removals: routes first so nothing is routed at a neighbour that is gone.
  const ip: IpCommand[] = [
    ...remove.routes.map((r) => ['route', 'del', r.dst, 'via', r.via, 'dev', r.dev, 'proto', proto]),
    ...remove.neighbors.map((n) => ['neigh', 'del', n.ip, 'dev', device]),
  ];
  const bridge: IpCommand[] = [
    ...remove.fdb.map((f) => ['fdb', 'del', f.mac, 'dev', device, 'dst', f.dst, 'self']),
    ...add.fdb.map((f) => ['fdb', 'replace', f.mac, 'dev', device, 'dst', f.dst, 'self', 'permanent']),
  ];
  // Additions after the FDB, and neighbours before the routes that use them.
  const ipAfterFdb: IpCommand[] = [
    ...add.neighbors.map((n) => ['neigh', 'replace', n.ip, 'lladdr', n.mac, 'dev', device, 'nud', 'permanent']),
    // onlink: the VXLAN device has no address in the remote subnet to say the
    // next hop is reachable; a direct route's next hop is on the underlay.
    ...add.routes.map((r) => ['route', 'replace', r.dst, 'via', r.via, 'dev', r.dev, ...(r.dev === device ? ['onlink'] : []), 'proto', proto]),
  ];
  return { ip, bridge, ipAfterFdb };
}
