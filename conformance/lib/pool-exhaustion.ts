// Black-box proof that addresses were freed, for any allocator: when the
// pool is full, an ADD can only succeed if something was given back. The
// suite learns whether the pool is full the only way a runtime could, by
// trying one more ADD.
import { type Pod, addPod, createPod, delPod } from './pods.ts';
import type { Suite } from './suite.ts';

/** Whether an extra ADD fails now; the extra pod is DELeted again either way. */
export async function poolIsFull(suite: Suite): Promise<boolean> {
  const extra = await createPod(suite);
  const added = await addPod(suite, extra);
  await delPod(suite, extra);
  return !added.ok;
}

/**
 * ADDs up to `count` pods at once to use up the pool. Pods whose ADD failed
 * are DELeted (as the spec has runtimes do) and not returned.
 */
export async function fillPool(suite: Suite, count: number): Promise<{ holders: Pod[]; full: boolean }> {
  const pods = await Promise.all(Array.from({ length: count }, () => createPod(suite)));
  const added = await Promise.all(pods.map(async (pod) => ({ pod, ok: (await addPod(suite, pod)).ok })));
  const rejected = added.filter((a) => !a.ok).map((a) => a.pod);
  await Promise.all(rejected.map((pod) => delPod(suite, pod)));
  return { holders: added.filter((a) => a.ok).map((a) => a.pod), full: rejected.length > 0 || (await poolIsFull(suite)) };
}
