// What the kernel holds on weft's devices: permanent neighbours and FDB
// entries on each of them, and routes of either family in the main table
// carrying weft's route protocol number. Anything else (other devices, other
// protocols, other tables, learned entries) is not weft's.
import { bridgeShow, ipShow } from '../linux/ip.ts';
import { BITS, familyOfText } from '../net/address.ts';
import type { NeighborEntry, OverlayState } from './types.ts';

/** rtnetlink protocol number on every route weftd installs ("weft" in /etc/iproute2/rt_protos.d). */
export const WEFT_ROUTE_PROTOCOL = 119;

type NeighJson = { dst: string; lladdr?: string; state?: string[] };
type FdbJson = { mac: string; dst?: string; state?: string };
type RouteJson = { dst: string; gateway?: string; dev?: string; table?: string; metric?: number };

/** The held neighbours, as batch.ts looks them up. */
export const heldKey = (n: Pick<NeighborEntry, 'dev' | 'ip'>): string => `${n.dev} ${n.ip}`;

const neighShow = (dev: string) => ['neigh', 'show', 'dev', dev];

export function readOverlayState(devices: readonly string[]): OverlayState {
  // `table all` lists both families in one command (a table alone would mean
  // IPv4 only); -d names each route's table, so only main's are kept.
  const [routes, ...neighbors] = ipShow([['route', 'show', 'table', 'all', 'proto', String(WEFT_ROUTE_PROTOCOL)], ...devices.map(neighShow)]) as [
    RouteJson[],
    ...NeighJson[][],
  ];
  const fdb = bridgeShow(devices.map((dev) => ['fdb', 'show', 'dev', dev])) as FdbJson[][];
  return parseOverlayState(devices, neighbors, fdb, routes);
}

/** Permanent neighbours on the devices: `heldKey` → MAC. */
export function readNeighbors(devices: readonly string[]): Map<string, string> {
  const neighbors = ipShow(devices.map(neighShow)) as NeighJson[][];
  return new Map(parseOverlayState(devices, neighbors, [], []).neighbors.map((n) => [heldKey(n), n.mac]));
}

/** `neighbors[i]` and `fdb[i]` are what `devices[i]` holds. */
export function parseOverlayState(devices: readonly string[], neighbors: NeighJson[][], fdb: FdbJson[][], routes: RouteJson[]): OverlayState {
  return {
    neighbors: devices.flatMap((dev, i) =>
      (neighbors[i] ?? []).filter((n) => n.lladdr && (n.state ?? []).includes('PERMANENT')).map((n) => ({ ip: n.dst, mac: n.lladdr!.toLowerCase(), dev })),
    ),
    fdb: devices.flatMap((dev, i) =>
      (fdb[i] ?? [])
        .filter((f) => f.dst && f.state === 'permanent' && f.mac !== '00:00:00:00:00:00')
        .map((f) => ({ mac: f.mac.toLowerCase(), dst: f.dst!, dev })),
    ),
    routes: routes
      .filter((r) => r.gateway && r.dev && (r.table === undefined || r.table === 'main'))
      // A host route is printed without its length.
      // iproute2 prints no metric for an IPv4 route whose metric is 0.
      .map((r) => ({ dst: r.dst.includes('/') ? r.dst : `${r.dst}/${BITS[familyOfText(r.dst)]}`, via: r.gateway!, dev: r.dev!, metric: r.metric ?? 0 })),
  };
}
