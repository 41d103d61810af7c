// Hostile input: names, paths and addresses carrying control characters,
// "#", "%", quotes, ip -batch lines and shell commands, and input nested or
// sized to break naive code. Each case goes straight to each plugin it
// concerns, which runs in a namespace standing in for the host. A plugin
// passes with one clean error object and no change anywhere, or with a
// result true of the kernel that its DEL undoes; never by running an
// injected command, crashing, hanging or printing a stack trace.
import { join } from 'node:path';
import { mark, unwindTo } from '../lib/cleanup.ts';
import type { NetworkConfig } from '../lib/conf.ts';
import { ipamDataDirs } from '../lib/host.ts';
import { prepareSandbox, restoreSandbox, sandboxed, sendHostileAdd } from '../lib/hostile-call.ts';
import {
  CANARY_SHELL_COMMANDS,
  type Canaries,
  canaryInjection,
  canaryInjectionProblem,
  type HostileCase,
  type HostileInput,
  hostileCase,
  type IpamBase,
  ipamBase,
  nestedArrays,
  nestedObjects,
  prepareCanaries,
  type RangeKey,
  type RouteKey,
  type Targets,
  targetIndexes,
  withExtraRoutes,
  withNetworkName,
  withRangeValue,
  withRawValue,
  withRouteValue,
} from '../lib/hostile-payloads.ts';
import { breakRequest, breakVariable } from '../lib/pods.ts';
import { isObject } from '../lib/spec.ts';
import type { Suite } from '../lib/suite.ts';

// Hangs and super-linear work show up as minutes; a linear pass over the
// largest input here (100 000 routes into a netns) takes a few seconds on a
// busy two-core machine.
const TIME_BOUND_MS = 20_000;

export async function checkHostileInput(suite: Suite): Promise<void> {
  const canaries = prepareCanaries();
  const dataDirs = ipamDataDirs(suite.net);
  const cases = [...nameCases(suite.net, canaries, dataDirs), ...sizeCases(suite.net)];
  const hostile: Suite = { ...suite, exec: { ...suite.exec, cwd: canaries.dir, timeoutMs: TIME_BOUND_MS } };
  let sandbox = await prepareSandbox(hostile);
  const unusable = typeof sandbox === 'string' ? sandbox : await canaryInjectionProblem(canaries);
  if (unusable !== undefined)
    return suite.report.unreached(
      cases.map((c) => c.check),
      unusable,
    );

  for (const { check, targets, input } of cases) {
    const indexes = targetIndexes(suite.net, targets);
    if (indexes.length === 0) {
      suite.report.notApplicable(check, "no plugin's ipam section names a subnet (host-local's format) to build the hostile values on");
      continue;
    }
    const problems: string[] = [];
    const summaries: string[] = [];
    for (const index of indexes) {
      if (typeof sandbox === 'string') {
        problems.push(`not reached: ${sandbox}`);
        break;
      }
      const position = mark();
      try {
        const outcome = await sendHostileAdd({ suite: sandboxed(hostile, sandbox.netns), host: sandbox.netns, canaries, dataDirs }, index, input);
        problems.push(...outcome.problems);
        summaries.push(outcome.summary);
      } catch (err) {
        problems.push(`the suite could not run the case: ${(err as Error).message}`);
      }
      problems.push(...(await unwindTo(position)).map((leftover) => `cleanup: ${leftover}`));
      sandbox = await restoreSandbox(hostile, sandbox);
    }
    suite.report.verdict(check, problems, summaries.join('; '));
  }
}

// Each value the runtime or the conf hands a plugin as a name or an address,
// spoiled with a newline and an `ip -batch` line, with shell commands, or
// with control characters, "#", "%d" and quotes; and CNI_IFNAME spoiled in
// the ways the kernel itself treats differently.

const ODD_CHARACTERS = '\t\r\u001b[0m#%d"\'';

type Spoiler = { id: string; suffix: string; shown: string };
type Field = { id: string; what: string; targets: Targets; spoil: (suffix: string) => HostileInput };

function nameCases(net: NetworkConfig, canaries: Canaries, dataDirs: readonly string[]): HostileCase[] {
  const spoiled = fields(net).flatMap((field) =>
    spoilers(canaries).map((spoiler) =>
      hostileCase(`${field.id}-${spoiler.id}`, `${field.what} ending in ${spoiler.shown}`, field.targets, field.spoil(spoiler.suffix)),
    ),
  );
  const traversal = `../${net.name}-${process.pid}-escape`;
  return [
    ...ifnameCases(canaries),
    ...spoiled,
    hostileCase(
      'name-traversal',
      `the network name "../${net.name}-<pid>-escape", which climbs out of the IPAM data dir`,
      'all',
      withNetworkName(
        traversal,
        dataDirs.map((dir) => join(dir, traversal)),
      ),
    ),
  ];
}

/** The canary injection as the report shows it: the same for every run, whatever the canary's name. */
function shownInjection(canaries: Canaries): string {
  return canaryInjection({ ...canaries, link: '<canary>' });
}

