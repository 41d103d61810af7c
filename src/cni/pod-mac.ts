// The MAC of a pod's interface: from its first address when that is IPv4
// (0a:58 + the address, so a capture names its pod), else from the
// attachment's name. DEL and GC do not know which range set an address came
// from, so they take every MAC ADD could have given the attachment.
import type { Address } from '../net/address.ts';
import { macForAddress, macForName } from '../net/mac.ts';

export function podMac(first: Address, containerId: string, ifname: string): string {
  return first.family === 4 ? macForAddress(first) : macForName(`${containerId}/${ifname}`);
}

/** Every MAC ADD could have given an attachment that holds `addresses`. */
export function possiblePodMacs(addresses: Address[], containerId: string, ifname: string): string[] {
  const macs = addresses.map((a) => podMac(a, containerId, ifname));
  return [...new Set([...macs, macForName(`${containerId}/${ifname}`)])];
}
