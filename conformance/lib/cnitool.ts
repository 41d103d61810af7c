// Drives the plugin through libcni's own front end, cnitool, the way a
// container runtime would: it loads the conf from a directory by network name,
// caches results for CHECK and DEL, and converts results between versions.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defer } from './cleanup.ts';
import type { NetworkConfig } from './network-config.ts';
import { pluginEnvironment } from './plugin-exec.ts';
import { type Completed, run } from './process.ts';

export type Cnitool = { binary: string; confDir: string; networkName: string; cniPath: string[]; ifname: string };

export type CnitoolVerb = 'add' | 'check' | 'del';

// libcni's default cache directory; cnitool has no option to move it.
const LIBCNI_CACHE_DIR = '/var/lib/cni';

/** Puts the conf where cnitool looks for it (NETCONFPATH) for the rest of the run. */
export function prepareCnitool(binary: string, net: NetworkConfig, cniPath: string[], ifname: string): Cnitool {
  const confDir = mkdtempSync(join(tmpdir(), `cft-${process.pid}-conf-`));
  defer(`remove ${confDir}`, async () => rmSync(confDir, { recursive: true, force: true }));
  // libcni only finds lists in *.conflist and single plugins in *.conf.
  writeFileSync(join(confDir, `${net.name}.${net.format}`), net.text);
  return { binary, confDir, networkName: net.name, cniPath, ifname };
}

export function cnitool(tool: Cnitool, verb: CnitoolVerb, netnsPath: string, capabilityArgs?: Record<string, unknown>): Promise<Completed> {
  const env = pluginEnvironment({
    NETCONFPATH: tool.confDir,
    CNI_PATH: tool.cniPath.join(':'),
    CNI_IFNAME: tool.ifname,
    CAP_ARGS: capabilityArgs ? JSON.stringify(capabilityArgs) : undefined,
  });
  return run(tool.binary, [verb, tool.networkName, netnsPath], { env });
}

/** The CNI_CONTAINERID cnitool sends for a netns: "cnitool-" and the first 10 bytes of the path's SHA-512. */
export function cnitoolContainerId(netnsPath: string): string {
  return `cnitool-${createHash('sha512').update(netnsPath).digest('hex').slice(0, 20)}`;
}

/** Where libcni caches an attachment's result until its DEL succeeds. */
export function cachedResultFile(tool: Cnitool, netnsPath: string): string {
  return join(LIBCNI_CACHE_DIR, 'results', `${tool.networkName}-${cnitoolContainerId(netnsPath)}-${tool.ifname}`);
}
