// libcni's cnitool (v1.3.0, .cache/bin), the way every test, benchmark and the
// demo runs a CNI plugin as a container runtime would. The command is built
// in one place; the benchmark times it with its own spawn, everyone else runs
// it here.

import { createHash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CNITOOL } from './paths.ts';
import { SYSTEM_PATH } from './shell.ts';

export type CniVerb = 'add' | 'check' | 'del' | 'gc' | 'status';

export type CnitoolCall = {
  verb: CniVerb;
  /** The conflist's name. */
  network: string;
  /** NETCONFPATH: the directory holding the conflist. */
  confDir: string;
  /** CNI_PATH: where the plugins are. */
  pluginDirs: string[];
  netnsPath: string;
  /** Runs cnitool inside this named network namespace (a test node's), as its runtime would. */
  inNetns?: string;
  /** More variables, e.g. CAP_ARGS or CNI_ARGS. */
  env?: Record<string, string>;
};

export type Command = { file: string; args: string[]; env: Record<string, string> };

// Exactly these variables: a kubelet's environment has no NODE_EXTRA_CA_CERTS
// (which would make every Node start-up parse a CA bundle), and its PATH is
// the system's, not one with node_modules/.bin in front.
export function cnitoolCommand(c: CnitoolCall): Command {
  const cnitool = [CNITOOL, c.verb, c.network, c.netnsPath];
  return {
    file: c.inNetns ? 'ip' : CNITOOL,
    args: c.inNetns ? ['netns', 'exec', c.inNetns, ...cnitool] : cnitool.slice(1),
    env: { PATH: SYSTEM_PATH, NETCONFPATH: c.confDir, CNI_PATH: c.pluginDirs.join(':'), ...c.env },
  };
}

export type Run = { exitCode: number; stdout: string; stderr: string; json: Record<string, unknown> | undefined };

/** Output that is JSON, parsed; else undefined. */
export function parseJson(stdout: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function cnitool(c: CnitoolCall): Promise<Run> {
  const { file, args, env } = cnitoolCommand(c);
  const r = await execa(file, args, { env, extendEnv: false, reject: false });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json: parseJson(r.stdout) };
}

/** cnitool names the container after a hash of the netns path. */
export function cnitoolContainerId(netnsPath: string): string {
  return `cnitool-${createHash('sha512').update(netnsPath).digest('hex').slice(0, 20)}`;
}

// cnitool v1.3.0 keeps every result here whatever CNI_CACHE_DIR says; each
// network name is its user's own, so removing by name touches no one else's.
const LIBCNI_RESULTS = '/var/lib/cni/results';

/** Removes libcni's cached results of a network, once its attachments are deleted. */
export function forgetCnitoolResults(network: string): void {
  let names: string[];
  try {
    names = readdirSync(LIBCNI_RESULTS);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(`${network}-cnitool-`)) rmSync(join(LIBCNI_RESULTS, name), { force: true });
}
