// Concurrency (SPEC.md: "Plugins must handle being executed concurrently
// across different containers"): N pods ADDed at once get N distinct
// addresses; DELed at once, they free all of them. A second round of N ADDs
// proves that, by asking for the very same addresses when the conf allows it,
// or by succeeding although the pool was full.
import { addressesHeldBy, reservationDir } from '../lib/host.ts';
import { describeFailure } from '../lib/plugin.ts';
import { addPod, createPod, delPod, inspectPodResult, type Pod, poolIsFull, requestAddresses } from '../lib/pods.ts';
import type { Check } from '../lib/report.ts';
import type { ResultIp } from '../lib/spec.ts';
import type { Suite } from '../lib/suite.ts';

export async function checkParallel(suite: Suite): Promise<void> {
  const n = suite.parallel;
  const distinct: Check = { id: 'parallel.add-distinct', title: `${n} parallel ADDs succeed with distinct addresses` };
  const released: Check = { id: 'parallel.del-releases', title: `${n} parallel DELs succeed and free every address for ${n} new ADDs` };

  const pods = await Promise.all(Array.from({ length: n }, () => createPod(suite)));
  const first = await addRound(suite, pods);
  const firstAddresses = first.ips.map(firstAddress);
  suite.report.verdict(distinct, [...first.problems, ...duplicates(firstAddresses)]);
  if (first.problems.length > 0) return suite.report.unreached([released], 'not every ADD of the first round succeeded');

  const requested = firstAddresses.map((address) => (address ? requestAddresses(suite.net, [address]) : undefined));
  const byRequest = requested.every((r) => r !== undefined);
  // Without requests, a full pool makes the second round's success the proof.
  const full = !byRequest && (await poolIsFull(suite));
  const problems = await delRound(suite, pods);
  const dir = reservationDir(suite.net);
  const stillHeld = dir ? addressesHeldBy(dir, new Set(pods.map((p) => p.attachment.containerId))) : [];
  if (stillHeld.length > 0) problems.push(`still reserved in ${dir} after DEL: ${stillHeld.join(', ')}`);

  const second = await addRound(suite, pods, (i) => requested[i]);
  problems.push(...second.problems);
  const secondAddresses = second.ips.map(firstAddress);
  if (byRequest) {
    secondAddresses.forEach((address, i) => {
      if (address !== firstAddresses[i]) problems.push(`pod ${i + 1} asked for ${firstAddresses[i]} again and got ${address ?? 'nothing'}`);
    });
  } else {
    problems.push(...duplicates(secondAddresses));
  }
  problems.push(...(await delRound(suite, pods)));
  suite.report.verdict(released, problems, releaseProof(n, byRequest, full, dir));
}

function releaseProof(n: number, byRequest: boolean, full: boolean, dir: string | undefined): string {
  if (byRequest) return `all ${n} addresses were granted again on request`;
  if (full) return `the pool was full with ${n} pods (one more ADD failed), and ${n} new ADDs succeeded`;
  return `${n} new ADDs succeeded with distinct addresses${dir ? `, and ${dir} kept no reservation of the DELeted pods` : ''}`;
}

/** Each pod's container addresses, [] for a pod whose ADD failed or gave none (which `problems` then says). */
export type Round = { ips: ResultIp[][]; problems: string[] };

/** ADDs every pod at once. */
export async function addRound(
  suite: Suite,
  pods: Pod[],
  capabilityArgs: (i: number) => Record<string, unknown> | undefined = () => undefined,
): Promise<Round> {
  const added = await Promise.all(pods.map(async (pod, i) => ({ pod, outcome: await addPod(suite, pod, capabilityArgs(i)) })));
  const failures = new PodFailures();
  const ips = added.map(({ pod, outcome }, i) => {
    if (!outcome.ok) {
      failures.add(i, outcome.reason);
      return [];
    }
    const assigned = inspectPodResult(suite, pod, outcome.result).view?.containerIps ?? [];
    if (assigned.length === 0) failures.add(i, `the result assigns no address to ${suite.ifname}`);
    return assigned;
  });
  return { ips, problems: failures.list() };
}

function firstAddress(ips: ResultIp[]): string | undefined {
  return ips[0]?.text;
}

async function delRound(suite: Suite, pods: Pod[]): Promise<string[]> {
  const completed = await Promise.all(pods.map((pod) => delPod(suite, pod)));
  const failures = new PodFailures();
  completed.forEach((c, i) => {
    if (c.exitCode !== 0) failures.add(i, describeFailure('cnitool del', c));
  });
  return failures.list();
}

/** Pods failing for the same reason are listed once, not N times. */
export class PodFailures {
  readonly #pods = new Map<string, number[]>();

  add(podIndex: number, reason: string): void {
    this.#pods.set(reason, [...(this.#pods.get(reason) ?? []), podIndex + 1]);
  }

  list(): string[] {
    return [...this.#pods].map(([reason, pods]) => `${pods.length === 1 ? 'pod' : 'pods'} ${pods.join(', ')}: ${reason}`);
  }
}

export function duplicates(addresses: (string | undefined)[]): string[] {
  const seen = new Map<string, number>();
  for (const address of addresses) if (address) seen.set(address, (seen.get(address) ?? 0) + 1);
  return [...seen].filter(([, count]) => count > 1).map(([address, count]) => `${address} was handed to ${count} pods at once`);
}
