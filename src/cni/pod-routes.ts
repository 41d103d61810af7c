// Which routes a pod gets, decided from parsed values only. With no
// ipam.routes, one default route per family, via the gateway of the first
// range set of that family (several sets of one family give the pod several
// addresses, but a second default route would be refused by the kernel).

import type { RangeSet } from '../ipam/range.ts';
import { type Address, type Cidr, cidrContains, FAMILIES, formatAddress, formatCidr } from '../net/address.ts';
import { configError } from './errors.ts';
import type { RouteSpec } from './network-config.ts';
import type { Route } from './types.ts';

export type PodAddress = { address: Address; gateway: Address };

export function podRoutes(specs: RouteSpec[] | undefined, assigned: PodAddress[]): Route[] {
  const gatewayFor = (family: 4 | 6) => assigned.find((a) => a.address.family === family)?.gateway;
  if (specs) {
    return specs.map((r) => {
      const gw = r.gw ?? gatewayFor(r.dst.family);
      return gw ? { dst: formatCidr(r.dst), gw: formatAddress(gw) } : { dst: formatCidr(r.dst) };
    });
  }
  const routes: Route[] = [];
  for (const family of FAMILIES) {
    const gw = gatewayFor(family);
    if (gw) routes.push({ dst: family === 4 ? '0.0.0.0/0' : '::/0', gw: formatAddress(gw) });
  }
  return routes;
}

/**
 * Refuses, before anything is reserved, the routes the kernel would refuse
 * half-way through an ADD: a gateway the pod cannot reach on its own subnets,
 * and a destination that is one of those subnets (its connected route exists).
 */
export function checkRoutes(specs: RouteSpec[] | undefined, rangeSets: RangeSet[]): void {
  const subnets: Cidr[] = rangeSets.flat().map((r) => r.subnet);
  specs?.forEach((r, i) => {
    const where = `ipam.routes[${i}]`;
    if (r.gw && !subnets.some((s) => cidrContains(s, r.gw!))) {
      throw configError(
        `${where}.gw ${formatAddress(r.gw)} is not on any of the pod's subnets (${subnets.map(formatCidr).join(', ')}): the pod could not reach it; use an address of its subnet`,
      );
    }
    if (subnets.some((s) => s.family === r.dst.family && s.network === r.dst.network && s.prefix === r.dst.prefix)) {
      throw configError(`${where}.dst ${formatCidr(r.dst)} is the pod's own subnet, which it reaches directly: remove that route`);
    }
  });
}
