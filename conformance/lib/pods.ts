// A pod is a fresh network namespace attached to the network under test.
// Its DEL is registered for cleanup before its ADD starts, because the spec
// has the runtime DEL even after a failed ADD.
import { rmSync } from 'node:fs';
import { type Attachment, type ChainAdd, type ChainRun, addChain, delChain } from './chain.ts';
import { defer } from './cleanup.ts';
import { cachedResultFile, cnitool, cnitoolContainerId } from './cnitool.ts';
import { noteHostInterfaces } from './host-links.ts';
import { readOneObject } from './json.ts';
import { type Netns, createNetns } from './netns.ts';
import { type Completed, describeFailure } from './process.ts';
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
