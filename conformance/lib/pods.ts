// Pods as a runtime makes them: a fresh network namespace attached to the
// network under test, through cnitool or by running the chain directly; and
// ADDs broken on purpose, sent straight to one plugin. Every DEL is
// registered for cleanup before its ADD starts, because the spec has the
// runtime DEL even after a failed ADD.
import { rmSync } from 'node:fs';
import { defer } from './cleanup.ts';
import type { NetworkConfig, PluginConf } from './conf.ts';
import { createNetns, type Netns, noteHostInterfaces } from './host.ts';
import {
  type Attachment,
  addChain,
  attachmentVariables,
  type ChainAdd,
  type ChainRun,
  type CniVariables,
  type Completed,
  cachedResultFile,
  cnitool,
  cnitoolContainerId,
  delChain,
  describeFailure,
  invoke,
  pluginRequest,
} from './plugin.ts';
import { type AddResultView, type CniErrorObject, describeError, inspectAddResult, isObject, readErrorOutput, readOneObject } from './spec.ts';
import type { Suite } from './suite.ts';

export type Pod = {
  netns: Netns;
  attachment: Attachment;
  /** Drops the pending cleanup DEL once a DEL has succeeded. */
  forgetDel: () => void;
};

export type PodAdd = { ok: true; result: Record<string, unknown> } | { ok: false; reason: string };

/** A pod whose container ID is the one cnitool derives from its netns path. */
export async function createPod(suite: Suite): Promise<Pod> {
  const netns = await createNetns();
  const containerId = cnitoolContainerId(netns.path);
  return { netns, attachment: { containerId, netns: netns.path, ifname: suite.ifname }, forgetDel: () => {} };
}

/** ADD through cnitool; capability arguments go in as CAP_ARGS. */
export async function addPod(suite: Suite, pod: Pod, capabilityArgs?: Record<string, unknown>): Promise<PodAdd> {
  const cacheFile = cachedResultFile(suite.cnitool, pod.netns.path);
  pod.forgetDel = defer(`DEL ${pod.attachment.containerId} through cnitool`, async () => {
    const completed = await cnitool(suite.cnitool, 'del', pod.netns.path);
    rmSync(cacheFile, { force: true });
    if (completed.exitCode !== 0) throw new Error(`${describeFailure('cnitool del', completed)}; the plugin may have left host state behind`);
  });
  const completed = await cnitool(suite.cnitool, 'add', pod.netns.path, capabilityArgs);
  if (completed.exitCode !== 0) return { ok: false, reason: describeFailure('cnitool add', completed) };
  const parsed = readOneObject(completed.stdout);
  if ('problem' in parsed) return { ok: false, reason: `cnitool add succeeded but its ${parsed.problem}` };
  noteHostInterfaces(parsed.value);
  return { ok: true, result: parsed.value };
}

export async function addNewPod(suite: Suite, capabilityArgs?: Record<string, unknown>): Promise<{ pod: Pod; added: PodAdd }> {
  const pod = await createPod(suite);
  return { pod, added: await addPod(suite, pod, capabilityArgs) };
}

/** DEL through cnitool; on success the cleanup DEL is no longer needed. */
export async function delPod(suite: Suite, pod: Pod): Promise<Completed> {
  const completed = await cnitool(suite.cnitool, 'del', pod.netns.path);
  if (completed.exitCode === 0) pod.forgetDel();
  return completed;
}

/** ADD by executing the plugins directly at `cniVersion`, to see their raw output. */
export async function addPodDirectly(suite: Suite, pod: Pod, cniVersion: string): Promise<ChainAdd> {
  let prevResult: unknown;
  pod.forgetDel = defer(`DEL ${pod.attachment.containerId} at ${cniVersion}`, async () => {
    const outcome = await delChain(suite, pod.attachment, cniVersion, prevResult);
    if (!outcome.ok) throw new Error(`${outcome.failure.reason}; the plugin may have left host state behind`);
  });
  const outcome = await addChain(suite, pod.attachment, cniVersion);
  if (outcome.ok) {
    prevResult = outcome.result;
    for (const step of outcome.steps) noteHostInterfaces(step.result);
  }
  return outcome;
}

/** DEL by executing the plugins directly; on success the cleanup DEL is no longer needed. */
export async function delPodDirectly(suite: Suite, pod: Pod, cniVersion: string, prevResult?: unknown): Promise<ChainRun> {
  const outcome = await delChain(suite, pod.attachment, cniVersion, prevResult);
  if (outcome.ok) pod.forgetDel();
  return outcome;
}

/** The pod's ADD result held to the spec of the version it was asked in. */
export function inspectPodResult(
  suite: Suite,
  pod: Pod,
  result: Record<string, unknown>,
  cniVersion = suite.net.cniVersion,
): { view?: AddResultView; problems: string[] } {
  return inspectAddResult(result, { cniVersion, netns: pod.netns.path, ifname: suite.ifname });
}

/** The first address a pod's result gives its interface; undefined when the result is unusable or gives none. */
export function podAddress(suite: Suite, pod: Pod, result: Record<string, unknown>): string | undefined {
  return inspectPodResult(suite, pod, result).view?.containerIps[0]?.text;
}

