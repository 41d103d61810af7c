// What the kernel holds on weft's device: permanent neighbours and FDB
// entries on it, and routes carrying weft's route protocol number. Anything
// else (other devices, other protocols, learned entries) is not weft's.
import { bridgeShow, ipShow } from '../linux/ip.ts';
import type { OverlayState } from './types.ts';

/** rtnetlink protocol number on every route weftd installs ("weft" in /etc/iproute2/rt_protos.d). */
export const WEFT_ROUTE_PROTOCOL = 119;

type NeighJson = { dst: string; lladdr?: string; state?: string[] };
type FdbJson = { mac: string; dst?: string; state?: string };
type RouteJson = { dst: string; gateway?: string; dev?: string };

export function readOverlayState(device: string): OverlayState {
  const [neighbors, routes] = ipShow([
    ['neigh', 'show', 'dev', device],
    ['route', 'show', 'table', 'main', 'proto', String(WEFT_ROUTE_PROTOCOL)],
  ]) as [NeighJson[], RouteJson[]];
  const [fdb] = bridgeShow([['fdb', 'show', 'dev', device]]) as [FdbJson[]];
  return parseOverlayState(neighbors, fdb, routes);
}

/** Permanent neighbours on the device: address → MAC. */
export function readNeighbors(device: string): Map<string, string> {
  const [neighbors] = ipShow([['neigh', 'show', 'dev', device]]) as [NeighJson[]];
  return new Map(parseOverlayState(neighbors, [], []).neighbors.map((n) => [n.ip, n.mac]));
}

export function parseOverlayState(neighbors: NeighJson[], fdb: FdbJson[], routes: RouteJson[]): OverlayState {
  return {
    neighbors: neighbors.filter((n) => n.lladdr && (n.state ?? []).includes('PERMANENT')).map((n) => ({ ip: n.dst, mac: n.lladdr!.toLowerCase() })),
    fdb: fdb.filter((f) => f.dst && f.state === 'permanent' && f.mac !== '00:00:00:00:00:00').map((f) => ({ mac: f.mac.toLowerCase(), dst: f.dst! })),
    routes: routes.filter((r) => r.gateway && r.dev).map((r) => ({ dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`, via: r.gateway!, dev: r.dev! })),
  };
}
