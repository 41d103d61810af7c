// cnitool re-encodes results through libcni's types, which would hide shape
// mistakes (a stray ips[].version, say), and so does each chained plugin with
// its predecessor's. Here the plugins run directly at each spec version up to
// the conf's, and every plugin's own output is checked.
import { addPodDirectly, createPod, delPodDirectly } from '../lib/pods.ts';
import type { Check } from '../lib/report.ts';
import { inspectAddResult } from '../lib/result-shape.ts';
import { type Suite, versionGate } from '../lib/suite.ts';
import { RESULT_VERSIONS, compareVersions } from '../lib/versions.ts';

export async function checkRawResults(suite: Suite): Promise<void> {
  for (const cniVersion of RESULT_VERSIONS) {
    if (compareVersions(cniVersion, suite.net.cniVersion) > 0) continue;
    const check: Check = {
      id: `add.raw-v${cniVersion}`,
      title: `ADD at cniVersion ${cniVersion}, run directly, prints one valid ${cniVersion} result; DEL succeeds`,
    };
    if (suite.report.closed([check], versionGate(suite, cniVersion))) continue;
    const pod = await createPod(suite);
    const added = await addPodDirectly(suite, pod, cniVersion);
    if (!added.ok) {
      suite.report.fail(check, added.failure.reason);
      continue;
    }
    // Every plugin of a chain prints a full result, not just the last.
    const problems = added.steps.flatMap(({ type, result }) =>
      inspectAddResult(result, { cniVersion, netns: pod.netns.path, ifname: suite.ifname }).problems.map((p) => `${type}: ${p}`),
    );
    const deleted = await delPodDirectly(suite, pod, cniVersion, added.result);
    if (!deleted.ok) problems.push(deleted.failure.reason);
    suite.report.verdict(check, problems);
  }
}
