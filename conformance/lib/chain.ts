// The runtime side of SPEC.md section 3, done by executing plugins directly:
// for verbs cnitool cannot express (GC with valid attachments, STATUS at any
// version), for raw plugin output, and for DEL/CHECK with chosen parameters.
import { readOneObject } from './json.ts';
import type { PluginConf } from './network-config.ts';
import { type CniVariables, execPlugin } from './plugin-exec.ts';
import { pluginRequest } from './plugin-request.ts';
import { type Completed, describeFailure } from './process.ts';
import type { Suite } from './suite.ts';
import { compareVersions } from './versions.ts';

export type Attachment = { containerId: string; netns: string; ifname: string };

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

/** DEL through every plugin in reverse order; prevResult is passed from 0.4.0 on, as libcni does. */
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

export function invoke(suite: Suite, type: string, variables: CniVariables, request: unknown): Promise<Completed> {
  const binary = suite.binaries.get(type);
  if (!binary) throw new Error(`plugin ${type} was not located on the CNI path before the run`);
  return execPlugin(binary, variables, typeof request === 'string' ? request : JSON.stringify(request), suite.exec);
}

export function attachmentVariables(suite: Suite, command: string, attachment: Attachment): CniVariables {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: attachment.containerId,
    CNI_NETNS: attachment.netns,
    CNI_IFNAME: attachment.ifname,
    CNI_PATH: suite.cniPath.join(':'),
  };
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
