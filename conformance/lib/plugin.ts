// Runs plugins the two ways a runtime does: executing each binary of the
// chain directly (CNI_* variables in the environment, the request on stdin),
// and through libcni's own front end, cnitool. Direct execution covers what
// cnitool cannot express: GC with valid attachments, STATUS at any version,
// raw plugin output, and DEL or CHECK with chosen parameters.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertMayStart, defer } from './cleanup.ts';
import { distinctPlugins, type NetworkConfig, type PluginConf } from './conf.ts';
import { compareVersions, isVersion, readOneObject } from './spec.ts';
import type { Suite } from './suite.ts';

export type Completed = {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set to the limit when the process was killed for exceeding it. */
  timedOutAfterMs?: number;
  elapsedMs: number;
  stdout: string;
  stderr: string;
};

type RunOptions = { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number };

// Far above any sane plugin call; only there so a hung plugin cannot hang the suite.
const TIMEOUT_MS = 30_000;
// Every plugin, cnitool and iproute2 call is tracked, so that an interrupt can
// wait for the calls still in flight before it undoes what they created.
const inFlight = new Set<Promise<Completed>>();

/** Resolves for any exit status; rejects when the program cannot be started, or may not during shutdown. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<Completed> {
  const completion = new Promise<Completed>((resolve, reject) => {
    const cannotRun = (err: Error) => reject(new Error(`cannot run ${file}: ${err.message}; check that it exists and is executable`));
    assertMayStart(`${file} ${args.join(' ')}`);
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      // ETXTBSY and friends are thrown rather than emitted.
      return cannotRun(err as Error);
    }
    let stdout = '';
    let stderr = '';
    const limit = options.timeoutMs ?? TIMEOUT_MS;
    let timedOutAfterMs: number | undefined;
    const started = performance.now();
    const timer = setTimeout(() => {
      timedOutAfterMs = limit;
      child.kill('SIGKILL');
    }, limit);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => {
      clearTimeout(timer);
      cannotRun(err);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, timedOutAfterMs, elapsedMs: performance.now() - started, stdout, stderr });
    });
    // A program may exit without reading its stdin; the write then fails with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
  inFlight.add(completion);
  const forget = () => inFlight.delete(completion);
  completion.then(forget, forget);
  return completion;
}

/** Waits until every process started so far has exited. */
export async function settleInFlight(): Promise<void> {
  await Promise.allSettled([...inFlight]);
}

export function describeExit(completed: Completed): string {
  if (completed.timedOutAfterMs !== undefined) return `was killed after ${completed.timedOutAfterMs / 1000} s`;
  if (completed.signal) return `was killed by ${completed.signal}`;
  return `exited with status ${completed.exitCode}`;
}

/** "<what> exited with status 1 (stdout: …; stderr: …)" for a failure reason. */
export function describeFailure(what: string, completed: Completed): string {
  const parts: string[] = [];
  const stdout = completed.stdout.trim();
  const stderr = completed.stderr.trim();
  if (stdout) parts.push(`stdout: ${shorten(stdout)}`);
  if (stderr) parts.push(`stderr: ${shorten(stderr)}`);
  return `${what} ${describeExit(completed)} (${parts.length > 0 ? parts.join('; ') : 'no output'})`;
}

/** One line of at most 300 characters. */
export function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}

/** CNI_* variables to set; a variable left out is unset in the plugin's environment. */
export type CniVariables = Partial<Record<'CNI_COMMAND' | 'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME' | 'CNI_ARGS' | 'CNI_PATH', string>>;

/** Where and how long a plugin runs; by default in the suite's own namespace and directory, with the suite's time limit. */
export type ExecContext = {
  /** A named network namespace that stands in for the host. */
  netns?: string;
  cwd?: string;
  timeoutMs?: number;
};

/** The first executable named `type` on the CNI path. */
export function findPlugin(type: string, cniPath: readonly string[]): string {
  for (const dir of cniPath) {
    const candidate = join(dir, type);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`plugin "${type}" is not an executable in --cni-path ${cniPath.join(':')}; add the directory that holds it`);
}

function execPlugin(binary: string, variables: CniVariables, stdin: string, context: ExecContext = {}): Promise<Completed> {
  const options = { env: pluginEnvironment(variables), input: stdin, cwd: context.cwd, timeoutMs: context.timeoutMs };
  // `ip netns exec` also mounts the namespace's own /sys, which plugins read links from.
  return context.netns ? run('ip', ['netns', 'exec', context.netns, binary], options) : run(binary, [], options);
}

