// Reads the prevResult a runtime hands back on CHECK, whatever version wrote
// it (0.3.x/0.4.0 results carry ips[].version, which weft ignores).

import { isObject } from '../text/json.ts';
import { configError } from './errors.ts';
import { MAX_STRING } from './json-fields.ts';
import type { Interface, IpConfig, Route } from './types.ts';

// An ADD result has a handful of each; what a chain of plugins could add stays far below.
const MAX_ENTRIES = 256;

export type PrevResult = { interfaces: Interface[]; ips: IpConfig[]; routes: Route[] };

export function parsePrevResult(value: unknown): PrevResult {
  if (value === undefined) throw configError('prevResult is missing: CHECK needs the result of the ADD it checks');
  if (!isObject(value)) throw configError('prevResult must be an object');
  const list = (key: string): Record<string, unknown>[] => {
    const v = value[key] ?? [];
    if (!Array.isArray(v) || !v.every(isObject)) throw configError(`prevResult.${key} must be an array of objects`);
    if (v.length > MAX_ENTRIES) throw configError(`prevResult.${key} has ${v.length} entries, at most ${MAX_ENTRIES} are allowed`);
    return v;
  };
  const str = (o: Record<string, unknown>, key: string, where: string): string | undefined => {
    const v = o[key];
    if (v !== undefined && (typeof v !== 'string' || v.length > MAX_STRING))
      throw configError(`${where}.${key} must be a string of at most ${MAX_STRING} characters`);
    return v;
  };
  return {
    interfaces: list('interfaces').map((i, n) => ({
      name: str(i, 'name', `prevResult.interfaces[${n}]`) ?? '',
      mac: str(i, 'mac', `prevResult.interfaces[${n}]`),
      sandbox: str(i, 'sandbox', `prevResult.interfaces[${n}]`),
    })),
    ips: list('ips').map((ip, n) => {
      const address = str(ip, 'address', `prevResult.ips[${n}]`);
      if (!address) throw configError(`prevResult.ips[${n}].address is missing`);
      const iface = ip.interface;
      if (iface !== undefined && typeof iface !== 'number') throw configError(`prevResult.ips[${n}].interface must be a number`);
      return { address, gateway: str(ip, 'gateway', `prevResult.ips[${n}]`), interface: iface };
    }),
    routes: list('routes').map((r, n) => ({ dst: str(r, 'dst', `prevResult.routes[${n}]`) ?? '', gw: str(r, 'gw', `prevResult.routes[${n}]`) })),
  };
}
