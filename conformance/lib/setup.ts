// Everything the checks rely on, verified before the first one runs, so a
// missing binary or a bad conf is one clear message rather than N failures.
import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { prepareCnitool } from './cnitool.ts';
import { watchHostLinks } from './host-links.ts';
import { type NetworkConfig, distinctPlugins, loadNetworkConfig } from './network-config.ts';
import { findPlugin } from './plugin-exec.ts';
import { askVersions } from './plugin-versions.ts';
import type { Report } from './report.ts';
import { SetupError } from './setup-error.ts';
import type { Suite } from './suite.ts';

export type SuiteOptions = { conf: string; cniPath: string; cnitool: string; parallel: number; report: Report };

function loadInputs(options: SuiteOptions): { net: NetworkConfig; cniPath: string[]; binaries: Map<string, string> } {
  if (process.getuid?.() !== 0) throw new SetupError('run the suite as root: it creates network namespaces and lets plugins change host networking');
  if (!Number.isInteger(options.parallel) || options.parallel < 2) throw new SetupError(`--parallel ${options.parallel} must be an integer of at least 2`);
  try {
    accessSync(options.cnitool, constants.X_OK);
  } catch {
    throw new SetupError(`cnitool is not an executable at ${options.cnitool}; build it with tools/go-tools.sh (make go-tools) or pass --cnitool`);
  }
  const net = loadNetworkConfig(options.conf);
  const cniPath = options.cniPath.split(':').filter(Boolean).map((dir) => resolve(dir));
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
    report: options.report,
  };
}
