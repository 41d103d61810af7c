// The Node annotations weftd publishes on its own Node and reads on every
// other: the one place their names and formats are defined. What another
// Node says is parsed and given back in canonical form only, so no text from
// the API server reaches a kernel command as it was written.
import { FAMILIES, type Family, formatAddress, parseAddress } from '../net/address.ts';
import { quote } from '../text/quote.ts';

export const ANNOTATION_PREFIX = 'weft.dev/';
/** The VTEP over the node's IPv4 underlay. */
export const VTEP_IP = 'weft.dev/vtep-ip';
export const VTEP_MAC = 'weft.dev/vtep-mac';
/** The VTEP over the node's IPv6 underlay. */
export const VTEP_IP6 = 'weft.dev/vtep-ip6';
export const VTEP_MAC6 = 'weft.dev/vtep-mac6';
export const BACKEND = 'weft.dev/backend';
export const BACKEND_VXLAN = 'vxlan';

export type Vtep = { ip: string; mac: string };
/** A node's VTEPs by underlay family; at least one. */
export type Vteps = { 4?: Vtep; 6?: Vtep };

/** The annotation names of each family's VTEP pair. */
export const VTEP_KEYS: Record<Family, { ip: string; mac: string }> = {
  4: { ip: VTEP_IP, mac: VTEP_MAC },
  6: { ip: VTEP_IP6, mac: VTEP_MAC6 },
};

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** The MAC in canonical form (lower case, colons), or undefined when `text` is not a MAC. */
export function canonicalMac(text: string): string | undefined {
  return MAC.test(text) ? text.toLowerCase() : undefined;
}

const EXAMPLE: Record<Family, string> = { 4: 'an IPv4 address', 6: 'an IPv6 address' };

/** One family's pair: absent, complete and of its family, or why not. */
function parsePair(annotations: Record<string, string>, family: Family): { vtep?: Vtep } | { problem: string } {
  const keys = VTEP_KEYS[family];
  const ipText = annotations[keys.ip];
  const macText = annotations[keys.mac];
  if (ipText === undefined && macText === undefined) return {};
  if (ipText === undefined || macText === undefined) {
    const [has, lacks] = ipText === undefined ? [keys.mac, keys.ip] : [keys.ip, keys.mac];
    return { problem: `has a ${has} annotation but no ${lacks}: a VTEP needs both` };
  }
  const ip = parseAddress(ipText);
  if (ip?.family !== family) return { problem: `has an invalid ${keys.ip} annotation ${quote(ipText)}: expected ${EXAMPLE[family]}` };
  const mac = canonicalMac(macText);
  if (!mac) return { problem: `has an invalid ${keys.mac} annotation ${quote(macText)}: expected a MAC like 0e:12:34:56:78:9a` };
  return { vtep: { ip: formatAddress(ip), mac } };
}

/**
 * The node's VTEPs in canonical form, or why its annotations do not describe
 * them. Only the form is checked here; whether the values can serve as a
 * peer's VTEP is the overlay's question (src/overlay/vtep-checks.ts).
 */
export function parseVteps(annotations: Record<string, string> | undefined): { vteps: Vteps } | { problem: string } {
  const vteps: Vteps = {};
  for (const family of FAMILIES) {
    const pair = parsePair(annotations ?? {}, family);
    if ('problem' in pair) return pair;
    if (pair.vtep) vteps[family] = pair.vtep;
  }
  if (!vteps[4] && !vteps[6]) return { problem: `has no ${VTEP_IP} and ${VTEP_MAC} (or ${VTEP_IP6} and ${VTEP_MAC6}) annotations yet` };
  return { vteps };
}

/**
 * The merge patch weftd applies to its own Node's metadata: the pairs of the
 * underlay families it has, and null (remove) for a pair it no longer has.
 */
export function vtepAnnotations(vteps: Vteps): Record<string, string | null> {
  const patch: Record<string, string | null> = {};
  for (const family of FAMILIES) {
    const keys = VTEP_KEYS[family];
    patch[keys.ip] = vteps[family]?.ip ?? null;
    patch[keys.mac] = vteps[family]?.mac ?? null;
  }
  patch[BACKEND] = BACKEND_VXLAN;
  return patch;
}

/** Whether the annotations already say exactly what `vtepAnnotations(vteps)` sets. */
export function vtepsPublished(annotations: Record<string, string>, vteps: Vteps): boolean {
  return Object.entries(vtepAnnotations(vteps)).every(([key, value]) => (annotations[key] ?? null) === value);
}