/** The suite's own environment minus anything CNI-related it may have inherited, plus `variables`. */
function pluginEnvironment(variables: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CNI_') && key !== 'NETCONFPATH' && key !== 'CAP_ARGS') env[key] = value;
  }
  for (const [key, value] of Object.entries(variables)) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** Runs the plugin of type `type` as `suite` places it; a string `request` is sent as it is, anything else as JSON. */
export function invoke(suite: Suite, type: string, variables: CniVariables, request: unknown): Promise<Completed> {
  const binary = suite.binaries.get(type);
  if (!binary) throw new Error(`plugin ${type} was not located on the CNI path before the run`);
  return execPlugin(binary, variables, typeof request === 'string' ? request : JSON.stringify(request), suite.exec);
}

type RequestOptions = {
  cniVersion: string;
  /** The previous plugin's result on ADD, the final ADD result on CHECK and DEL. */
  prevResult?: unknown;
  /** Keys the verb adds, e.g. cni.dev/valid-attachments for GC. */
  extra?: Record<string, unknown>;
};

/** SPEC.md "Deriving request configuration from plugin configuration", the way libcni builds it. */
export function pluginRequest(net: NetworkConfig, plugin: PluginConf, options: RequestOptions): Record<string, unknown> {
  // The spec says `capabilities` must not be set in the request; libcni
  // leaves it in, but no plugin may depend on it either way. Capability
  // arguments (runtimeConfig) are only ever offered through cnitool.
  const { capabilities: _, ...rest } = plugin;
  const request: Record<string, unknown> = { ...rest, cniVersion: options.cniVersion, name: net.name };
  if (options.prevResult !== undefined) request.prevResult = options.prevResult;
  return { ...request, ...options.extra };
}

export type Attachment = { containerId: string; netns: string; ifname: string };

export function attachmentVariables(suite: Suite, command: string, attachment: Attachment): CniVariables {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: attachment.containerId,
    CNI_NETNS: attachment.netns,
    CNI_IFNAME: attachment.ifname,
    CNI_PATH: suite.cniPath.join(':'),
  };
}

/** Which plugin invocation failed, its output, and why that counts as failure. */
export type PluginFailure = { type: string; completed: Completed; reason: string };

/** `result` is the final plugin's; `steps` holds every plugin's own result, in order. */
export type ChainAdd =
  | { ok: true; result: Record<string, unknown>; steps: { type: string; result: Record<string, unknown> }[] }
  | { ok: false; failure: PluginFailure };
export type ChainRun = { ok: true; outputs: Completed[] } | { ok: false; failure: PluginFailure };

/** ADD through every plugin in order, each getting the previous one's result. */
export async function addChain(suite: Suite, attachment: Attachment, cniVersion: string): Promise<ChainAdd> {
  const steps: { type: string; result: Record<string, unknown> }[] = [];
  for (const plugin of suite.net.plugins) {
    const prevResult = steps.at(-1)?.result;
    const request = pluginRequest(suite.net, plugin, { cniVersion, prevResult });
    const completed = await invoke(suite, plugin.type, attachmentVariables(suite, 'ADD', attachment), request);
    if (completed.exitCode !== 0) return { ok: false, failure: failed(plugin.type, 'ADD', completed) };
    const parsed = readOneObject(completed.stdout);
    if ('problem' in parsed) {
      return { ok: false, failure: { type: plugin.type, completed, reason: `${plugin.type} ADD succeeded but its ${parsed.problem}` } };
    }
    steps.push({ type: plugin.type, result: parsed.value });
  }
  const last = steps.at(-1);
  if (!last) throw new Error('the conf lists no plugins');
  return { ok: true, result: last.result, steps };
}

/** CHECK through every plugin in order, stopping at the first error. */
export function checkChain(suite: Suite, attachment: Attachment, cniVersion: string, prevResult: unknown): Promise<ChainRun> {
  return runEach(suite, 'CHECK', suite.net.plugins, attachmentVariables(suite, 'CHECK', attachment), (plugin) =>
    pluginRequest(suite.net, plugin, { cniVersion, prevResult }),
  );
}

/** DEL through every plugin in reverse order. */
export function delChain(suite: Suite, attachment: Attachment, cniVersion: string, prevResult?: unknown): Promise<ChainRun> {
  const passed = prevResultForDel(cniVersion, prevResult);
  return runEach(suite, 'DEL', [...suite.net.plugins].reverse(), attachmentVariables(suite, 'DEL', attachment), (plugin) =>
    pluginRequest(suite.net, plugin, { cniVersion, prevResult: passed }),
  );
}

