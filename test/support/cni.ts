// Drives the built plugin the two ways a user's runtime would: through
// libcni's cnitool, and by direct exec with CNI_* variables for the error
// paths cnitool cannot express.
import type { ExecutionContext } from 'ava';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hostVethName } from '../../src/cni/host-veth.ts';
import { SYSTEM_PATH, claimSubnet, deleteLinkOnTeardown, ipJson, linkExists, tempDir, uniqueSuffix } from './host.ts';

export const WEFT_BIN_DIR = resolve('dist');
export const CNITOOL = resolve('.cache/bin/cnitool');

// The kubelet's environment has no NODE_EXTRA_CA_CERTS; neither do the plugin's.
// and their PATH is the system's, not one with node_modules/.bin in front.
const baseEnv = (): Record<string, string> => ({ PATH: SYSTEM_PATH });

export type TestNetwork = {
  name: string;
  bridge: string;
  subnet: string;
  /** "10.230.N." — append the host part. */
  prefix: string;
  dataDir: string;
  confDir: string;
  cacheDir: string;
  /** The plugin's own config (what cnitool builds from the conflist). */
  pluginConf: Record<string, unknown>;
};

export type NetworkOptions = {
  cniVersion?: string;
  /** Replaces the /24 the test claimed, e.g. a /29 carved from it. */
  subnet?: (claimed: string, prefix: string) => string;
  extra?: Record<string, unknown>;
  ipam?: Record<string, unknown>;
};

export async function makeNetwork(t: ExecutionContext, opts: NetworkOptions = {}): Promise<TestNetwork> {
  const claimed = claimSubnet(t);
  const subnet = opts.subnet ? opts.subnet(claimed.subnet, claimed.prefix) : claimed.subnet;
  const dir = tempDir(t);
  const id = uniqueSuffix();
  const bridge = `wb${id}`;
  await deleteLinkOnTeardown(t, bridge);
  const net: TestNetwork = {
    name: `wt${id}`,
    bridge,
    subnet,
    prefix: claimed.prefix,
    dataDir: join(dir, 'ipam'),
    confDir: join(dir, 'conf'),
    cacheDir: join(dir, 'cache'),
    pluginConf: {},
  };
  const ipam = opts.ipam ?? { ranges: [[{ subnet }]], dataDir: net.dataDir };
  const plugin = { type: 'weft', bridge, ipam, ...opts.extra };
  const cniVersion = opts.cniVersion ?? '1.1.0';
  net.pluginConf = { cniVersion, name: net.name, ...plugin };
  mkdirSync(net.confDir, { recursive: true });
  writeFileSync(join(net.confDir, '10-weft.conflist'), JSON.stringify({ cniVersion, name: net.name, plugins: [plugin] }));
  return net;
}

export type Run = { exitCode: number; stdout: string; stderr: string; json: Record<string, unknown> | undefined };

function parse(stdout: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** cnitool names the container after a hash of the netns path. */
export function cnitoolContainerId(netnsPath: string): string {
  return `cnitool-${createHash('sha512').update(netnsPath).digest('hex').slice(0, 20)}`;
}

export async function cnitool(net: TestNetwork, verb: 'add' | 'check' | 'del' | 'gc' | 'status', netnsPath: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  const env: Record<string, string> = {
    ...baseEnv(),
    NETCONFPATH: net.confDir,
    CNI_PATH: WEFT_BIN_DIR,
    CNI_CACHE_DIR: net.cacheDir,
    ...extraEnv,
  };
  const r = await execa(CNITOOL, [verb, net.name, netnsPath], { env, extendEnv: false, reject: false });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout) };
}

/** Runs dist/weft itself: `env` are the CNI_* variables, `stdin` the config. */
export async function execWeft(env: Record<string, string>, stdin: string): Promise<Run> {
  const r = await execa(join(WEFT_BIN_DIR, 'weft'), [], { env: { ...baseEnv(), ...env }, extendEnv: false, input: stdin, reject: false });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout) };
}

/** What an attachment leaves on the host, to show a failed operation left nothing. */
export async function footprint(net: TestNetwork, containerId: string, ifname = 'eth0') {
  const veth = hostVethName(containerId, ifname);
  return {
    bridgeExists: await linkExists(net.bridge),
    bridgePorts: (await ipJson<{ ifname: string }>(['link', 'show', 'master', net.bridge]).catch(() => [])).map((l) => l.ifname).sort(),
    hostVeth: (await linkExists(veth)) ? veth : undefined,
    reservations: reservations(net),
  };
}

export function reservations(net: TestNetwork): string[] {
  try {
    return readdirSync(join(net.dataDir, net.name)).filter((f) => !f.startsWith('last_reserved_ip')).sort();
  } catch {
    return [];
  }
}
