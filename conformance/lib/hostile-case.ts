// A hostile-input check: its input, and which of the conf's plugins get it.
import type { HostileInput } from './hostile-call.ts';
import { ipamBase } from './ipam-edit.ts';
import { type NetworkConfig, distinctPlugins } from './network-config.ts';
import type { Check } from './report.ts';

/** 'ipam': only the plugins whose ipam section has a subnet (host-local's format) to build hostile values on. */
export type Targets = 'all' | 'ipam';

export type HostileCase = { check: Check; targets: Targets; input: HostileInput };

export function hostileCase(id: string, what: string, targets: Targets, input: HostileInput): HostileCase {
  return { check: { id: `hostile.${id}`, title: `${what}: a clean error or an exact result, nothing left behind` }, targets, input };
}

/** The request's network name replaced, the way a conf could set it. */
export function withNetworkName(name: string, forbiddenPaths?: readonly string[]): HostileInput {
  return { breakage: { stdin: (valid) => JSON.stringify({ ...valid, name }) }, networkName: name, forbiddenPaths };
}

/** Indexes into the conf's plugins: the first entry of each type the case concerns. */
export function targetIndexes(net: NetworkConfig, targets: Targets): number[] {
  return distinctPlugins(net)
    .filter(({ index }) => targets === 'all' || ipamBase(net.plugins[index]?.ipam) !== undefined)
    .map(({ index }) => index);
}
