// Input too deep or too big for naive code: nesting that overflows a
// recursive decoder or encoder, in a field the plugin reads and in one it
// ignores; a 1 MiB string; 100 000-element arrays; and a stdin of tens of MiB.
// Some of it is valid, so a plugin may also pass by honouring it.
import { type HostileCase, hostileCase, withNetworkName } from '../lib/hostile-case.ts';
import { ipamBase, withExtraRoutes } from '../lib/ipam-edit.ts';
import { isObject } from '../lib/json.ts';
import type { NetworkConfig } from '../lib/network-config.ts';
import { nestedArrays, nestedObjects, withRawValue } from '../lib/raw-json.ts';

const DEPTH = 100_000;
const ELEMENTS = 100_000;
const MIB = 1 << 20;
const STDIN_MIB = 32;

export function sizeCases(net: NetworkConfig): HostileCase[] {
  return [
    hostileCase('nesting-known-field', `dns.nameservers nested ${DEPTH} arrays deep`, 'all', {
      breakage: { stdin: (valid) => withRawValue(valid, ['dns', 'nameservers'], nestedArrays(DEPTH)) },
    }),
    hostileCase('nesting-unknown-field', `an unknown field nested ${DEPTH} objects deep`, 'all', {
      breakage: { stdin: (valid) => withRawValue(valid, ['cftUnknown'], nestedObjects(DEPTH)) },
    }),
    hostileCase('huge-string', 'a network name of 1 MiB', 'all', withNetworkName(`${net.name}${'x'.repeat(MIB)}`)),
    hostileCase('huge-array-routes', `ipam.routes with ${ELEMENTS} more routes, all valid`, 'ipam', {
      breakage: { stdin: (valid) => JSON.stringify(withExtraRoutes(valid, hostRoutes(ipamBase(valid.ipam)?.subnet.includes(':') ? 6 : 4))) },
    }),
    hostileCase('huge-array-nameservers', `dns.nameservers with ${ELEMENTS} addresses`, 'all', {
      breakage: { stdin: (valid) => JSON.stringify({ ...valid, dns: { ...(isObject(valid.dns) ? valid.dns : {}), nameservers: nameservers() } }) },
    }),
    hostileCase('huge-stdin', `a ${STDIN_MIB} MiB stdin, valid but for its size`, 'all', {
      breakage: { stdin: (valid) => JSON.stringify({ ...valid, cftPadding: 'x'.repeat(STDIN_MIB * MIB) }) },
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
