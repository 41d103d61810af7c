// The built plugin in a test network of its own: a conflist with a bridge
// name and a claimed subnet no other test uses, driven through cnitool, or by
// direct exec with CNI_* variables for the error paths cnitool cannot express.

import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { execa } from 'execa';
import { hostVethName } from '../src/cni/host-veth.ts';
import { type CniVerb, forgetCnitoolResults, parseJson, type Run, cnitool as runCnitool } from './cnitool.ts';
import { claimSubnet, deleteLinkOnTeardown, tempDir, uniqueSuffix } from './fixtures.ts';
import { ipJson, linkExists } from './netns.ts';
import { DIST } from './paths.ts';
import { SYSTEM_PATH } from './shell.ts';

export type { Run } from './cnitool.ts';

export type TestNetwork = {
  name: string;
  bridge: string;
  subnet: string;
  /** "10.230.N." — append the host part. */
  prefix: string;
  dataDir: string;
  confDir: string;
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
  deleteLinkOnTeardown(t, bridge);
  const net: TestNetwork = {
    name: `wt${id}`,
    bridge,
    subnet,
    prefix: claimed.prefix,
    dataDir: join(dir, 'ipam'),
    confDir: join(dir, 'conf'),
    pluginConf: {},
  };
  t.teardown(() => forgetCnitoolResults(net.name));
  const ipam = opts.ipam ?? { ranges: [[{ subnet }]], dataDir: net.dataDir };
  const plugin = { type: 'weft', bridge, ipam, ...opts.extra };
  const cniVersion = opts.cniVersion ?? '1.1.0';
  net.pluginConf = { cniVersion, name: net.name, ...plugin };
  mkdirSync(net.confDir, { recursive: true });
  writeFileSync(join(net.confDir, '10-weft.conflist'), JSON.stringify({ cniVersion, name: net.name, plugins: [plugin] }));
  return net;
}

export function cnitool(net: TestNetwork, verb: CniVerb, netnsPath: string, env: Record<string, string> = {}): Promise<Run> {
  return runCnitool({ verb, network: net.name, confDir: net.confDir, pluginDirs: [DIST], netnsPath, env });
}

/** Runs dist/weft itself: `env` are the CNI_* variables, `stdin` the config. */
export async function execWeft(env: Record<string, string>, stdin: string): Promise<Run> {
  const r = await execa(join(DIST, 'weft'), [], { env: { PATH: SYSTEM_PATH, ...env }, extendEnv: false, input: stdin, reject: false });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json: parseJson(r.stdout) };
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

/** The addresses reserved in a network's IPAM store (its data dir and name). */
export function reservations(net: Pick<TestNetwork, 'dataDir' | 'name'>): string[] {
  try {
    return readdirSync(join(net.dataDir, net.name))
      .filter((f) => !f.startsWith('last_reserved_ip'))
      .sort();
  } catch {
    return [];
  }
}
