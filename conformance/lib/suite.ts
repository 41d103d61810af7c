// What every check gets: the configuration under test, where its plugins are,
// what they declared in VERSION, and where to report; all of it verified
// before the first check runs, so a missing binary or a bad conf is one clear
// message rather than N failures. And the gates deciding whether a check
// applies.
import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { distinctPlugins, loadNetworkConfig, type NetworkConfig, SetupError } from './conf.ts';
import { watchHostLinks } from './host.ts';
import { askVersions, type Cnitool, type ExecContext, findPlugin, prepareCnitool, type VersionAnswer } from './plugin.ts';
import type { Report } from './report.ts';
import { compareVersions, type GatedVerb, INTRODUCED_IN } from './spec.ts';

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
  /** The conf is said to give every pod an address per family, whatever the suite can tell from it. */
  dualStack: boolean;
  report: Report;
  /** Where plugins executed directly run; unset, in the suite's own namespace. */
  exec?: ExecContext;
};

export type SuiteOptions = { conf: string; cniPath: string; cnitool: string; parallel: number; dualStack: boolean; report: Report };

export async function prepareSuite(options: SuiteOptions): Promise<Suite> {
  const { net, cniPath, binaries } = loadInputs(options);
  // What kubelet's runtimes name a pod's interface.
  const ifname = 'eth0';
  await watchHostLinks();
  return {
    net,
    cniPath,
    binaries,
    versions: await askVersions(net, binaries),
    cnitool: prepareCnitool(options.cnitool, net, cniPath, ifname),
    ifname,
    parallel: options.parallel,
    dualStack: options.dualStack,
    report: options.report,
  };
}

function loadInputs(options: SuiteOptions): { net: NetworkConfig; cniPath: string[]; binaries: Map<string, string> } {
  if (process.getuid?.() !== 0) throw new SetupError('run the suite as root: it creates network namespaces and lets plugins change host networking');
  if (!Number.isInteger(options.parallel) || options.parallel < 2) throw new SetupError(`--parallel ${options.parallel} must be an integer of at least 2`);
  try {
    accessSync(options.cnitool, constants.X_OK);
  } catch {
    throw new SetupError(`cnitool is not an executable at ${options.cnitool}; build it with tools/go-tools.sh (make go-tools) or pass --cnitool`);
  }
  const net = loadNetworkConfig(options.conf);
  const cniPath = options.cniPath
    .split(':')
    .filter(Boolean)
    .map((dir) => resolve(dir));
  if (cniPath.length === 0) throw new SetupError('--cni-path is empty; pass the directories holding the plugin binaries, separated by ":"');
  const binaries = new Map<string, string>();
  for (const { type } of distinctPlugins(net)) {
    try {
      binaries.set(type, findPlugin(type, cniPath));
    } catch (err) {
      throw new SetupError((err as Error).message);
    }
  }
  return { net, cniPath, binaries };
}

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

const DISABLED_BY: Partial<Record<GatedVerb, 'disableCheck' | 'disableGC'>> = { CHECK: 'disableCheck', GC: 'disableGC' };

/**
 * Open when a runtime may send `verb`. Like libcni, the suite speaks the
 * conf's cniVersion and never sends a verb that version lacks, nor one the
 * conf disables.
 */
export function verbGate(suite: Suite, verb: GatedVerb): Gate {
  const disabledBy = DISABLED_BY[verb];
  if (disabledBy && suite.net[disabledBy]) {
    return { open: false, applicable: false, reason: `the conf sets ${disabledBy}, so runtimes must not call ${verb}` };
  }
  const introducedIn = INTRODUCED_IN[verb];
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
