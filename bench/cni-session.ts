// One benchmark run's footprint on the host: every netns it makes and every
// attachment (ADD not yet undone by DEL) is a step on the run's teardown
// stack until the run undoes it itself, so a failed or interrupted run
// undoes exactly what it did and nothing else.
import { readFileSync } from 'node:fs';
import { cnitoolCommand, forgetCnitoolResults } from '../testbed/cnitool.ts';
import { addNetns, linkExists, netnsPath, removeLink, removeNetns } from '../testbed/netns.ts';
import type { Teardown } from '../testbed/teardown.ts';
import type { Plugin } from './cni-plugins.ts';
import { failureOf, type RunOptions, type RunResult, runConcurrently, runTimed } from './lib/run.ts';

// Far above any sane ADD (tens of ms): only a hung plugin reaches it.
const CNITOOL_TIMEOUT_MS = 60_000;

export type Op = 'add' | 'del';

export type Session = {
  // Every netns name starts with it, so leftovers are recognisable as ours.
  netnsPrefix: string;
  plugins: Plugin[];
  teardown: Teardown;
  /** Per netns: the step that removes it, dropped when the run removes it. */
  made: Map<string, () => void>;
  /** Per attached netns: the step that DELs it, dropped when the run does. */
  attached: Map<string, () => void>;
};

export async function createSession(plugins: Plugin[], teardown: Teardown): Promise<Session> {
  for (const plugin of plugins) {
    if (plugin.bridge && (await linkExists(plugin.bridge))) {
      throw new Error(
        `bridge ${plugin.bridge} already exists: the benchmark creates and deletes it, so it will not run over one it did not make; if an earlier run left it, remove it with \`ip link delete ${plugin.bridge}\``,
      );
    }
  }
  for (const plugin of plugins) {
    const bridge = plugin.bridge;
    teardown.add(`libcni's results for ${plugin.network} (rm /var/lib/cni/results/${plugin.network}-*)`, () => forgetCnitoolResults(plugin.network));
    if (bridge) teardown.add(`bridge ${bridge} (ip link delete ${bridge})`, () => removeLink(bridge));
  }
  return { netnsPrefix: `bcni-${process.pid}-`, plugins, teardown, made: new Map(), attached: new Map() };
}

export async function newNetns(session: Session, suffix: string): Promise<string> {
  const name = session.netnsPrefix + suffix;
  await addNetns(name);
  session.made.set(
    name,
    session.teardown.add(`netns ${name} (ip netns delete ${name})`, () => removeNetns(name)),
  );
  return name;
}

export async function dropNetns(session: Session, name: string): Promise<void> {
  await removeNetns(name);
  session.made.get(name)?.();
  session.made.delete(name);
}

function command(op: Op, plugin: Plugin, netns: string): { file: string; args: string[]; options: RunOptions } {
  const { file, args, env } = cnitoolCommand({
    verb: op,
    network: plugin.network,
    confDir: plugin.netconfDir,
    pluginDirs: plugin.cniPath,
    netnsPath: netnsPath(netns),
  });
  return { file, args, options: { env, timeoutMs: CNITOOL_TIMEOUT_MS } };
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
    session.attached.get(netns)?.();
    session.attached.delete(netns);
    return { addresses: [] };
  }
  // DEL first, while the netns still exists, so plugins undo their own host-side state.
  session.attached.set(
    netns,
    session.teardown.add(`${plugin.name} DEL for ${netns}`, () => cnitool(session, 'del', plugin, netns)),
  );
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
// failed operation is not a result. cpuMs is cnitool's and the plugin's.
export function cnitool(session: Session, op: Op, plugin: Plugin, netns: string): { ms: number; cpuMs: number; addresses: string[] } {
  const { file, args, options } = command(op, plugin, netns);
  const r = runTimed(file, args, options);
  const outcome = settle(session, op, plugin, netns, r);
  if ('failure' in outcome) throw new Error(outcome.failure);
  return { ms: r.ms, cpuMs: r.cpuMs!, addresses: outcome.addresses };
}

/**
 * One untimed cnitool operation under `strace -f`, for the programs it ran
 * below cnitool: their paths, in the order they were executed.
 */
export function cnitoolTraced(session: Session, op: Op, plugin: Plugin, netns: string, traceFile: string): string[] {
  const { file, args, options } = command(op, plugin, netns);
  const r = runTimed('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', traceFile, file, ...args], options);
  const outcome = settle(session, op, plugin, netns, r);
  if ('failure' in outcome) throw new Error(outcome.failure);
  return executedPrograms(readFileSync(traceFile, 'utf8')).slice(1); // the first is cnitool
}

/**
 * The programs a `strace -f -e trace=execve` log shows executed, in order:
 * the execve calls that returned 0, also when strace split one in two
 * ("<unfinished ...>", then "<... execve resumed>") around another thread's.
 */
export function executedPrograms(log: string): string[] {
  const pending = new Map<string, string>();
  const programs: string[] = [];
  for (const line of log.split('\n')) {
    const call = /^(\d+) +execve\("([^"]*)"/.exec(line);
    if (call) {
      if (line.endsWith('<unfinished ...>')) pending.set(call[1]!, call[2]!);
      else if (line.endsWith(' = 0')) programs.push(call[2]!);
      continue;
    }
    const resumed = /^(\d+) +<\.\.\. execve resumed>.* = 0$/.exec(line);
    const path = resumed && pending.get(resumed[1]!);
    if (path) programs.push(path);
    if (resumed) pending.delete(resumed[1]!);
  }
  return programs;
}

// The same operation on every netns at once; throws listing every failure
// (after recording the ADDs that did succeed, so clean-up undoes them).
export async function cnitoolConcurrently(
  session: Session,
  op: Op,
  plugin: Plugin,
  netnsNames: string[],
): Promise<{ wallMs: number; cpuMs: number; addresses: string[] }> {
  const commands = netnsNames.map((netns) => command(op, plugin, netns));
  const { wallMs, cpuMs, results } = await runConcurrently(
    commands[0]!.file,
    commands.map((c) => c.args),
    commands[0]!.options,
  );
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
  return { wallMs, cpuMs, addresses };
}
