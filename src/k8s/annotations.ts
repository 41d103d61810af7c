// The Node annotations weftd publishes on its own Node and reads on every
// other: the one place their names and formats are defined.
import { parseAddress } from '../ipam/address.ts';

export const ANNOTATION_PREFIX = 'weft.dev/';
export const VTEP_IP = 'weft.dev/vtep-ip';
export const VTEP_MAC = 'weft.dev/vtep-mac';
export const BACKEND = 'weft.dev/backend';
export const BACKEND_VXLAN = 'vxlan';

export type Vtep = { ip: string; mac: string };

const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** The node's VTEP, or why its annotations do not describe one. */
export function parseVtep(annotations: Record<string, string> | undefined): { vtep: Vtep } | { problem: string } {
  const ip = annotations?.[VTEP_IP];
  const mac = annotations?.[VTEP_MAC]?.toLowerCase();
  if (ip === undefined && mac === undefined) return { problem: 'has no weft.dev/vtep-ip and weft.dev/vtep-mac annotations yet' };
  if (ip === undefined || parseAddress(ip)?.family !== 4) return { problem: `has an invalid ${VTEP_IP} annotation ${JSON.stringify(ip)}: expected an IPv4 address` };
  if (!mac || !MAC_PATTERN.test(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    return { problem: `has an invalid ${VTEP_MAC} annotation ${JSON.stringify(annotations?.[VTEP_MAC])}: expected a unicast MAC like 0e:12:34:56:78:9a` };
  }
  return { vtep: { ip, mac } };
}

/** The merge patch weftd applies to its own Node's metadata. */
export function vtepAnnotations(vtep: Vtep): Record<string, string> {
  return { [VTEP_IP]: vtep.ip, [VTEP_MAC]: vtep.mac, [BACKEND]: BACKEND_VXLAN };
}
