// Node-wide masquerade (--ip-masq): pod traffic leaving the cluster network
// takes the node's address; pod-to-pod traffic keeps the pod's. Also accepts
// the forwarding of pod traffic, which a default-drop FORWARD policy would
// lose: by the interface it arrives on and by connection state, never by
// destination alone, and after the operator's and kube-proxy's own rules.
// The same chains for each family the cluster has, in that family's tables
// (iptables, ip6tables); a family the cluster lacks gets nothing.

import { type ChainRules, ensureChains, type Rule, type Ruleset } from '../linux/iptables.ts';
import { type Cidr, FAMILIES, type Family, formatCidr } from '../net/address.ts';
import type { DirectRoute } from '../overlay/route-choice.ts';
import type { PassKind } from './scheduler.ts';

export const NAT_CHAIN = 'WEFT-POSTROUTING';
export const FORWARD_CHAIN = 'WEFT-FORWARD';
/** The FORWARD jump's comment; `weft-forward` marked the jump older weftds inserted at the top. */
export const FORWARD_JUMP = 'weft-forward-appended';
const LEGACY_FORWARD_JUMP = 'weft-forward';

/** The interfaces pod traffic may arrive on. */
export type PodInterfaces = {
  /** The plugin's node bridge: this node's pods. */
  bridge: string;
  /** The VXLAN devices, one per underlay family; either carries pods of both families. After the VXLAN ingress filter. */
  overlays: string[];
  /** With direct routing: one per underlay family; a pod family goes direct only over its own. */
  direct?: DirectRoute[];
};

const MULTICAST: Record<Family, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };
// Destinations that stay on their link. IPv4's link-local block is not one:
// cloud metadata services (169.254.169.254) answer pods only when masqueraded.
const ON_LINK: Record<Family, string[]> = { 4: [], 6: ['fe80::/10'] };

const comment = (text: string): Rule => ['-m', 'comment', '--comment', text];

function forwardRules(family: Family, cidrs: string[], via: PodInterfaces): Rule[] {
  const direct = (via.direct ?? []).filter((d) => d.subnet.family === family);
  const rules: Rule[] = [];
  for (const cidr of cidrs) {
    // Replies either way, and connections kube-proxy sent to a pod (Services, NodePorts).
    rules.push(['-d', cidr, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED,DNAT', ...comment('weft:replies-and-services-to-pods'), '-j', 'ACCEPT']);
    rules.push(['-s', cidr, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...comment('weft:replies-from-pods'), '-j', 'ACCEPT']);
    rules.push(['-i', via.bridge, '-s', cidr, ...comment('weft:from-this-nodes-pods'), '-j', 'ACCEPT']);
    // Peers' hosts reach pods from their own underlay address, not a pod's.
    for (const overlay of via.overlays) rules.push(['-i', overlay, '-d', cidr, ...comment('weft:from-the-overlay-to-pods'), '-j', 'ACCEPT']);
    for (const { dev, subnet } of direct) {
      rules.push(['-i', dev, '-s', cidr, '-d', cidr, ...comment('weft:from-direct-peers-pods'), '-j', 'ACCEPT']);
      rules.push(['-i', dev, '-s', formatCidr(subnet), '-d', cidr, ...comment('weft:from-direct-peers-hosts'), '-j', 'ACCEPT']);
    }
  }
  return rules;
}

/** weft's chains and jumps in one family's tables, for the cluster CIDRs of that family. */
export function masqueradeChains(clusterCidrs: Cidr[], via: PodInterfaces, family: Family = 4): Ruleset {
  const cidrs = clusterCidrs.filter((c) => c.family === family).map(formatCidr);
  const nat: Rule[] = [];
  for (const cidr of cidrs) {
    nat.push(['-s', cidr, '-d', cidr, ...comment('weft:pod-to-pod-keeps-its-address'), '-j', 'RETURN']);
  }
  for (const cidr of cidrs) {
    for (const onLink of ON_LINK[family]) nat.push(['-s', cidr, '-d', onLink, ...comment('weft:link-local-stays-on-its-link'), '-j', 'RETURN']);
    nat.push(['-s', cidr, '!', '-d', MULTICAST[family], ...comment('weft:pod-traffic-leaving-the-cluster'), '-j', 'MASQUERADE', '--random-fully']);
  }
  const chains: ChainRules[] = [
    { table: 'nat', chain: NAT_CHAIN, rules: nat },
    { table: 'filter', chain: FORWARD_CHAIN, rules: forwardRules(family, cidrs, via) },
  ];
  return {
    family,
    chains,
    jumps: [
      { table: 'nat', from: 'POSTROUTING', to: NAT_CHAIN, comment: 'weft-masquerade', at: 'top' },
      { table: 'filter', from: 'FORWARD', to: FORWARD_CHAIN, comment: FORWARD_JUMP, at: 'end', replaces: [LEGACY_FORWARD_JUMP] },
    ],
  };
}

/** One ruleset per family of the cluster CIDRs, IPv4 first; none for a family the cluster lacks. */
export function masqueradeRulesets(clusterCidrs: Cidr[], via: PodInterfaces): Ruleset[] {
  return FAMILIES.filter((family) => clusterCidrs.some((c) => c.family === family)).map((family) => masqueradeChains(clusterCidrs, via, family));
}

/**
 * Asserts the chains on the first pass and on periodic ones (drift repair);
 * nothing changes them in between, so event passes spawn no iptables.
 */
export function createNodeMasquerade(clusterCidrs: Cidr[], via: PodInterfaces): { keep(kind: PassKind): void } {
  const rulesets = masqueradeRulesets(clusterCidrs, via);
  let asserted = false;
  return {
    keep(kind) {
      if (asserted && kind !== 'periodic') return;
      asserted = false;
      for (const ruleset of rulesets) ensureChains(ruleset);
      asserted = true;
    },
  };
}
