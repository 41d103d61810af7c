// ADD, CHECK and DEL of single pods: one pod through its whole life as a
// runtime drives it with cnitool; every plugin's raw ADD output at each spec
// version; and DEL when the runtime has less to give than at ADD.
import { deleteNetns, ip, kernelProblems, linkNames, type Netns, pingFrom } from '../lib/host.ts';
import { checkChain, cnitool, delChain, describeExit, describeFailure } from '../lib/plugin.ts';
import { addNewPod, addPodDirectly, createPod, delPod, delPodDirectly, inspectPodResult, type Pod } from '../lib/pods.ts';
import type { Check } from '../lib/report.ts';
import { type AddResultView, compareVersions, describeError, RESULT_VERSIONS, type ResultIp, readErrorOutput } from '../lib/spec.ts';
import { type Suite, verbGate, versionGate } from '../lib/suite.ts';

const RESULT: Check = { id: 'add.result', title: "ADD through cnitool returns a result for CNI_IFNAME in CNI_NETNS in the conf's version" };
const KERNEL: Check = { id: 'add.kernel-state', title: 'the netns holds the interface, addresses and routes of the result' };
const GATEWAY: Check = { id: 'add.gateway-reachable', title: 'the pod reaches its gateway (ping)' };
const CHECK_OK: Check = { id: 'check.after-add', title: 'CHECK right after ADD succeeds' };
const CHECK_TAMPERED: Check = { id: 'check.after-tampering', title: "CHECK fails with an error object once the pod's address is removed" };
const DEL_TWICE: Check = { id: 'del.twice', title: 'DEL succeeds, and succeeds again' };
const DEL_REMOVES: Check = { id: 'del.removes-interface', title: 'DEL removes the container interface' };
const NETNS_GONE: Check = { id: 'del.netns-gone', title: "DEL succeeds after the pod's netns was deleted" };
const EMPTY_NETNS: Check = { id: 'del.empty-netns', title: 'DEL with an empty CNI_NETNS succeeds' };

/** ADD, the result against the spec and the kernel, the gateway, CHECK before and after breaking the pod, and DEL twice. */
export async function checkLifecycle(suite: Suite): Promise<void> {
  const { report, ifname } = suite;
  const { pod, added } = await addNewPod(suite);
  if (!added.ok) {
    report.fail(RESULT, added.reason);
    report.unreached([KERNEL, GATEWAY, CHECK_OK, CHECK_TAMPERED, DEL_TWICE, DEL_REMOVES], 'ADD failed');
    return;
  }
  const { view, problems } = inspectPodResult(suite, pod, added.result);
  report.verdict(RESULT, problems, view?.containerIps.map((ip) => ip.text).join(', '));
  if (!view) {
    report.unreached([KERNEL, GATEWAY, CHECK_OK, CHECK_TAMPERED, DEL_TWICE, DEL_REMOVES], 'the result lists no container interface');
    return;
  }
  report.verdict(KERNEL, await kernelProblems(pod.netns, ifname, view));
  await checkGateway(suite, pod.netns, view);

  if (!report.closed([CHECK_OK, CHECK_TAMPERED], verbGate(suite, 'CHECK'))) {
    const checked = await cnitool(suite.cnitool, 'check', pod.netns.path);
    report.verdict(CHECK_OK, checked.exitCode === 0 ? [] : [describeFailure('cnitool check', checked)]);
    const victim = view.containerIps[0];
    if (victim) await checkWithout(suite, CHECK_TAMPERED, pod, victim, added.result);
    else report.unreached([CHECK_TAMPERED], 'the result assigns no address to the container interface');
  }

  const first = await delPod(suite, pod);
  const second = await cnitool(suite.cnitool, 'del', pod.netns.path);
  const delProblems = [first, second].flatMap((completed, i) => (completed.exitCode === 0 ? [] : [describeFailure(`DEL #${i + 1} (cnitool del)`, completed)]));
  report.verdict(DEL_TWICE, delProblems);

  const links = await linkNames(pod.netns);
  report.verdict(DEL_REMOVES, links.includes(ifname) ? [`${ifname} is still in netns ${pod.netns.name} after DEL; delete it on DEL`] : []);
}

