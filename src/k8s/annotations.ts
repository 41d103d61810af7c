// The Node annotations weftd publishes on its own Node and reads on every
// other: the one place their names and formats are defined. What another
// Node says is parsed and given back in canonical form only, so no text from
// the API server reaches a kernel command as it was written.
import { formatAddress, parseAddress } from '../net/address.ts';
import { quote } from '../text/quote.ts';

export const ANNOTATION_PREFIX = 'weft.dev/';
export const VTEP_IP = 'weft.dev/vtep-ip';
export const VTEP_MAC = 'weft.dev/vtep-mac';
export const BACKEND = 'weft.dev/backend';
export const BACKEND_VXLAN = 'vxlan';

export type Vtep = { ip: string; mac: string };

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** The MAC in canonical form (lower case, colons), or undefined when `text` is not a MAC. */
export function canonicalMac(text: string): string | undefined {
  return MAC.test(text) ? text.toLowerCase() : undefined;
}

/**
 * The node's VTEP in canonical form, or why its annotations do not describe
 * one. Only the form is checked here; whether the values can serve as a
 * peer's VTEP is the overlay's question (src/overlay/vtep-checks.ts).
 */
export function parseVtep(annotations: Record<string, string> | undefined): { vtep: Vtep } | { problem: string } {
  const ipText = annotations?.[VTEP_IP];
  const macText = annotations?.[VTEP_MAC];
  if (ipText === undefined && macText === undefined) return { problem: 'has no weft.dev/vtep-ip and weft.dev/vtep-mac annotations yet' };
  const ip = ipText === undefined ? undefined : parseAddress(ipText);
  if (ip?.family !== 4) return { problem: `has an invalid ${VTEP_IP} annotation ${quote(ipText)}: expected an IPv4 address` };
  const mac = macText === undefined ? undefined : canonicalMac(macText);
  if (!mac) return { problem: `has an invalid ${VTEP_MAC} annotation ${quote(macText)}: expected a MAC like 0e:12:34:56:78:9a` };
  return { vtep: { ip: formatAddress(ip), mac } };
}

/** The merge patch weftd applies to its own Node's metadata. */
export function vtepAnnotations(vtep: Vtep): Record<string, string> {
  return { [VTEP_IP]: vtep.ip, [VTEP_MAC]: vtep.mac, [BACKEND]: BACKEND_VXLAN };
}
