// From the API server's view of the nodes to the peers the overlay programs.
// A node that is not ready yet (no pod CIDR, no VTEP) is waited for; one with
// a value that cannot be used is skipped and reported, and never disturbs the
// others. Every value a peer carries is parsed here and given back in
// canonical form: nothing reaches a kernel command as the Node wrote it.
import { parseVtep } from '../k8s/annotations.ts';
import { type Cidr, cidrWithin, formatCidr, parseAddress, parseCidr } from '../net/address.ts';
import { quote } from '../text/quote.ts';
import type { Peer, Skipped } from './types.ts';
import { unicastProblem, type VtepContext, vtepIpProblem, vtepMacOwnerProblem, vtepMacProblem } from './vtep-checks.ts';

/** The parts of a Node the overlay reads (the node watch's NodeInfo has them). */
export type NodeView = { name: string; podCidrs: string[]; annotations: Record<string, string>; created?: number };

/** This node, as the judge of every other. */
export type SelfView = VtepContext & { node: string; clusterCidrs: Cidr[] };

/** One node's verdict; kept per Node object across passes (see peersFromNodes). */
export type Verdict = { peer: Peer } | Omit<Skipped, 'node'>;

/**
 * `verdicts`: earlier verdicts by Node object. The node watch hands out
 * unchanging NodeInfo objects and a new one when a Node changes, so an event
 * pass over 5000 nodes checks only the one that changed.
 */
export function peersFromNodes(nodes: NodeView[], self: SelfView, verdicts?: WeakMap<NodeView, Verdict>): { peers: Peer[]; skipped: Skipped[] } {
  const peers: Peer[] = [];
  const skipped: Skipped[] = [];
  for (const node of nodes) {
    if (node.name === self.node) continue;
    const checked = verdictOf(node, self, verdicts);
    if ('peer' in checked) peers.push(checked.peer);
    else skipped.push({ node: node.name, ...checked });
  }
  return { peers, skipped };
}

/** The node's verdict, from `verdicts` when this Node object was checked before. */
export function verdictOf(node: NodeView, self: SelfView, verdicts?: WeakMap<NodeView, Verdict>): Verdict {
  let checked = verdicts?.get(node);
  if (!checked) {
    checked = checkNode(node, self);
    verdicts?.set(node, checked);
  }
  return checked;
}

function checkNode(node: NodeView, self: SelfView): Verdict {
  const cidrs = podCidrs(node.podCidrs, self.clusterCidrs);
  if ('problem' in cidrs) return cidrs;
  const parsed = parseVtep(node.annotations);
  if ('problem' in parsed) {
    const annotated = Object.keys(node.annotations).some((k) => k.startsWith('weft.dev/vtep'));
    return { reason: annotated ? 'malformed' : 'not-ready', problem: parsed.problem };
  }
  const { ip, mac } = parsed.vtep;
  const ipProblem = vtepIpProblem(parseAddress(ip)!, self);
  if (ipProblem) return { reason: 'malformed', problem: `has VTEP address ${ip} (weft.dev/vtep-ip), which ${ipProblem}` };
  const macProblem = vtepMacProblem(mac) ?? vtepMacOwnerProblem(mac, node.name);
  if (macProblem) return { reason: 'malformed', problem: `has VTEP MAC ${mac} (weft.dev/vtep-mac), which ${macProblem}` };
  // No creation time sorts last: such a node never takes a CIDR from one that has one.
  return { peer: { node: node.name, created: node.created ?? Number.MAX_SAFE_INTEGER, podCidrs: cidrs.cidrs, vtepIp: ip, vtepMac: mac } };
}

/** The node's IPv4 pod CIDRs in canonical form, or why they cannot be routed. */
function podCidrs(texts: string[], cluster: Cidr[]): { cidrs: string[] } | Omit<Skipped, 'node'> {
  const v4: string[] = [];
  for (const text of texts) {
    const cidr = parseCidr(text);
    if (!cidr) return { reason: 'malformed', problem: `has pod CIDR ${quote(text)}, which is not a CIDR` };
    if (cidr.family !== 4) continue;
    if (!cidrWithin(cidr, cluster)) return { reason: 'malformed', problem: `has pod CIDR ${formatCidr(cidr)} outside the cluster network` };
    // Its network address is the next hop every route to it goes via.
    const via = unicastProblem({ family: 4, value: cidr.network });
    if (via) return { reason: 'malformed', problem: `has pod CIDR ${formatCidr(cidr)}, whose network address is ${via}` };
    v4.push(formatCidr(cidr));
  }
  if (v4.length === 0) return { reason: 'not-ready', problem: 'has no IPv4 pod CIDR yet' };
  return { cidrs: v4 };
}
