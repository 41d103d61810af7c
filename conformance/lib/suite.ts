// What every check gets: the configuration under test, where its plugins
// are, what they declared in VERSION, and where to report; and the version
// gates deciding whether a check applies.
import type { Cnitool } from './cnitool.ts';
import type { NetworkConfig } from './network-config.ts';
import type { ExecContext } from './plugin-exec.ts';
import type { VersionAnswer } from './plugin-versions.ts';
import type { Report } from './report.ts';
import { INTRODUCED_IN, compareVersions } from './versions.ts';

export type Suite = {
  net: NetworkConfig;
  cniPath: string[];
  /** Plugin type → binary found on the CNI path. */
  binaries: Map<string, string>;
  /** Plugin type → its answer to VERSION. */
  versions: Map<string, VersionAnswer>;
  cnitool: Cnitool;
  /** CNI_IFNAME for every attachment the suite makes. */
  ifname: string;
  parallel: number;
  report: Report;
  /** Where plugins executed directly run; unset, in the suite's own namespace. */
  exec?: ExecContext;
};

/**
 * Whether a check may run. Closed gates are either not applicable (the
 * plugin or conf legitimately lacks the version) or unreached (VERSION gave
 * no usable answer, which the VERSION check already fails).
 */
export type Gate = { open: true } | { open: false; applicable: boolean; reason: string };

const OPEN: Gate = { open: true };

/** Open when every plugin lists `cniVersion` in its supportedVersions. */
export function versionGate(suite: Suite, cniVersion: string): Gate {
  for (const [type, answer] of suite.versions) {
    if (answer.supported.length === 0) {
      return { open: false, applicable: true, reason: `plugin ${type} gave no usable VERSION answer, so its support for ${cniVersion} is unknown` };
    }
    if (!answer.supported.includes(cniVersion)) {
      const listed = answer.supported.join(', ');
      return { open: false, applicable: false, reason: `plugin ${type} does not list ${cniVersion} in supportedVersions [${listed}]` };
    }
  }
  return OPEN;
}

/**
 * Open when a verb introduced in `introducedIn` may be sent. Like libcni, the
 * suite speaks the conf's cniVersion and never sends a verb that version lacks.
 */
export function verbGate(suite: Suite, verb: string, introducedIn: string): Gate {
  const supported = versionGate(suite, introducedIn);
  if (!supported.open) return { ...supported, reason: `${supported.reason}, which ${verb} needs` };
  if (compareVersions(suite.net.cniVersion, introducedIn) < 0) {
    return {
      open: false,
      applicable: false,
      reason: `the conf's cniVersion ${suite.net.cniVersion} predates ${verb} (${introducedIn}); set cniVersion to ${introducedIn} or later to test it`,
    };
  }
  return OPEN;
}

export function checkVerbGate(suite: Suite): Gate {
  if (suite.net.disableCheck) return { open: false, applicable: false, reason: 'the conf sets disableCheck, so runtimes must not call CHECK' };
  return verbGate(suite, 'CHECK', INTRODUCED_IN.CHECK);
}

export function gcVerbGate(suite: Suite): Gate {
  if (suite.net.disableGC) return { open: false, applicable: false, reason: 'the conf sets disableGC, so runtimes must not call GC' };
  return verbGate(suite, 'GC', INTRODUCED_IN.GC);
}
