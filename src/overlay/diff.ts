// The difference between the entries the kernel holds and the ones it should:
// only that is applied, so a resync of an unchanged cluster touches nothing.
import type { IpCommand } from '../linux/ip.ts';
import { fdbKey, neighborKey, routeKey } from './entry-keys.ts';
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
  // so traffic to a peer whose VTEP moved is not dropped in between. A route
  // whose metric changed has a new key: the new one is added, the old removed.
  const neighbors = diffBy<NeighborEntry>(desired.neighbors, actual.neighbors, neighborKey, (a, b) => a.mac === b.mac);
  const fdb = diffBy<FdbEntry>(desired.fdb, actual.fdb, fdbKey, (a, b) => a.dst === b.dst);
  const routes = diffBy<RouteEntry>(desired.routes, actual.routes, routeKey, (a, b) => a.via === b.via && a.dev === b.dev);
  return {
    add: { neighbors: neighbors.add, fdb: fdb.add, routes: routes.add },
    remove: { neighbors: neighbors.remove, fdb: fdb.remove, routes: routes.remove },
  };
}

export function isEmpty(changes: OverlayChanges): boolean {
  const { add, remove } = changes;
  return [add, remove].every((s) => s.neighbors.length === 0 && s.fdb.length === 0 && s.routes.length === 0);
}

/**
 * One batch line, with the key of the entry it adds or removes
 * (src/overlay/entry-keys.ts); a neighbour line also carries its entry, so
 * the kernel can be asked whether it took effect (src/overlay/batch.ts).
 */
export type PlannedCommand = { words: IpCommand; key: string; op: 'add' | 'remove'; neighbor?: NeighborEntry };

/**
 * `ip`: removals, routes before the neighbours they use; `ipAdds`: neighbours
 * before the routes that use them. `ipAdds` runs first (src/overlay/reconcile.ts).
 */
export type ChangePlan = { ip: PlannedCommand[]; bridge: PlannedCommand[]; ipAdds: PlannedCommand[] };

const remove = (key: string, words: IpCommand): PlannedCommand => ({ words, key, op: 'remove' });
const add = (key: string, words: IpCommand): PlannedCommand => ({ words, key, op: 'add' });
const neighborLine = (n: NeighborEntry, op: PlannedCommand['op'], words: IpCommand): PlannedCommand => ({ words, key: neighborKey(n), op, neighbor: n });

/**
 * The iproute2 and bridge batch lines that carry out the changes, in a safe
 * order. `vxlanDevices`: weft's VXLAN devices, whose routes are onlink.
 */
export function changeCommands(changes: OverlayChanges, vxlanDevices: readonly string[], routeProtocol: number): ChangePlan {
  const { add: adds, remove: removals } = changes;
  const proto = String(routeProtocol);
  // Removals: routes first so nothing is routed at a neighbour that is gone.
  const ip = [
    // The metric says which of two routes to one destination goes (an IPv4
    // metric of 0 reads "any", and finds the lowest first: that one).
    ...removals.routes.map((r) => remove(routeKey(r), ['route', 'del', r.dst, 'via', r.via, 'dev', r.dev, 'proto', proto, 'metric', String(r.metric)])),
    ...removals.neighbors.map((n) => neighborLine(n, 'remove', ['neigh', 'del', n.ip, 'dev', n.dev])),
  ];
  const bridge = [
    ...removals.fdb.map((f) => remove(fdbKey(f), ['fdb', 'del', f.mac, 'dev', f.dev, 'dst', f.dst, 'self'])),
    ...adds.fdb.map((f) => add(fdbKey(f), ['fdb', 'replace', f.mac, 'dev', f.dev, 'dst', f.dst, 'self', 'permanent'])),
  ];
  const ipAdds = [
    ...adds.neighbors.map((n) => neighborLine(n, 'add', ['neigh', 'replace', n.ip, 'lladdr', n.mac, 'dev', n.dev, 'nud', 'permanent'])),
    // onlink: the VXLAN device has no address in the remote subnet to say the
    // next hop is reachable; a direct route's next hop is on the underlay.
    ...adds.routes.map((r) =>
      add(routeKey(r), [
        'route',
        'replace',
        r.dst,
        'via',
        r.via,
        'dev',
        r.dev,
        ...(vxlanDevices.includes(r.dev) ? ['onlink'] : []),
        'proto',
        proto,
        'metric',
        String(r.metric),
      ]),
    ),
  ];
  return { ip, bridge, ipAdds };
}

/**
 * Lines that take a peer's entries out whatever they hold now (a route by
 * destination alone, an FDB entry by MAC alone), for a peer the kernel
 * refused part of: it is left out whole, not half programmed.
 */
export function removalCommands(entries: OverlayState, routeProtocol: number): { ip: PlannedCommand[]; bridge: PlannedCommand[] } {
  const proto = String(routeProtocol);
  return {
    ip: [
      ...entries.routes.map((r) => remove(routeKey(r), ['route', 'del', r.dst, 'proto', proto])),
      ...entries.neighbors.map((n) => neighborLine(n, 'remove', ['neigh', 'del', n.ip, 'dev', n.dev])),
    ],
    bridge: entries.fdb.map((f) => remove(fdbKey(f), ['fdb', 'del', f.mac, 'dev', f.dev, 'self'])),
  };
}
