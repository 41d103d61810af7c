// One pod through its whole life as a runtime drives it with cnitool: ADD,
// the result against the spec and the kernel, connectivity to the gateway,
// CHECK before and after breaking it, and DEL twice.
import { type Attachment, checkChain } from '../lib/chain.ts';
import { cnitool } from '../lib/cnitool.ts';
import { describeError, readErrorOutput } from '../lib/error-shape.ts';
import { kernelProblems } from '../lib/kernel-state.ts';
import { type Netns, ip, linkNamesIn, pingFrom } from '../lib/netns.ts';
import { addPod, createPod, delPod } from '../lib/pods.ts';
import { describeExit, describeFailure } from '../lib/process.ts';
import type { Check } from '../lib/report.ts';
import { type AddResultView, inspectAddResult } from '../lib/result-shape.ts';
import { type Suite, checkVerbGate } from '../lib/suite.ts';

const RESULT: Check = { id: 'add.result', title: 'ADD through cnitool returns a result for CNI_IFNAME in CNI_NETNS in the conf\'s version' };
const KERNEL: Check = { id: 'add.kernel-state', title: 'the netns holds the interface, addresses and routes of the result' };
const GATEWAY: Check = { id: 'add.gateway-reachable', title: 'the pod reaches its gateway (ping)' };
const CHECK_OK: Check = { id: 'check.after-add', title: 'CHECK right after ADD succeeds' };
const CHECK_TAMPERED: Check = { id: 'check.after-tampering', title: 'CHECK fails with an error object once the pod\'s address is removed' };
const DEL_TWICE: Check = { id: 'del.twice', title: 'DEL succeeds, and succeeds again' };
const DEL_REMOVES: Check = { id: 'del.removes-interface', title: 'DEL removes the container interface' };

export async function checkLifecycle(suite: Suite): Promise<void> {
  const { report, ifname } = suite;
  const pod = await createPod(suite);
  const added = await addPod(suite, pod);
  if (!added.ok) {
    report.fail(RESULT, added.reason);
    report.unreached([KERNEL, GATEWAY, CHECK_OK, CHECK_TAMPERED, DEL_TWICE, DEL_REMOVES], 'ADD failed');
    return;
  }
  const { view, problems } = inspectAddResult(added.result, { cniVersion: suite.net.cniVersion, netns: pod.netns.path, ifname });
  report.verdict(RESULT, problems, view?.containerIps.map((ip) => ip.text).join(', '));
  if (!view) {
    report.unreached([KERNEL, GATEWAY, CHECK_OK, CHECK_TAMPERED, DEL_TWICE, DEL_REMOVES], 'the result lists no container interface');
    return;
  }
  report.verdict(KERNEL, await kernelProblems(pod.netns, ifname, view));
  await checkGateway(suite, pod.netns, view);

  if (!report.closed([CHECK_OK, CHECK_TAMPERED], checkVerbGate(suite))) {
    const checked = await cnitool(suite.cnitool, 'check', pod.netns.path);
    report.verdict(CHECK_OK, checked.exitCode === 0 ? [] : [describeFailure('cnitool check', checked)]);
    await checkTampered(suite, pod.netns, pod.attachment, view, added.result);
  }

  const first = await delPod(suite, pod);
  const second = await cnitool(suite.cnitool, 'del', pod.netns.path);
  const delProblems = [first, second].flatMap((completed, i) =>
    completed.exitCode === 0 ? [] : [describeFailure(`DEL #${i + 1} (cnitool del)`, completed)],
  );
  report.verdict(DEL_TWICE, delProblems);

  const links = await linkNamesIn(pod.netns);
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

async function checkTampered(
  suite: Suite,
  netns: Netns,
  attachment: Attachment,
  view: AddResultView,
  prevResult: Record<string, unknown>,
): Promise<void> {
  const victim = view.containerIps[0];
  if (!victim) {
    suite.report.fail(CHECK_TAMPERED, 'not reached: the result assigns no address to the container interface');
    return;
  }
  await ip(['-n', netns.name, 'addr', 'del', victim.text, 'dev', suite.ifname], `remove ${victim.text} from ${suite.ifname}`);
  const outcome = await checkChain(suite, attachment, suite.net.cniVersion, prevResult);
  if (outcome.ok) {
    suite.report.fail(CHECK_TAMPERED, `CHECK succeeded although ${victim.text} is gone from ${suite.ifname}; compare the interface with prevResult`);
    return;
  }
  const { error, problems } = readErrorOutput(outcome.failure.completed);
  const { type } = outcome.failure;
  suite.report.verdict(
    CHECK_TAMPERED,
    problems.map((p) => `${type}: ${p}`),
    error ? `${type}: ${describeError(error)}` : '',
  );
}
