import { quote } from '../text/quote.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { Result } from './types.ts';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

export function requireSupportedVersion(version: string): void {
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `cniVersion ${quote(version)} is not supported by weft`,
      `set cniVersion to one of ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
}

/** -1, 0 or 1 as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * Renders a result in the shape the runtime asked for. 0.3.x and 0.4.0 carry
 * `ips[].version`; interface `mtu` only exists from 1.1.0.
 */
export function resultForVersion(result: Result, version: string): Record<string, unknown> {
  const legacy = compareVersions(version, '1.0.0') < 0;
  const withMtu = compareVersions(version, '1.1.0') >= 0;
  return {
    cniVersion: version,
    interfaces: result.interfaces.map((i) => (withMtu ? { ...i } : { name: i.name, mac: i.mac, sandbox: i.sandbox })),
    ips: result.ips.map((ip) => (legacy ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : { ...ip })),
    routes: result.routes,
    dns: result.dns,
  };
}
