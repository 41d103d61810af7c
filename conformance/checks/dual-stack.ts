// Dual stack: a conf that gives every pod an IPv4 and an IPv6 address (a
// range set per family in host-local's format, or the plugin's own source,
// such as weft's subnet file) must make each family work as it would alone:
// addresses, default routes, the gateway and other pods reachable, CHECK and
// DEL covering both, and concurrent ADDs colliding in neither. IPv6 adds two
// things a runtime cannot repair afterwards: the address must be usable when
// ADD returns, not tentative behind duplicate address detection; and the pod
// must not accept router advertisements, which would let anything on its
// link give it addresses and routes the plugin never decided.
import { ipamSubnets } from '../lib/conf.ts';
import { interfaceAddresses, type KernelAddress, type Netns, pingFrom, reservationDir, reservationHolder, routesIn, sysctlIn } from '../lib/host.ts';
import { type Cidr, cidrContains, type Family } from '../lib/ip.ts';
import { cnitool, describeExit, describeFailure } from '../lib/plugin.ts';
import { addNewPod, createPod, delPod, inspectPodResult, type Pod, requestAddresses } from '../lib/pods.ts';
import type { Check } from '../lib/report.ts';
import type { ResultIp } from '../lib/spec.ts';
import { type Gate, type Suite, verbGate } from '../lib/suite.ts';
import { checkWithout } from './add-check-del.ts';
import { addRound, duplicates, PodFailures } from './parallel.ts';

const ADDRESSES: Check = {
  id: 'dual-stack.addresses',
  title: 'ADD gives the pod one address per family, each in its subnet, and the netns holds both',
};
const DEFAULT_ROUTES: Check = { id: 'dual-stack.default-routes', title: 'the pod has a default route for each family' };
const GATEWAYS: Check = { id: 'dual-stack.gateways-reachable', title: 'the pod reaches its gateway over IPv4 and over IPv6 (ping)' };
const POD_TO_POD: Check = { id: 'dual-stack.pod-to-pod', title: 'the pod reaches a second pod over IPv4 and over IPv6 (ping)' };
const NOT_TENTATIVE: Check = { id: 'dual-stack.ipv6-not-tentative', title: "the pod's IPv6 address is usable as ADD returns (not tentative)" };
const NO_RA: Check = { id: 'dual-stack.ipv6-no-router-advertisements', title: "the pod's interface does not accept router advertisements (accept_ra 0)" };
const CHECK_OK: Check = { id: 'dual-stack.check-after-add', title: 'CHECK right after a dual-stack ADD succeeds' };
const CHECK_NO_V6: Check = { id: 'dual-stack.check-without-ipv6', title: "CHECK fails with an error object once the pod's IPv6 address is removed" };
const DEL_RELEASES: Check = {
  id: 'dual-stack.del-releases-both',
  title: 'DEL frees both addresses: no reservation left, and both granted again when asked for',
};

const FAMILIES = [4, 6] as const;

/** A pod with exactly one address per family. */
type DualPod = { pod: Pod; v4: ResultIp; v6: ResultIp; result: Record<string, unknown> };

export async function checkDualStack(suite: Suite): Promise<void> {
  const { report, ifname } = suite;
  const parallel: Check = {
    id: 'dual-stack.parallel-distinct',
    title: `${suite.parallel} parallel dual-stack ADDs get distinct addresses in both families`,
  };
  const afterAdd = [DEFAULT_ROUTES, GATEWAYS, POD_TO_POD, NOT_TENTATIVE, NO_RA, CHECK_OK, CHECK_NO_V6, DEL_RELEASES, parallel];
  const all = [ADDRESSES, ...afterAdd];

  const subnets = ipamSubnets(suite.net);
  const confFamilies = new Set(subnets.map((s) => s.family));
  const expected = suite.dualStack || confFamilies.size === 2;
  if (!expected && confFamilies.size === 1) {
    const [family] = confFamilies;
    report.closed(all, notDualStack(`the conf's ipam ranges give pods IPv${family} addresses only; these checks need a range set per family`));
    return;
  }

  const { pod, added } = await addNewPod(suite);
  if (!added.ok) {
    report.fail(ADDRESSES, added.reason);
    return report.unreached(afterAdd, 'ADD failed');
  }
  // Read before anything else gives duplicate address detection time to finish.
  const heldAtAdd = await interfaceAddresses(pod.netns, ifname).catch(() => []);
  const acceptRa = await sysctlIn(pod.netns, `net/ipv6/conf/${ifname}/accept_ra`).catch((err: Error) => err);

  const { view, problems } = inspectPodResult(suite, pod, added.result);
  const ips = view?.containerIps ?? [];
  const given = new Set(ips.map((ip) => ip.address.family));
  if (!expected && given.size < 2) {
    report.closed(
      all,
      notDualStack(
        `ADD gave the pod ${given.size === 0 ? 'no addresses' : `IPv${[...given].join('')} addresses only`}, and the conf's ipam names no ranges asking for both; pass --dual-stack if it should give both`,
      ),
    );
    return;
  }
  problems.push(...addressProblems(suite, ips, subnets, heldAtAdd));
  report.verdict(ADDRESSES, problems, ips.map((ip) => ip.text).join(', '));
  const first = dualPod(pod, ips, added.result);
  if (!first) return report.unreached(afterAdd, `ADD did not give ${ifname} one address per family`);

  report.verdict(DEFAULT_ROUTES, ...(await defaultRouteProblems(suite, pod.netns)));
  report.verdict(NOT_TENTATIVE, tentativeProblems(first.v6, heldAtAdd), `${first.v6.text} was ready when ADD returned`);
  report.verdict(NO_RA, acceptRa === '0' ? [] : [acceptRaProblem(suite, pod.netns, acceptRa)], `net.ipv6.conf.${ifname}.accept_ra is 0 in the pod`);
  await checkGateways(suite, first);
  await checkPodToPod(suite, first);

  if (!report.closed([CHECK_OK, CHECK_NO_V6], verbGate(suite, 'CHECK'))) {
    const checked = await cnitool(suite.cnitool, 'check', pod.netns.path);
    report.verdict(CHECK_OK, checked.exitCode === 0 ? [] : [describeFailure('cnitool check', checked)]);
    await checkWithout(suite, CHECK_NO_V6, pod, first.v6, first.result);
  }
  await checkDelReleases(suite, first);
  await checkParallelDistinct(suite, parallel);
}

