// Hostile names, paths and addresses: each value the runtime or the conf
// hands a plugin as a name or an address, spoiled with a newline and an
// `ip -batch` line, with shell commands, or with control characters, "#",
// "%d" and quotes; and CNI_IFNAME spoiled in the ways the kernel itself
// treats differently.
import { join } from 'node:path';
import { CANARY_SHELL_COMMANDS, type Canaries, canaryInjection } from '../lib/canaries.ts';
import type { HostileInput } from '../lib/hostile-call.ts';
import { type HostileCase, type Targets, hostileCase, withNetworkName } from '../lib/hostile-case.ts';
import { type IpamBase, type RangeKey, type RouteKey, ipamBase, withRangeValue, withRouteValue } from '../lib/ipam-edit.ts';
import type { NetworkConfig } from '../lib/network-config.ts';
import type { CniVariables } from '../lib/plugin-exec.ts';

const ODD_CHARACTERS = '\t\r\u001b[0m#%d"\'';

type Spoiler = { id: string; suffix: string; shown: string };
type Field = { id: string; what: string; targets: Targets; spoil: (suffix: string) => HostileInput };

export function nameCases(net: NetworkConfig, canaries: Canaries, dataDirs: readonly string[]): HostileCase[] {
  const spoiled = fields(net).flatMap((field) =>
    spoilers(canaries).map((spoiler) =>
      hostileCase(`${field.id}-${spoiler.id}`, `${field.what} ending in ${spoiler.shown}`, field.targets, field.spoil(spoiler.suffix)),
    ),
  );
  const escape = `../${net.name}-${process.pid}-escape`;
  return [
    ...ifnameCases(canaries),
    ...spoiled,
    hostileCase(
      'name-traversal',
      `the network name "../${net.name}-<pid>-escape", which climbs out of the IPAM data dir`,
      'all',
      withNetworkName(escape, dataDirs.map((dir) => join(dir, escape))),
    ),
  ];
}

function spoilers(canaries: Canaries): Spoiler[] {
  return [
    { id: 'newline-batch', suffix: canaryInjection(canaries), shown: JSON.stringify(canaryInjection({ ...canaries, link: '<canary>' })) },
    { id: 'shell', suffix: CANARY_SHELL_COMMANDS, shown: JSON.stringify(CANARY_SHELL_COMMANDS) },
    { id: 'odd-chars', suffix: ODD_CHARACTERS, shown: JSON.stringify(ODD_CHARACTERS) },
  ];
}

function fields(net: NetworkConfig): Field[] {
  const rangeField = (key: RangeKey, id: string): Field => ({
    id: `ipam-${id}`,
    what: `ipam ${key}`,
    targets: 'ipam',
    spoil: (suffix) => ({ breakage: { stdin: (valid) => JSON.stringify(withRangeValue(valid, key, `${baseOf(valid)[key]}${suffix}`)) } }),
  });
  const routeField = (key: RouteKey): Field => ({
    id: `route-${key}`,
    what: `an ipam route's ${key}`,
    targets: 'ipam',
    spoil: (suffix) => ({
      breakage: {
        stdin: (valid) => {
          const base = baseOf(valid);
          return JSON.stringify(withRouteValue(valid, key, `${base[key]}${suffix}`, base));
        },
      },
    }),
  });
  return [
    { id: 'container-id', what: 'CNI_CONTAINERID', targets: 'all', spoil: (suffix) => ({ breakage: { variables: appendTo('CNI_CONTAINERID', suffix) } }) },
    { id: 'netns', what: 'CNI_NETNS, the path of a netns that exists,', targets: 'all', spoil: (suffix) => ({ breakage: {}, netnsLabel: suffix }) },
    { id: 'name', what: 'the network name', targets: 'all', spoil: (suffix) => withNetworkName(`${net.name}${suffix}`) },
    rangeField('subnet', 'subnet'),
    rangeField('rangeStart', 'range-start'),
    rangeField('gateway', 'gateway'),
    routeField('dst'),
    routeField('gw'),
  ];
}

function ifnameCases(canaries: Canaries): HostileCase[] {
  const ifnames = [
    { id: 'newline-batch', value: `e0${canaryInjection(canaries)}`, what: JSON.stringify(`e0${canaryInjection({ ...canaries, link: '<canary>' })}`) },
    { id: 'shell', value: '$(touch c)', what: '"$(touch c)", short enough to pass a length check' },
    { id: 'tab-cr', value: 'e\t0\r', what: '"e\\t0\\r", whitespace the kernel refuses' },
    { id: 'escape', value: 'e0\u001b[1m', what: '"e0\\u001b[1m", an ESC the kernel allows' },
    { id: 'quotes-hash', value: 'e#"0\'', what: '"e#\\"0\'", quotes and "#" the kernel allows' },
    { id: 'percent-d', value: 'eth%d', what: '"eth%d", a template the kernel would turn into eth0' },
    { id: 'leading-dash', value: '-e0', what: '"-e0", which ip would read as an option' },
  ];
  return ifnames.map(({ id, value, what }) =>
    hostileCase(`ifname-${id}`, `CNI_IFNAME ${what}`, 'all', { breakage: { variables: (valid) => ({ ...valid, CNI_IFNAME: value }) } }),
  );
}

function appendTo(name: keyof CniVariables, suffix: string): (valid: CniVariables) => CniVariables {
  return (valid) => ({ ...valid, [name]: `${valid[name] ?? ''}${suffix}` });
}

/** Only called for plugins targetIndexes chose for having one. */
function baseOf(request: Record<string, unknown>): IpamBase {
  const base = ipamBase(request.ipam);
  if (!base) throw new Error(`plugin ${String(request.type)} has no ipam subnet to build on`);
  return base;
}
