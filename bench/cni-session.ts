// One benchmark run's footprint on the host: every netns it made, every
// attachment (ADD not yet undone by DEL) and the plugins' bridges, so that a
// failed or interrupted run can undo exactly what it did and nothing else.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from './cni-plugins.ts';
import { addNetns, deleteLink, deleteNetns, linkExists, netnsPath } from './lib/netns.ts';
import { childEnv, failureOf, runConcurrently, runTimed, type RunOptions, type RunResult } from './lib/run.ts';

// Far above any sane ADD (tens of ms): only a hung plugin reaches it.
const CNITOOL_TIMEOUT_MS = 60_000;
const IFNAME = 'eth0';
// cnitool v1.3.0 always caches results here (it ignores CNI_CACHE_DIR); the
// unique bench network names keep our entries apart from anyone else's.
const LIBCNI_CACHE = '/var/lib/cni/results';

export type Op = 'add' | 'del';

export type Session = {
  cnitool: string;
  tmp: string;
  // Every netns name starts with it, so leftovers are recognisable as ours.
  netnsPrefix: string;
  plugins: Plugin[];
  netns: Set<string>;
  attached: Map<string, Plugin>;
};

export function createSession(cnitool: string, tmp: string, plugins: Plugin[]): Session {
  for (const plugin of plugins) {
    if (plugin.bridge && linkExists(plugin.bridge)) {
      throw new Error(`bridge ${plugin.bridge} already exists: the benchmark creates and deletes it, so it will not run over one it did not make; if an earlier run left it, remove it with \`ip link delete ${plugin.bridge}\``);
    }
  }
  return { cnitool, tmp, netnsPrefix: `bcni-${process.pid}-`, plugins, netns: new Set(), attached: new Map() };
}

export function newNetns(session: Session, suffix: string): string {
  const name = session.netnsPrefix + suffix;
  addNetns(name);
  session.netns.add(name);
  return name;
}

export function removeNetns(session: Session, name: string): void {
  deleteNetns(name);
  session.netns.delete(name);
}

function options(plugin: Plugin): RunOptions {
  return {
    env: childEnv({ NETCONFPATH: plugin.netconfDir, CNI_PATH: plugin.cniPath.join(':'), CNI_IFNAME: IFNAME }),
    timeoutMs: CNITOOL_TIMEOUT_MS,
  };
}

function args(op: Op, plugin: Plugin, netns: string): string[] {
  return [op, plugin.network, netnsPath(netns)];
}

// The addresses an ADD reported (result "ips"), in CIDR form.
function addressesOf(stdout: string): string[] {
  const result = JSON.parse(stdout) as { ips?: { address?: unknown }[] };
  return (result.ips ?? []).map((ip) => String(ip.address));
}

// Checks one cnitool run and keeps the attachment bookkeeping; returns the
// ADD's addresses (none for DEL), or why the operation failed.
function settle(session: Session, op: Op, plugin: Plugin, netns: string, r: RunResult): { addresses: string[] } | { failure: string } {
  const failure = failureOf(r);
  if (failure) return { failure: `${plugin.name} ${op.toUpperCase()}: ${failure}` };
  if (op === 'del') {
    session.attached.delete(netns);
    return { addresses: [] };
  }
  session.attached.set(netns, plugin);
  let addresses: string[];
  try {
    addresses = addressesOf(r.stdout);
  } catch (e) {
    return { failure: `${plugin.name} ADD in ${netns} printed a result that is not JSON (${(e as Error).message}): ${r.stdout}` };
  }
  if (plugin.assignsAddresses && addresses.length === 0) {
    return { failure: `${plugin.name} ADD in ${netns} succeeded but its result has no "ips": ${r.stdout}` };
  }
  return { addresses };
}

// One timed cnitool operation; throws if it failed, since a benchmark with a
// failed operation is not a result.
export function cnitool(session: Session, op: Op, plugin: Plugin, netns: string): { ms: number; addresses: string[] } {
  const r = runTimed(session.cnitool, args(op, plugin, netns), options(plugin));
  const outcome = settle(session, op, plugin, netns, r);
  if ('failure' in outcome) throw new Error(outcome.failure);
  return { ms: r.ms, addresses: outcome.addresses };
}

// The same operation on every netns at once; throws listing every failure
// (after recording the ADDs that did succeed, so clean-up undoes them).
export async function cnitoolConcurrently(session: Session, op: Op, plugin: Plugin, netnsNames: string[]): Promise<{ wallMs: number; addresses: string[] }> {
  const { wallMs, results } = await runConcurrently(session.cnitool, netnsNames.map((netns) => args(op, plugin, netns)), options(plugin));
  const failures: string[] = [];
  const addresses: string[] = [];
  results.forEach((r, i) => {
    const outcome = settle(session, op, plugin, netnsNames[i]!, r);
    if ('failure' in outcome) failures.push(outcome.failure);
    else addresses.push(...outcome.addresses);
  });
  if (failures.length > 0) {
    throw new Error(`${failures.length} of ${netnsNames.length} concurrent ${plugin.name} ${op.toUpperCase()}s failed:\n  ${failures.join('\n  ')}`);
  }
  return { wallMs, addresses };
}

// libcni's cache entry for an attachment: cnitool names the container after a
// hash of the netns path.
function cacheFile(plugin: Plugin, netns: string): string {
  const containerId = `cnitool-${createHash('sha512').update(netnsPath(netns)).digest('hex').slice(0, 20)}`;
  return join(LIBCNI_CACHE, `${plugin.network}-${containerId}-${IFNAME}`);
}

// Undoes everything the session made, best effort: each step runs even if an
// earlier one failed. Returns what could not be removed, with the command to
// remove it by hand.
export function cleanUp(session: Session): string[] {
  const problems: string[] = [];
  const attempt = (what: string, step: () => void): void => {
    try {
      step();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  // DEL first, while the netns still exists, so plugins undo their own host-side state.
  for (const [netns, plugin] of [...session.attached]) {
    attempt(`${plugin.name} DEL for ${netns}`, () => cnitool(session, 'del', plugin, netns));
  }
  for (const plugin of session.plugins) {
    for (const netns of session.netns) {
      rmSync(cacheFile(plugin, netns), { force: true });
    }
  }
  for (const netns of [...session.netns]) {
    attempt(`netns ${netns} (ip netns delete ${netns})`, () => removeNetns(session, netns));
  }
  for (const plugin of session.plugins) {
    const bridge = plugin.bridge;
    if (bridge && linkExists(bridge)) attempt(`bridge ${bridge} (ip link delete ${bridge})`, () => deleteLink(bridge));
  }
  attempt(`temp dir ${session.tmp} (rm -rf ${session.tmp})`, () => rmSync(session.tmp, { recursive: true, force: true }));
  return problems;
}