async function checkGateway(suite: Suite, netns: Netns, view: AddResultView): Promise<void> {
  const gateways = [...new Set(view.containerIps.flatMap((ip) => (ip.gateway ? [ip.gateway] : [])))];
  if (gateways.length === 0) {
    suite.report.fail(GATEWAY, `the result names no gateway for ${suite.ifname}'s addresses, so there is nothing to reach; set ips[].gateway`);
    return;
  }
  const problems: string[] = [];
  for (const gateway of gateways) {
    const completed = await pingFrom(netns, suite.ifname, gateway);
    if (completed.exitCode !== 0) problems.push(`ping ${gateway} from netns ${netns.name} ${describeExit(completed)}`);
  }
  suite.report.verdict(GATEWAY, problems, gateways.join(', '));
}

/** Removes `victim` from the pod's interface; CHECK must then fail with an error object. */
export async function checkWithout(suite: Suite, check: Check, pod: Pod, victim: ResultIp, prevResult: Record<string, unknown>): Promise<void> {
  await ip(['-n', pod.netns.name, 'addr', 'del', victim.text, 'dev', suite.ifname], `remove ${victim.text} from ${suite.ifname}`);
  const outcome = await checkChain(suite, pod.attachment, suite.net.cniVersion, prevResult);
  if (outcome.ok) {
    suite.report.fail(check, `CHECK succeeded although ${victim.text} is gone from ${suite.ifname}; compare the interface with prevResult`);
    return;
  }
  const { error, problems } = readErrorOutput(outcome.failure.completed);
  const { type } = outcome.failure;
  suite.report.verdict(
    check,
    problems.map((p) => `${type}: ${p}`),
    error ? `${type}: ${describeError(error)}` : '',
  );
}

/**
 * cnitool re-encodes results through libcni's types, which would hide shape
 * mistakes (a stray ips[].version, say), and so does each chained plugin with
 * its predecessor's. So the plugins also run directly, at each spec version up
 * to the conf's, and every plugin's own output is held to the spec.
 */
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
    const problems = added.steps.flatMap(({ type, result }) => inspectPodResult(suite, pod, result, cniVersion).problems.map((p) => `${type}: ${p}`));
    const deleted = await delPodDirectly(suite, pod, cniVersion, added.result);
    if (!deleted.ok) problems.push(deleted.failure.reason);
    suite.report.verdict(check, problems);
  }
}

/**
 * SPEC.md: "When CNI_NETNS and/or prevResult are not provided, the plugin
 * should clean up as many resources as possible ... and return a successful
 * response."
 */
export async function checkDelEdgeCases(suite: Suite): Promise<void> {
  await checkNetnsGone(suite);
  await checkEmptyNetns(suite);
}

async function checkNetnsGone(suite: Suite): Promise<void> {
  const { pod, added } = await addNewPod(suite);
  if (!added.ok) return suite.report.unreached([NETNS_GONE], added.reason);
  await deleteNetns(pod.netns);
  const deleted = await delPod(suite, pod);
  suite.report.verdict(NETNS_GONE, deleted.exitCode === 0 ? [] : [describeFailure(`cnitool del with the deleted ${pod.netns.path}`, deleted)]);
}

async function checkEmptyNetns(suite: Suite): Promise<void> {
  const { pod, added } = await addNewPod(suite);
  if (!added.ok) return suite.report.unreached([EMPTY_NETNS], added.reason);
  const deleted = await delChain(suite, { ...pod.attachment, netns: '' }, suite.net.cniVersion, added.result);
  const problems = deleted.ok ? [] : [deleted.failure.reason];
  // The interface the plugin could not reach stays until a full DEL, which must then succeed too.
  const full = await delPod(suite, pod);
  if (full.exitCode !== 0) problems.push(describeFailure('a later cnitool del with the netns', full));
  suite.report.verdict(EMPTY_NETNS, problems);
}