function notDualStack(reason: string): Gate {
  return { open: false, applicable: false, reason };
}

function dualPod(pod: Pod, ips: readonly ResultIp[], result: Record<string, unknown>): DualPod | undefined {
  const [v4, ...more4] = ips.filter((ip) => ip.address.family === 4);
  const [v6, ...more6] = ips.filter((ip) => ip.address.family === 6);
  return v4 && v6 && more4.length === 0 && more6.length === 0 ? { pod, v4, v6, result } : undefined;
}

function addressProblems(suite: Suite, ips: readonly ResultIp[], subnets: readonly Cidr[], held: readonly KernelAddress[]): string[] {
  const problems: string[] = [];
  for (const family of FAMILIES) {
    const count = ips.filter((ip) => ip.address.family === family).length;
    if (count !== 1) problems.push(`the result gives ${suite.ifname} ${count} IPv${family} addresses; it must give one per family`);
  }
  for (const ip of ips) {
    const own = subnets.filter((s) => s.family === ip.address.family);
    if (own.length > 0 && !own.some((s) => cidrContains(s, ip.address))) {
      problems.push(`${ip.text} is outside the conf's IPv${ip.address.family} subnets (${own.map(cidrText).join(', ')})`);
    }
    if (ip.gateway && !cidrContains(ip.address, { family: ip.address.family, address: ip.gateway, prefix: ip.address.family === 4 ? 32 : 128 })) {
      problems.push(`${ip.text}'s gateway ${ip.gateway} is outside its subnet, so the pod cannot reach it on its link`);
    }
    const wanted = cidrText(ip.address);
    if (!held.some((a) => a.cidr === wanted)) {
      const has = held.filter((a) => a.scope !== 'link').map((a) => a.cidr);
      problems.push(`${suite.ifname} does not hold ${wanted} after ADD (it has ${has.join(', ') || 'no addresses'})`);
    }
  }
  return problems;
}

function cidrText(cidr: Cidr): string {
  return `${cidr.address}/${cidr.prefix}`;
}

async function defaultRouteProblems(suite: Suite, netns: Netns): Promise<[string[], string]> {
  const problems: string[] = [];
  const found: string[] = [];
  for (const family of FAMILIES) {
    const route = (await routesIn(netns, family)).find((r) => r.dst === 'default' && r.table === 'main' && r.dev === suite.ifname);
    if (route) found.push(`IPv${family} default${route.gateway ? ` via ${route.gateway}` : ''} dev ${route.dev}`);
    else problems.push(`netns ${netns.name} has no IPv${family} default route through ${suite.ifname} in its main table`);
  }
  return [problems, found.join('; ')];
}

function tentativeProblems(v6: ResultIp, held: readonly KernelAddress[]): string[] {
  const wanted = cidrText(v6.address);
  const address = held.find((a) => a.cidr === wanted);
  if (!address) return [`${wanted} was not on the interface when ADD returned`];
  if (address.dadfailed) return [`duplicate address detection failed for ${wanted}: the kernel will not use it`];
  if (address.tentative) {
    return [
      `${wanted} was tentative when ADD returned: the pod could not use it until duplicate address detection ended; ` +
        'add it with nodad (the plugin owns the address), or wait for detection to end before returning',
    ];
  }
  return [];
}

function acceptRaProblem(suite: Suite, netns: Netns, value: string | Error): string {
  if (value instanceof Error) return `cannot read net.ipv6.conf.${suite.ifname}.accept_ra in netns ${netns.name}: ${value.message}`;
  return (
    `net.ipv6.conf.${suite.ifname}.accept_ra is ${value} in the pod: a router advertisement on its link ` +
    'could give it addresses and routes the plugin never decided; set it to 0'
  );
}

