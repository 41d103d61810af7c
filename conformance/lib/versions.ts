// CNI spec versions are plain MAJOR.MINOR.PATCH semantic versions.

/** The newest spec version this suite knows; newer versions in a conf are ignored, as libcni does. */
export const NEWEST_SPEC_VERSION = '1.1.0';

/** Versions whose ADD result shape the suite checks, oldest first (0.1.0/0.2.0 predate the interfaces list). */
export const RESULT_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** The spec version that introduced each verb the suite gates on. */
export const INTRODUCED_IN = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' } as const;

const VERSION = /^(\d+)\.(\d+)\.(\d+)$/;

export function isVersion(text: string): boolean {
  return VERSION.test(text);
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const difference = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** 0.3.x and 0.4.0 results carry ips[].version; 1.0.0 removed it. */
export function resultHasIpVersion(cniVersion: string): boolean {
  return compareVersions(cniVersion, '1.0.0') < 0;
}