function spoilers(canaries: Canaries): Spoiler[] {
  return [
    { id: 'newline-batch', suffix: canaryInjection(canaries), shown: JSON.stringify(shownInjection(canaries)) },
    { id: 'shell', suffix: CANARY_SHELL_COMMANDS, shown: JSON.stringify(CANARY_SHELL_COMMANDS) },
    { id: 'odd-chars', suffix: ODD_CHARACTERS, shown: JSON.stringify(ODD_CHARACTERS) },
  ];
}

function fields(net: NetworkConfig): Field[] {
  const rangeField = (key: RangeKey, id: string): Field => ({
    id: `ipam-${id}`,
    what: `ipam ${key}`,
    targets: 'ipam',
    spoil: (suffix) => ({ breakage: breakRequest((valid) => withRangeValue(valid, key, `${baseOf(valid)[key]}${suffix}`)) }),
  });
  const routeField = (key: RouteKey): Field => ({
    id: `route-${key}`,
    what: `an ipam route's ${key}`,
    targets: 'ipam',
    spoil: (suffix) => ({
      breakage: breakRequest((valid) => {
        const base = baseOf(valid);
        return withRouteValue(valid, key, `${base[key]}${suffix}`, base);
      }),
    }),
  });
  return [
    {
      id: 'container-id',
      what: 'CNI_CONTAINERID',
      targets: 'all',
      spoil: (suffix) => ({ breakage: breakVariable('CNI_CONTAINERID', (valid) => `${valid ?? ''}${suffix}`) }),
    },
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
    { id: 'newline-batch', value: `e0${canaryInjection(canaries)}`, what: JSON.stringify(`e0${shownInjection(canaries)}`) },
    { id: 'shell', value: '$(touch c)', what: '"$(touch c)", short enough to pass a length check' },
    { id: 'tab-cr', value: 'e\t0\r', what: '"e\\t0\\r", whitespace the kernel refuses' },
    { id: 'escape', value: 'e0\u001b[1m', what: '"e0\\u001b[1m", an ESC the kernel allows' },
    { id: 'quotes-hash', value: 'e#"0\'', what: '"e#\\"0\'", quotes and "#" the kernel allows' },
    { id: 'percent-d', value: 'eth%d', what: '"eth%d", a template the kernel would turn into eth0' },
    { id: 'leading-dash', value: '-e0', what: '"-e0", which ip would read as an option' },
  ];
  return ifnames.map(({ id, value, what }) => hostileCase(`ifname-${id}`, `CNI_IFNAME ${what}`, 'all', { breakage: breakVariable('CNI_IFNAME', () => value) }));
}

/** Only called for plugins targetIndexes chose for having one. */
function baseOf(request: Record<string, unknown>): IpamBase {
  const base = ipamBase(request.ipam);
  if (!base) throw new Error(`plugin ${String(request.type)} has no ipam subnet to build on`);
  return base;
}

// Input too deep or too big for naive code: nesting that overflows a
// recursive decoder or encoder, in a field the plugin reads and in one it
// ignores; a 1 MiB string; 100 000-element arrays; and a stdin of tens of MiB.
// Some of it is valid, so a plugin may also pass by honouring it.

const DEPTH = 100_000;
const ELEMENTS = 100_000;
const MIB = 1 << 20;
const STDIN_MIB = 32;

function sizeCases(net: NetworkConfig): HostileCase[] {
  return [
    hostileCase('nesting-known-field', `dns.nameservers nested ${DEPTH} arrays deep`, 'all', {
      breakage: { stdin: (valid) => withRawValue(valid, ['dns', 'nameservers'], nestedArrays(DEPTH)) },
    }),
    hostileCase('nesting-unknown-field', `an unknown field nested ${DEPTH} objects deep`, 'all', {
      breakage: { stdin: (valid) => withRawValue(valid, ['cftUnknown'], nestedObjects(DEPTH)) },
    }),
    hostileCase('huge-string', 'a network name of 1 MiB', 'all', withNetworkName(`${net.name}${'x'.repeat(MIB)}`)),
    hostileCase('huge-array-routes', `ipam.routes with ${ELEMENTS} more routes, all valid`, 'ipam', {
      breakage: breakRequest((valid) => withExtraRoutes(valid, hostRoutes(ipamBase(valid.ipam)?.subnet.includes(':') ? 6 : 4))),
    }),
    hostileCase('huge-array-nameservers', `dns.nameservers with ${ELEMENTS} addresses`, 'all', {
      breakage: breakRequest((valid) => ({ ...valid, dns: { ...(isObject(valid.dns) ? valid.dns : {}), nameservers: nameservers() } })),
    }),
    hostileCase('huge-stdin', `a ${STDIN_MIB} MiB stdin, valid but for its size`, 'all', {
      breakage: breakRequest((valid) => ({ ...valid, cftPadding: 'x'.repeat(STDIN_MIB * MIB) })),
    }),
  ];
}

/** Distinct host routes in ranges no pod network uses (100.64.0.0/10, fd00:cf7::/64), of the subnet's family. */
function hostRoutes(family: 4 | 6): { dst: string }[] {
  return Array.from({ length: ELEMENTS }, (_, i) => ({
    dst: family === 4 ? `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32` : `fd00:cf7::${i.toString(16)}/128`,
  }));
}

/** Distinct addresses of the benchmarking range 198.18.0.0/15. */
function nameservers(): string[] {
  return Array.from({ length: ELEMENTS }, (_, i) => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
}