async function checkGateways(suite: Suite, pod: DualPod): Promise<void> {
  const problems: string[] = [];
  const gateways: string[] = [];
  for (const ip of [pod.v4, pod.v6]) {
    const family = ip.address.family;
    if (!ip.gateway) {
      problems.push(`the result names no gateway for ${ip.text}, so there is no IPv${family} gateway to reach; set ips[].gateway`);
      continue;
    }
    gateways.push(ip.gateway);
    problems.push(...(await pingProblems(suite, pod.pod.netns, ip.gateway)));
  }
  suite.report.verdict(GATEWAYS, problems, gateways.join(', '));
}

async function checkPodToPod(suite: Suite, from: DualPod): Promise<void> {
  const { pod, added } = await addNewPod(suite);
  if (!added.ok) return suite.report.unreached([POD_TO_POD], `ADD of the second pod: ${added.reason}`);
  const to = dualPod(pod, inspectPodResult(suite, pod, added.result).view?.containerIps ?? [], added.result);
  if (!to) return suite.report.unreached([POD_TO_POD], `the second pod's ADD did not give ${suite.ifname} one address per family`);
  const targets = [to.v4.address.address, to.v6.address.address];
  const problems: string[] = [];
  for (const target of targets) problems.push(...(await pingProblems(suite, from.pod.netns, target)));
  suite.report.verdict(POD_TO_POD, problems, `${from.v4.address.address} → ${targets[0]}, ${from.v6.address.address} → ${targets[1]}`);
}

async function pingProblems(suite: Suite, netns: Netns, address: string): Promise<string[]> {
  const completed = await pingFrom(netns, suite.ifname, address);
  return completed.exitCode === 0 ? [] : [`ping ${address} from netns ${netns.name} ${describeExit(completed)}`];
}

/**
 * Both addresses back where the pool came from: no reservation left in
 * host-local's on-disk format when the conf names its dataDir, and a new ADD
 * granted both again when the conf lets the runtime ask for addresses.
 */
async function checkDelReleases(suite: Suite, pod: DualPod): Promise<void> {
  const problems: string[] = [];
  const proofs: string[] = [];
  const deleted = await delPod(suite, pod.pod);
  if (deleted.exitCode !== 0) {
    return suite.report.fail(DEL_RELEASES, describeFailure('cnitool del', deleted));
  }
  const addresses = [pod.v4, pod.v6];
  const dir = reservationDir(suite.net);
  if (dir) {
    for (const ip of addresses) {
      const holder = reservationHolder(dir, ip.address.address);
      if (holder !== undefined) problems.push(`${dir} still reserves ${ip.address.address} (for ${holder}) after DEL`);
    }
    proofs.push(`${dir} holds neither address`);
  }
  const request = requestAddresses(
    suite.net,
    addresses.map((ip) => ip.text),
  );
  if (request) {
    const again = await addNewPod(suite, request);
    if (!again.added.ok) {
      problems.push(`an ADD requesting ${addresses.map((ip) => ip.text).join(' and ')} through the ips capability failed: ${again.added.reason}`);
    } else {
      const granted = (inspectPodResult(suite, again.pod, again.added.result).view?.containerIps ?? []).map((ip) => ip.text);
      const missing = addresses.filter((ip) => !granted.includes(ip.text)).map((ip) => ip.text);
      if (missing.length > 0)
        problems.push(`an ADD requesting both addresses through the ips capability got ${granted.join(', ') || 'none'}, not ${missing.join(', ')}`);
      else proofs.push('a new ADD was granted both on request');
    }
    await delPod(suite, again.pod);
  }
  if (!dir && !request) {
    problems.push(
      'the suite cannot tell whether DEL freed the addresses: the conf names no ipam.dataDir and declares no "ips" capability to ask for them again',
    );
  }
  suite.report.verdict(DEL_RELEASES, problems, proofs.join('; '));
}

async function checkParallelDistinct(suite: Suite, check: Check): Promise<void> {
  const pods = await Promise.all(Array.from({ length: suite.parallel }, () => createPod(suite)));
  const round = await addRound(suite, pods);
  const failures = new PodFailures();
  const byFamily = (family: Family) => round.ips.map((ips) => ips.find((ip) => ip.address.family === family)?.text);
  round.ips.forEach((ips, i) => {
    for (const family of FAMILIES) {
      const count = ips.filter((ip) => ip.address.family === family).length;
      if (ips.length > 0 && count !== 1) failures.add(i, `the result gives ${suite.ifname} ${count} IPv${family} addresses`);
    }
  });
  const problems = [...round.problems, ...failures.list(), ...duplicates(byFamily(4)), ...duplicates(byFamily(6))];
  suite.report.verdict(check, problems, `${pods.length} pods, ${pods.length} distinct IPv4 and ${pods.length} distinct IPv6 addresses`);
}
