// From the API server's view of the nodes to the peers the overlay programs.
// A node that is not ready yet (no pod CIDR, no VTEP) is waited for; one with
// a value that cannot be used is skipped and reported, and never disturbs the
// others. Every value a peer carries is parsed here and given back in
// canonical form: nothing reaches a kernel command as the Node wrote it.
import { parseVteps, VTEP_KEYS } from '../k8s/annotations.ts';
import { type Cidr, cidrWithin, FAMILIES, type Family, formatCidr, parseAddress, parseCidr } from '../net/address.ts';
import { quote } from '../text/quote.ts';
import { carrierFamily } from './route-choice.ts';
import type { Peer, Skipped } from './types.ts';
import { unicastProblem, type VtepContext, vtepIpProblem, vtepMacOwnerProblem, vtepMacProblem } from './vtep-checks.ts';

/** The parts of a Node the overlay reads (the node watch's NodeInfo has them). */
export type NodeView = { name: string; podCidrs: string[]; annotations: Record<string, string>; created?: number };

/** This node, as the judge of every other. */
export type SelfView = {
  node: string;
  clusterCidrs: Cidr[];
  /** This node's underlay of each family it has: at least one. */
  underlays: { 4?: VtepContext; 6?: VtepContext };
};

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
  const parsed = parseVteps(node.annotations);
  if ('problem' in parsed) {
    const annotated = Object.keys(node.annotations).some((k) => k.startsWith('weft.dev/vtep'));
    return { reason: annotated ? 'malformed' : 'not-ready', problem: parsed.problem };
  }
  const { vteps } = parsed;
  for (const family of FAMILIES) {
    const vtep = vteps[family];
    if (!vtep) continue;
    const keys = VTEP_KEYS[family];
    const ipProblem = vtepIpProblem(parseAddress(vtep.ip)!, self.underlays[family]);
    if (ipProblem) return { reason: 'malformed', problem: `has VTEP address ${vtep.ip} (${keys.ip}), which ${ipProblem}` };
    const macProblem = vtepMacProblem(vtep.mac) ?? vtepMacOwnerProblem(vtep.mac, node.name, family);
    if (macProblem) return { reason: 'malformed', problem: `has VTEP MAC ${vtep.mac} (${keys.mac}), which ${macProblem}` };
  }
  // Either pod family finds a carrier exactly when the two share an underlay family.
  if (carrierFamily(4, self.underlays, vteps) === undefined) {
    // It may gain one (its weftd finds another underlay); until then no packet can reach it.
    const its = FAMILIES.filter((f) => vteps[f]);
    const ours = FAMILIES.filter((f) => self.underlays[f]);
    return {
      reason: 'not-ready',
      problem: `has no VTEP of a family this node's underlay has (it has ${familyNames(its)} only, this node ${familyNames(ours)})`,
    };
  }
  // No creation time sorts last: such a node never takes a CIDR from one that has one.
  return { peer: { node: node.name, created: node.created ?? Number.MAX_SAFE_INTEGER, podCidrs: cidrs.cidrs, vteps } };
}

const familyNames = (families: readonly Family[], joiner = ' and '): string => families.map((f) => `IPv${f}`).join(joiner);

/** The node's pod CIDRs of the cluster's families in canonical form, or why they cannot be routed. */
function podCidrs(texts: string[], cluster: Cidr[]): { cidrs: string[] } | Omit<Skipped, 'node'> {
  const families = FAMILIES.filter((f) => cluster.some((c) => c.family === f));
  const usable: string[] = [];
  for (const text of texts) {
    const cidr = parseCidr(text);
    if (!cidr) return { reason: 'malformed', problem: `has pod CIDR ${quote(text)}, which is not a CIDR` };
    // A family the cluster network does not have is not weft's to route.
    if (!families.includes(cidr.family)) continue;
    if (!cidrWithin(cidr, cluster)) return { reason: 'malformed', problem: `has pod CIDR ${formatCidr(cidr)} outside the cluster network` };
    // Its network address is the next hop every route to it goes via.
    const via = unicastProblem({ family: cidr.family, value: cidr.network });
    if (via) return { reason: 'malformed', problem: `has pod CIDR ${formatCidr(cidr)}, whose network address is ${via}` };
    usable.push(formatCidr(cidr));
  }
  if (usable.length === 0) return { reason: 'not-ready', problem: `has no ${familyNames(families, ' or ')} pod CIDR yet` };
  return { cidrs: usable };
}
