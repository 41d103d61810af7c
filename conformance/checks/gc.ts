// GC (spec 1.1.0): pods are added, the runtime forgets one and deletes its
// netns, then GC names all the others in cni.dev/valid-attachments. The
// forgotten pod's address must be free again and the named pods untouched.
import { deleteNetns, kernelProblems, pingFrom, reservationDir, reservationHolder } from '../lib/host.ts';
import { cnitool, describeExit, describeFailure, gcChain } from '../lib/plugin.ts';
import { addNewPod, delPod, fillPool, inspectPodResult, type Pod, podAddress, probeAdd, requestAddresses } from '../lib/pods.ts';
import type { Check } from '../lib/report.ts';
import type { AddResultView, ResultIp } from '../lib/spec.ts';
import { type Suite, verbGate } from '../lib/suite.ts';

const RELEASES: Check = { id: 'gc.releases-stale', title: 'GC frees the address of an attachment missing from cni.dev/valid-attachments' };
const KEEPS: Check = { id: 'gc.keeps-valid', title: 'GC leaves the attachments named in cni.dev/valid-attachments working' };

type AddedPod = { pod: Pod; view: AddResultView; address: ResultIp };
type Proof = { problems: string[]; how: string };

const unproven = (problem: string): Proof => ({ problems: [problem], how: '' });
const proven = (how: string): Proof => ({ problems: [], how });

export async function checkGc(suite: Suite): Promise<void> {
  if (suite.report.closed([RELEASES, KEEPS], verbGate(suite, 'GC'))) return;
  const valid = await addWithAddress(suite);
  if (typeof valid === 'string') return suite.report.unreached([RELEASES, KEEPS], `ADD before GC: ${valid}`);
  const stale = await addWithAddress(suite);
  if (typeof stale === 'string') return suite.report.unreached([RELEASES, KEEPS], `ADD before GC: ${stale}`);
  // Fill the pool where it is small enough: then an ADD after GC can only succeed with the freed address.
  const filled = await fillPool(suite, suite.parallel);
  // What host-local-style state said before GC, for the white-box fallback.
  const dir = reservationDir(suite.net);
  const holderBefore = (pod: AddedPod) => (dir ? reservationHolder(dir, pod.address.address.address) : undefined);
  const staleHeldBefore = holderBefore(stale);
  const validHeldBefore = holderBefore(valid);

  await deleteNetns(stale.pod.netns);
  const gc = await gcChain(suite, suite.net.cniVersion, [valid.pod.attachment, ...filled.holders.map((pod) => pod.attachment)]);
  if (!gc.ok) {
    suite.report.fail(RELEASES, gc.failure.reason);
    suite.report.unreached([KEEPS], 'GC failed');
    return;
  }
  const problems = gc.outputs
    .filter((o) => o.stdout.trim() !== '')
    .map((o) => `GC printed ${JSON.stringify(o.stdout.trim())} on success; the spec says no output`);
  const proof = filled.full ? await proveByFullPool(suite, stale) : await proveOtherwise(suite, stale, staleHeldBefore);
  problems.push(...proof.problems);
  const staleDel = await delPod(suite, stale.pod);
  if (staleDel.exitCode !== 0) problems.push(describeFailure('DEL of the collected attachment afterwards', staleDel));
  suite.report.verdict(RELEASES, problems, proof.how);

  suite.report.verdict(KEEPS, await validPodProblems(suite, valid, validHeldBefore));
}

async function addWithAddress(suite: Suite): Promise<AddedPod | string> {
  const { pod, added } = await addNewPod(suite);
  if (!added.ok) return added.reason;
  const { view } = inspectPodResult(suite, pod, added.result);
  const address = view?.containerIps[0];
  return view && address ? { pod, view, address } : 'the ADD result assigns no address to the container interface';
}

/** The address a new pod gets now, or why its ADD failed; the pod is DELeted again at once. */
async function grantedAddress(suite: Suite, capabilityArgs?: Record<string, unknown>): Promise<{ granted?: string } | { failed: string }> {
  const { pod, added } = await probeAdd(suite, capabilityArgs);
  return added.ok ? { granted: podAddress(suite, pod, added.result) } : { failed: added.reason };
}

/** The pool was full before GC, so a new ADD needs exactly the collected address. */
async function proveByFullPool(suite: Suite, stale: AddedPod): Promise<Proof> {
  const wanted = stale.address.text;
  const probe = await grantedAddress(suite);
  if ('failed' in probe) return unproven(`the pool was full and an ADD after GC still failed, so GC did not free ${wanted}: ${probe.failed}`);
  if (probe.granted !== wanted) {
    return unproven(
      `the pool was full and an ADD after GC got ${probe.granted ?? 'no address'}, not the collected ${wanted}: GC freed a valid attachment's address`,
    );
  }
  return proven(`the pool was full; after GC a new ADD got ${wanted}`);
}

/** Asks for the address back when the conf allows requesting addresses, else reads host-local-style state. */
async function proveOtherwise(suite: Suite, stale: AddedPod, heldBefore: string | undefined): Promise<Proof> {
  const wanted = stale.address.text;
  const request = requestAddresses(suite.net, [wanted]);
  if (request) {
    const probe = await grantedAddress(suite, request);
    if ('failed' in probe) return unproven(`an ADD requesting ${wanted} through the ips capability failed, so GC did not free it: ${probe.failed}`);
    if (probe.granted !== wanted) {
      return unproven(
        `an ADD requesting ${wanted} through the ips capability got ${probe.granted ?? 'no address'}: ` +
          `either GC kept ${wanted} or the plugin ignores the capability the conf declares`,
      );
    }
    return proven(`a new ADD was granted ${wanted} on request`);
  }
  const dir = reservationDir(suite.net);
  const ip = stale.address.address.address;
  if (!dir || heldBefore !== stale.pod.attachment.containerId) {
    return unproven(
      `cannot observe whether ${wanted} was freed: the pool did not fill up with ${suite.parallel} more pods, ` +
        `and the conf neither declares the "ips" capability nor keeps host-local's reservation files under ipam.dataDir; ` +
        'use a smaller range or one of those',
    );
  }
  const holder = reservationHolder(dir, ip);
  if (holder !== undefined) return unproven(`${ip} is still reserved for ${holder} in ${dir} after GC`);
  return proven(`the reservation of ${ip} in ${dir} is gone`);
}

async function validPodProblems(suite: Suite, valid: AddedPod, heldBefore: string | undefined): Promise<string[]> {
  const problems = await kernelProblems(valid.pod.netns, suite.ifname, valid.view);
  const gateway = valid.address.gateway;
  if (gateway) {
    const pinged = await pingFrom(valid.pod.netns, suite.ifname, gateway);
    if (pinged.exitCode !== 0) problems.push(`ping ${gateway} from the valid pod ${describeExit(pinged)}`);
  }
  const dir = reservationDir(suite.net);
  const ownId = valid.pod.attachment.containerId;
  if (dir && heldBefore === ownId && reservationHolder(dir, valid.address.address.address) !== ownId) {
    problems.push(`${valid.address.address.address} is no longer reserved for the valid pod in ${dir}`);
  }
  if (verbGate(suite, 'CHECK').open) {
    const checked = await cnitool(suite.cnitool, 'check', valid.pod.netns.path);
    if (checked.exitCode !== 0) problems.push(describeFailure('cnitool check of the valid pod', checked));
  }
  return problems;
}
