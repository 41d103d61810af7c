// A network namespace that stands in for the host while plugins get hostile
// input. Comparing a namespace of its own before and after each call sees
// exactly what the plugin did, undisturbed by anything else on the machine,
// and whatever the plugin leaves there goes with the namespace. A plugin that
// acts through a daemon in the real host is judged by its replies, the pod's
// namespace and the IPAM data only.
import { createNetns, deleteNetns, type Netns } from './netns.ts';
import { setChanges, snapshotNet } from './net-snapshot.ts';
import { addPodDirectly, createPod, delPodDirectly } from './pods.ts';
import type { Suite } from './suite.ts';

/** `steady`: the sandbox as it is between pods, the state every hostile call must leave it in. */
export type Sandbox = { netns: Netns; steady: Set<string> };

/**
 * A fresh stand-in host in which the conf's chain has ADDed and DELeted one
 * valid pod, so it already holds what plugins keep between pods (a bridge
 * and its address, say); or why that failed.
 */
export async function prepareSandbox(suite: Suite): Promise<Sandbox | string> {
  const netns = await createNetns('-host');
  const inSandbox = sandboxed(suite, netns);
  const pod = await createPod(inSandbox);
  const added = await addPodDirectly(inSandbox, pod, suite.net.cniVersion);
  if (!added.ok) return `a valid ADD with the namespace ${netns.name} standing in for the host failed: ${added.failure.reason}`;
  const deleted = await delPodDirectly(inSandbox, pod, suite.net.cniVersion, added.result);
  if (!deleted.ok) return `a valid DEL with the namespace ${netns.name} standing in for the host failed: ${deleted.failure.reason}`;
  await deleteNetns(pod.netns);
  return { netns, steady: await snapshotNet(netns) };
}

/** The same sandbox when it is still in its steady state, else a fresh one. */
export async function restoreSandbox(suite: Suite, sandbox: Sandbox): Promise<Sandbox | string> {
  if (setChanges(sandbox.steady, await snapshotNet(sandbox.netns)).length === 0) return sandbox;
  await deleteNetns(sandbox.netns);
  return prepareSandbox(suite);
}

/** `suite` with its plugins executed inside `netns`. */
export function sandboxed(suite: Suite, netns: Netns): Suite {
  return { ...suite, exec: { ...suite.exec, netns: netns.name } };
}
