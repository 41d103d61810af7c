// Black-box proof that an address is free: ask for it. CONVENTIONS.md defines
// the `ips` capability for requesting specific addresses; the suite only
// relies on it when the conf declares it for some plugin.
import { isObject } from './json.ts';
import type { NetworkConfig } from './network-config.ts';

/** CAP_ARGS requesting `address` (CIDR), or undefined when no plugin declares the `ips` capability. */
export function requestAddress(net: NetworkConfig, address: string): Record<string, unknown> | undefined {
  const declared = net.plugins.some((plugin) => isObject(plugin.capabilities) && plugin.capabilities.ips === true);
  return declared ? { ips: [address] } : undefined;
}