/**
 * Black-box proof that addresses are free: ask for them. CONVENTIONS.md
 * defines the `ips` capability for requesting specific addresses; the suite
 * relies on it only when the conf declares it for some plugin. Undefined
 * when no plugin does.
 */
export function requestAddresses(net: NetworkConfig, addresses: readonly string[]): Record<string, unknown> | undefined {
  const declared = net.plugins.some((plugin) => isObject(plugin.capabilities) && plugin.capabilities.ips === true);
  return declared ? { ips: addresses } : undefined;
}

/** One more pod, ADDed and DELeted again at once. */
export async function probeAdd(suite: Suite, capabilityArgs?: Record<string, unknown>): Promise<{ pod: Pod; added: PodAdd }> {
  const probe = await addNewPod(suite, capabilityArgs);
  await delPod(suite, probe.pod);
  return probe;
}

/**
 * Black-box proof that addresses were freed, for any allocator: when the pool
 * is full, an ADD can only succeed if something was given back. The suite
 * learns whether it is full the only way a runtime could, by trying one more
 * ADD.
 */
export async function poolIsFull(suite: Suite): Promise<boolean> {
  return !(await probeAdd(suite)).added.ok;
}

/** ADDs up to `count` pods at once; those whose ADD failed are DELeted, as the spec has runtimes do, and not returned. */
export async function fillPool(suite: Suite, count: number): Promise<{ holders: Pod[]; full: boolean }> {
  const pods = await Promise.all(Array.from({ length: count }, () => createPod(suite)));
  const added = await Promise.all(pods.map(async (pod) => ({ pod, ok: (await addPod(suite, pod)).ok })));
  const rejected = added.filter((a) => !a.ok).map((a) => a.pod);
  await Promise.all(rejected.map((pod) => delPod(suite, pod)));
  return { holders: added.filter((a) => a.ok).map((a) => a.pod), full: rejected.length > 0 || (await poolIsFull(suite)) };
}

/** How an ADD is broken: the valid variables or request in, the ones to send out. */
export type Breakage = {
  variables?: (valid: CniVariables) => CniVariables;
  stdin?: (valid: Record<string, unknown>) => string;
};

/** One CNI_* variable replaced by what `value` makes of the valid one; undefined unsets it. */
export function breakVariable(name: keyof CniVariables, value: (valid: string | undefined) => string | undefined): Breakage {
  return { variables: (valid) => ({ ...valid, [name]: value(valid[name]) }) };
}

/** The request replaced by `edit` of the valid one. */
export function breakRequest(edit: (valid: Record<string, unknown>) => Record<string, unknown>): Breakage {
  return { stdin: (valid) => JSON.stringify(edit(valid)) };
}

export function brokenStdin(breakage: Breakage, request: Record<string, unknown>): string {
  return breakage.stdin ? breakage.stdin(request) : JSON.stringify(request);
}

/** One broken ADD, ready to send: `request` is the valid request the breakage started from. */
export type BrokenAdd = {
  plugin: PluginConf;
  attachment: Attachment;
  variables: CniVariables;
  request: Record<string, unknown>;
  stdin: string;
};

export type BrokenAddOutcome = { completed: Completed; error?: CniErrorObject; problems: string[] };

let brokenAddsSent = 0;

/** A fresh attachment in `netns` for the conf's plugin at `pluginIndex`, with the breakage applied. */
export function prepareBrokenAdd(suite: Suite, netns: Netns, pluginIndex: number, breakage: Breakage): BrokenAdd {
  const plugin = suite.net.plugins[pluginIndex];
  if (!plugin) throw new Error(`the conf has no plugin at index ${pluginIndex}`);
  const attachment: Attachment = { containerId: `cft-${process.pid}-broken-${++brokenAddsSent}`, netns: netns.path, ifname: suite.ifname };
  const valid = attachmentVariables(suite, 'ADD', attachment);
  const request = pluginRequest(suite.net, plugin, { cniVersion: suite.net.cniVersion });
  return {
    plugin,
    attachment,
    variables: breakage.variables ? breakage.variables(valid) : valid,
    request,
    stdin: brokenStdin(breakage, request),
  };
}

/** Runs the broken ADD and judges the reply against the error codes the spec allows for it; should the plugin accept it anyway, it is DELeted like any other. */
export async function sendBrokenAdd(
  suite: Suite,
  netns: Netns,
  pluginIndex: number,
  breakage: Breakage,
  allowedCodes: readonly number[],
): Promise<BrokenAddOutcome> {
  const { plugin, attachment, variables, request, stdin } = prepareBrokenAdd(suite, netns, pluginIndex, breakage);
  const forget = defer(`DEL the wrongly accepted ${attachment.containerId}`, async () => {
    await invoke(suite, plugin.type, { ...variables, CNI_COMMAND: 'DEL' }, request);
  });
  const completed = await invoke(suite, plugin.type, variables, stdin);
  if (completed.exitCode !== 0) forget();

  const { error, problems } = readErrorOutput(completed);
  const judged = problems.map((p) => `${plugin.type}: ${p}`);
  if (error && !allowedCodes.includes(error.code)) {
    judged.push(`${plugin.type} answered ${describeError(error)}; the spec's code here is ${allowedCodes.join(' or ')}`);
  }
  return { completed, error, problems: judged };
}
