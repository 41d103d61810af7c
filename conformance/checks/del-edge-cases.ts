// DEL when the runtime has less to give than at ADD: the netns already gone,
// or CNI_NETNS empty. SPEC.md: "When CNI_NETNS and/or prevResult are not
// provided, the plugin should clean up as many resources as possible ... and
// return a successful response."
import { delChain } from '../lib/chain.ts';
import { deleteNetns } from '../lib/netns.ts';
import { addPod, createPod, delPod } from '../lib/pods.ts';
import { describeFailure } from '../lib/process.ts';
import type { Check } from '../lib/report.ts';
import type { Suite } from '../lib/suite.ts';

const NETNS_GONE: Check = { id: 'del.netns-gone', title: 'DEL succeeds after the pod\'s netns was deleted' };
const EMPTY_NETNS: Check = { id: 'del.empty-netns', title: 'DEL with an empty CNI_NETNS succeeds' };

export async function checkDelEdgeCases(suite: Suite): Promise<void> {
  await checkNetnsGone(suite);
  await checkEmptyNetns(suite);
}

async function checkNetnsGone(suite: Suite): Promise<void> {
  const pod = await createPod(suite);
  const added = await addPod(suite, pod);
  if (!added.ok) {
    suite.report.fail(NETNS_GONE, `not reached: ${added.reason}`);
    return;
  }
  await deleteNetns(pod.netns);
  const deleted = await delPod(suite, pod);
  suite.report.verdict(NETNS_GONE, deleted.exitCode === 0 ? [] : [describeFailure(`cnitool del with the deleted ${pod.netns.path}`, deleted)]);
}

async function checkEmptyNetns(suite: Suite): Promise<void> {
  const pod = await createPod(suite);
  const added = await addPod(suite, pod);
  if (!added.ok) {
    suite.report.fail(EMPTY_NETNS, `not reached: ${added.reason}`);
    return;
  }
  const deleted = await delChain(suite, { ...pod.attachment, netns: '' }, suite.net.cniVersion, added.result);
  const problems = deleted.ok ? [] : [deleted.failure.reason];
  // The interface the plugin could not reach stays until a full DEL, which must then succeed too.
  const full = await delPod(suite, pod);
  if (full.exitCode !== 0) problems.push(describeFailure('a later cnitool del with the netns', full));
  suite.report.verdict(EMPTY_NETNS, problems);
}