/** What DEL carries as prevResult at `cniVersion`: the ADD result from 0.4.0 on, as libcni does. */
export function prevResultForDel(cniVersion: string, prevResult: unknown): unknown {
  return compareVersions(cniVersion, '0.4.0') >= 0 ? prevResult : undefined;
}

/** STATUS to every plugin, stopping at the first that is not ready. */
export function statusChain(suite: Suite, cniVersion: string): Promise<ChainRun> {
  return runEach(suite, 'STATUS', suite.net.plugins, { CNI_COMMAND: 'STATUS', CNI_PATH: suite.cniPath.join(':') }, (plugin) =>
    pluginRequest(suite.net, plugin, { cniVersion }),
  );
}

/**
 * GC to every plugin. The spec has the runtime carry on past a failing plugin,
 * but the suite stops: one failure already decides the check.
 */
export function gcChain(suite: Suite, cniVersion: string, valid: readonly Attachment[]): Promise<ChainRun> {
  const validAttachments = valid.map((a) => ({ containerID: a.containerId, ifname: a.ifname }));
  // libcni also sends the key under the name an earlier spec draft used
  // (containernetworking/cni#1101); the suite does the same so plugins
  // written against either name see their list.
  const extra = { 'cni.dev/valid-attachments': validAttachments, 'cni.dev/attachments': validAttachments };
  return runEach(suite, 'GC', suite.net.plugins, { CNI_COMMAND: 'GC', CNI_PATH: suite.cniPath.join(':') }, (plugin) =>
    pluginRequest(suite.net, plugin, { cniVersion, extra }),
  );
}

async function runEach(
  suite: Suite,
  command: string,
  plugins: readonly PluginConf[],
  variables: CniVariables,
  requestFor: (plugin: PluginConf) => unknown,
): Promise<ChainRun> {
  const outputs: Completed[] = [];
  for (const plugin of plugins) {
    const completed = await invoke(suite, plugin.type, variables, requestFor(plugin));
    if (completed.exitCode !== 0) return { ok: false, failure: failed(plugin.type, command, completed) };
    outputs.push(completed);
  }
  return { ok: true, outputs };
}

function failed(type: string, command: string, completed: Completed): PluginFailure {
  return { type, completed, reason: describeFailure(`${type} ${command}`, completed) };
}

/** What a plugin declared; `supported` is empty when its answer was unusable, `reply` absent when it was not JSON. */
export type VersionAnswer = { supported: string[]; problems: string[]; reply?: Record<string, unknown> };

/** Each plugin type's answer to VERSION, which gates the checks that need a particular version. */
export async function askVersions(net: NetworkConfig, binaries: Map<string, string>): Promise<Map<string, VersionAnswer>> {
  const answers = new Map<string, VersionAnswer>();
  for (const { type } of distinctPlugins(net)) {
    const binary = binaries.get(type);
    if (!binary) throw new Error(`plugin ${type} was not located on the CNI path`);
    // SPEC.md: VERSION needs only CNI_COMMAND, and reads {"cniVersion"} on stdin.
    const completed = await execPlugin(binary, { CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion: net.cniVersion }));
    answers.set(type, readVersionAnswer(completed, net.cniVersion));
  }
  return answers;
}

function readVersionAnswer(completed: Completed, asked: string): VersionAnswer {
  if (completed.exitCode !== 0) {
    return { supported: [], problems: [describeFailure('VERSION', completed)] };
  }
  const parsed = readOneObject(completed.stdout);
  if ('problem' in parsed) return { supported: [], problems: [`VERSION succeeded but its ${parsed.problem}`] };
  const problems: string[] = [];
  const { supportedVersions } = parsed.value;
  const supported = Array.isArray(supportedVersions) ? supportedVersions.filter((v): v is string => typeof v === 'string' && isVersion(v)) : [];
  if (!Array.isArray(supportedVersions) || supportedVersions.length === 0) {
    problems.push('supportedVersions is missing or empty; list the spec versions the plugin implements');
  } else if (supported.length !== supportedVersions.length) {
    problems.push(`supportedVersions ${JSON.stringify(supportedVersions)} holds entries that are not versions like "1.1.0"`);
  }
  if (supported.length > 0 && !supported.includes(asked)) {
    problems.push(`supportedVersions [${supported.join(', ')}] lacks the conf's cniVersion ${asked}; use one the plugin supports`);
  }
  return { supported, problems, reply: parsed.value };
}

// cnitool loads the conf from a directory by network name, caches results
// for CHECK and DEL, and converts results between versions, as a runtime's
// libcni does.
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
