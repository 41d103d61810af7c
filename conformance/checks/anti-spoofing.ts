// Anti-spoofing: three pods, an attacker, a victim and a target. The attacker
// sends echo requests from the victim's address, then from the victim's MAC;
// the verdict comes from the other pods' own network stacks (ICMP counters),
// never from the plugin's rules, so any plugin can be scored. Not part of
// SPEC.md: a plugin that passes every other check may fail these, as the
// reference bridge plugin does (its macspoofchk covers the MAC only).
import { icmpReceived, ip, linkMac, type Netns, neighbourMac, pingAs, pingFrom } from '../lib/host.ts';
import { ipFamily } from '../lib/ip.ts';
import { addNewPod, inspectPodResult } from '../lib/pods.ts';
import type { Check } from '../lib/report.ts';
import type { ResultIp } from '../lib/spec.ts';
import type { Suite } from '../lib/suite.ts';

const FORGED_IP: Check = { id: 'spoofing.forged-ip', title: "a pod sending from another pod's IP address reaches neither other pods nor the host" };
const FORGED_MAC: Check = { id: 'spoofing.forged-mac', title: "a pod sending from another pod's MAC reaches no other pod on its link" };
const CHECKS = [FORGED_IP, FORGED_MAC];

type Member = { netns: Netns; ip: ResultIp; mac: string };

export async function checkAntiSpoofing(suite: Suite): Promise<void> {
  const members: Member[] = [];
  for (const role of ['attacker', 'victim', 'target']) {
    const member = await addMember(suite);
    if (typeof member === 'string') return suite.report.unreached(CHECKS, `ADD of the ${role} pod: ${member}`);
    members.push(member);
  }
  const [attacker, victim, target] = members as [Member, Member, Member];
  // A network that carries nothing proves nothing: the honest paths first,
  // which also fill the neighbour caches the forged packets then go out on.
  const honest: [Member, string][] = [
    [attacker, target.ip.address.address],
    [victim, target.ip.address.address],
    ...(attacker.ip.gateway ? [[attacker, attacker.ip.gateway] as [Member, string]] : []),
  ];
  for (const [from, to] of honest) {
    const pinged = await pingFrom(from.netns, suite.ifname, to);
    if (pinged.exitCode !== 0) return suite.report.unreached(CHECKS, `honest ping from ${from.ip.address.address} to ${to} failed`);
  }
  suite.report.verdict(FORGED_IP, ...(await forgedIp(suite, attacker, victim, target)));
  const sharedLink = await neighbourMac(target.netns, suite.ifname, attacker.ip.address.address);
  if (sharedLink !== attacker.mac) {
    return suite.report.notApplicable(
      FORGED_MAC,
      `the target resolves ${attacker.ip.address.address} to ${sharedLink ?? 'no MAC'}, not the attacker's ${attacker.mac}: ` +
        'the pods share no link, so a MAC names no pod beyond its own',
    );
  }
  suite.report.verdict(FORGED_MAC, ...(await forgedMac(suite, attacker, victim, target)));
}

async function addMember(suite: Suite): Promise<Member | string> {
  const { pod, added } = await addNewPod(suite);
  if (!added.ok) return added.reason;
  const ip = inspectPodResult(suite, pod, added.result).view?.containerIps[0];
  if (!ip) return 'the ADD result assigns no address to the container interface';
  const mac = await linkMac(pod.netns, suite.ifname);
  if (!mac) return `${suite.ifname} in netns ${pod.netns.name} has no MAC`;
  return { netns: pod.netns, ip, mac };
}

/** The attacker takes the victim's address as a second one and pings the target and the gateway from it. */
async function forgedIp(suite: Suite, attacker: Member, victim: Member, target: Member): Promise<[string[], string]> {
  const forged = victim.ip.address.address;
  const family = ipFamily(forged) ?? 4;
  const hostRoute = `${forged}/${family === 4 ? 32 : 128}`;
  const destinations = [target.ip.address.address, ...(attacker.ip.gateway ? [attacker.ip.gateway] : [])];
  const where = ['-n', attacker.netns.name];
  await ip([...where, 'addr', 'add', hostRoute, 'dev', suite.ifname, ...(family === 6 ? ['nodad'] : [])], 'give the attacker the forged address');
  const before = { target: await icmpReceived(target.netns, family), victim: await icmpReceived(victim.netns, family) };
  for (const destination of destinations) await pingAs(attacker.netns, forged, destination);
  const after = { target: await icmpReceived(target.netns, family), victim: await icmpReceived(victim.netns, family) };
  await ip([...where, 'addr', 'del', hostRoute, 'dev', suite.ifname], 'take the forged address back');

  const problems: string[] = [];
  const requests = after.target.requests - before.target.requests;
  if (requests > 0) problems.push(`the target received ${requests} echo requests from the forged source ${forged}`);
  // The gateway and the target answer the real owner of the address.
  const replies = after.victim.replies - before.victim.replies;
  if (replies > 0) problems.push(`the victim ${forged} received ${replies} echo replies to requests it never sent`);
  if (problems.length > 0) problems.push("drop a pod's packets whose source is not the pod's own address");
  return [problems, `pinged ${destinations.join(' and ')} from ${forged}; the target and the victim received nothing`];
}

/** The attacker takes the victim's MAC and pings the target from its own address. */
async function forgedMac(suite: Suite, attacker: Member, victim: Member, target: Member): Promise<[string[], string]> {
  const family = ipFamily(target.ip.address.address) ?? 4;
  const setMac = (mac: string) => ip(['-n', attacker.netns.name, 'link', 'set', suite.ifname, 'address', mac], `set the attacker's MAC to ${mac}`);
  await setMac(victim.mac);
  const before = await icmpReceived(target.netns, family);
  await pingAs(attacker.netns, attacker.ip.address.address, target.ip.address.address);
  const after = await icmpReceived(target.netns, family);
  await setMac(attacker.mac);
  const requests = after.requests - before.requests;
  const problems =
    requests > 0
      ? [`the target received ${requests} echo requests sent from the victim's MAC ${victim.mac}; drop a pod's frames from any MAC but its own`]
      : [];
  return [problems, `pinged ${target.ip.address.address} from MAC ${victim.mac}; the target received nothing`];
}
