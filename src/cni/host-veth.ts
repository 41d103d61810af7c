// The host end of a pod's veth pair is named from the attachment alone, so
// DEL and GC find it without any state: "weft" + 11 hex digits of a hash of
// container ID and interface name (15 characters, the kernel's limit). Its
// alias names the network, so GC of one network never touches another's
// veths on a shared bridge.
import { stableHash64 } from '../net/mac.ts';

export const HOST_VETH_PREFIX = 'weft';

export function hostVethName(containerId: string, ifname: string): string {
  return HOST_VETH_PREFIX + stableHash64(`${containerId}/${ifname}`).toString(16).padStart(16, '0').slice(0, 11);
}

export function isHostVethName(name: string): boolean {
  return name.length === 15 && name.startsWith(HOST_VETH_PREFIX) && /^[0-9a-f]{11}$/.test(name.slice(4));
}

export function hostVethAlias(network: string): string {
  return `weft:${network}`;
}
