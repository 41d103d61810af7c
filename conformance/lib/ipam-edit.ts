// Edits of a plugin's own ipam section, so that a hostile request differs
// from the conf in one value only. It reads host-local's format: the subnet in
// ranges[0][0] or, in the older form, directly in the ipam section.
import { addressAt, parseCidr } from './ip.ts';
import { isObject } from './json.ts';

export type RangeKey = 'subnet' | 'rangeStart' | 'gateway';
export type RouteKey = 'dst' | 'gw';

/** The conf's valid values (or the conventional ones it implies) that hostile values are built on. */
export type IpamBase = Record<RangeKey | RouteKey, string>;

/** Undefined when the ipam section names no subnet to start from. */
export function ipamBase(ipam: unknown): IpamBase | undefined {
  const range = firstRange(ipam);
  const cidr = typeof range?.subnet === 'string' ? parseCidr(range.subnet) : undefined;
  if (!range || !cidr) return undefined;
  const gateway = typeof range.gateway === 'string' ? range.gateway : addressAt(cidr, 1n);
  const route = isObject(ipam) && Array.isArray(ipam.routes) && isObject(ipam.routes[0]) ? ipam.routes[0] : undefined;
  return {
    subnet: range.subnet as string,
    rangeStart: typeof range.rangeStart === 'string' ? range.rangeStart : addressAt(cidr, 2n),
    gateway,
    dst: typeof route?.dst === 'string' ? route.dst : cidr.family === 4 ? '0.0.0.0/0' : '::/0',
    gw: typeof route?.gw === 'string' ? route.gw : gateway,
  };
}

/** The request with `key` of its first range set to `value`. */
export function withRangeValue(request: Record<string, unknown>, key: RangeKey, value: string): Record<string, unknown> {
  const ipam = ipamOf(request);
  if (!Array.isArray(ipam.ranges)) return { ...request, ipam: { ...ipam, [key]: value } };
  const [firstSet, ...otherSets] = ipam.ranges as unknown[];
  const [first, ...otherRanges] = Array.isArray(firstSet) ? firstSet : [];
  const ranges = [[{ ...(isObject(first) ? first : {}), [key]: value }, ...otherRanges], ...otherSets];
  return { ...request, ipam: { ...ipam, ranges } };
}

/** The request with `key` of its first route (one to the default destination if it has none) set to `value`. */
export function withRouteValue(request: Record<string, unknown>, key: RouteKey, value: string, base: IpamBase): Record<string, unknown> {
  const ipam = ipamOf(request);
  const [first, ...others] = Array.isArray(ipam.routes) ? (ipam.routes as unknown[]) : [];
  const route = { ...(isObject(first) ? first : { dst: base.dst }), [key]: value };
  return { ...request, ipam: { ...ipam, routes: [route, ...others] } };
}

/** The request with `routes` appended to the conf's own. */
export function withExtraRoutes(request: Record<string, unknown>, routes: readonly Record<string, string>[]): Record<string, unknown> {
  const ipam = ipamOf(request);
  return { ...request, ipam: { ...ipam, routes: [...(Array.isArray(ipam.routes) ? ipam.routes : []), ...routes] } };
}

function firstRange(ipam: unknown): Record<string, unknown> | undefined {
  if (!isObject(ipam)) return undefined;
  if (Array.isArray(ipam.ranges)) {
    const set: unknown = ipam.ranges[0];
    return Array.isArray(set) && isObject(set[0]) ? set[0] : undefined;
  }
  return typeof ipam.subnet === 'string' ? ipam : undefined;
}

function ipamOf(request: Record<string, unknown>): Record<string, unknown> {
  if (!isObject(request.ipam)) throw new Error(`plugin ${String(request.type)} has no ipam section to edit`);
  return request.ipam;
}
