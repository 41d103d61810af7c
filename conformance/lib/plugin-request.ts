// Turns one entry of the network configuration into the request configuration
// a plugin reads on stdin (SPEC.md "Deriving request configuration from plugin
// configuration"), the way libcni builds it.
import type { NetworkConfig, PluginConf } from './network-config.ts';

export type RequestOptions = {
  cniVersion: string;
  /** The previous plugin's result on ADD, the final ADD result on CHECK and DEL. */
  prevResult?: unknown;
  /** Keys the verb adds, e.g. cni.dev/valid-attachments for GC. */
  extra?: Record<string, unknown>;
};

export function pluginRequest(net: NetworkConfig, plugin: PluginConf, options: RequestOptions): Record<string, unknown> {
  // The spec says `capabilities` must not be set in the request; libcni
  // leaves it in, but no plugin may depend on it either way. Capability
  // arguments (runtimeConfig) are only ever offered through cnitool.
  const { capabilities: _, ...rest } = plugin;
  const request: Record<string, unknown> = { ...rest, cniVersion: options.cniVersion, name: net.name };
  if (options.prevResult !== undefined) request.prevResult = options.prevResult;
  return { ...request, ...options.extra };
}
