// Node-wide masquerade (--ip-masq): pod traffic leaving the cluster network
// takes the node's address; pod-to-pod traffic keeps the pod's. Also accepts
// the forwarding of pod traffic, which a default-drop FORWARD policy would
// lose: by the interface it arrives on and by connection state, never by
// destination alone, and after the operator's and kube-proxy's own rules.

import { type ChainRules, ensureChains, type Jump, type Rule } from '../linux/iptables.ts';
import { type Cidr, formatCidr } from '../net/address.ts';
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
  /** The VXLAN device: peers' pods and hosts, after the VXLAN ingress filter. */
  overlay: string;
  /** With direct routing: the underlay device, and the subnet its peers are on. */
  direct?: { dev: string; subnet: Cidr };
};

const comment = (text: string): Rule => ['-m', 'comment', '--comment', text];

function forwardRules(cidrs: string[], via: PodInterfaces): Rule[] {
  const rules: Rule[] = [];
  for (const cidr of cidrs) {
    // Replies either way, and connections kube-proxy sent to a pod (Services, NodePorts).
    rules.push(['-d', cidr, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED,DNAT', ...comment('weft:replies-and-services-to-pods'), '-j', 'ACCEPT']);
    rules.push(['-s', cidr, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...comment('weft:replies-from-pods'), '-j', 'ACCEPT']);
    rules.push(['-i', via.bridge, '-s', cidr, ...comment('weft:from-this-nodes-pods'), '-j', 'ACCEPT']);
    // Peers' hosts reach pods from their own underlay address, not a pod's.
    rules.push(['-i', via.overlay, '-d', cidr, ...comment('weft:from-the-overlay-to-pods'), '-j', 'ACCEPT']);
    if (via.direct) {
      const dev = via.direct.dev;
      rules.push(['-i', dev, '-s', cidr, '-d', cidr, ...comment('weft:from-direct-peers-pods'), '-j', 'ACCEPT']);
      rules.push(['-i', dev, '-s', formatCidr(via.direct.subnet), '-d', cidr, ...comment('weft:from-direct-peers-hosts'), '-j', 'ACCEPT']);
    }
  }
  return rules;
}

export function masqueradeChains(clusterCidrs: Cidr[], via: PodInterfaces): { chains: ChainRules[]; jumps: Jump[] } {
  const nat: Rule[] = [];
  const cidrs = clusterCidrs.map(formatCidr);
  for (const cidr of cidrs) {
    nat.push(['-s', cidr, '-d', cidr, ...comment('weft:pod-to-pod-keeps-its-address'), '-j', 'RETURN']);
  }
  for (const cidr of cidrs) {
    nat.push(['-s', cidr, '!', '-d', '224.0.0.0/4', ...comment('weft:pod-traffic-leaving-the-cluster'), '-j', 'MASQUERADE', '--random-fully']);
  }
  return {
    chains: [
      { table: 'nat', chain: NAT_CHAIN, rules: nat },
      { table: 'filter', chain: FORWARD_CHAIN, rules: forwardRules(cidrs, via) },
    ],
    jumps: [
      { table: 'nat', from: 'POSTROUTING', to: NAT_CHAIN, comment: 'weft-masquerade', at: 'top' },
      { table: 'filter', from: 'FORWARD', to: FORWARD_CHAIN, comment: FORWARD_JUMP, at: 'end', replaces: [LEGACY_FORWARD_JUMP] },
    ],
  };
}

/**
 * Asserts the chains on the first pass and on periodic ones (drift repair);
 * nothing changes them in between, so event passes spawn no iptables.
 */
export function createNodeMasquerade(clusterCidrs: Cidr[], via: PodInterfaces): { keep(kind: PassKind): void } {
  const { chains, jumps } = masqueradeChains(clusterCidrs, via);
  let asserted = false;
  return {
    keep(kind) {
      if (asserted && kind !== 'periodic') return;
      asserted = false;
      ensureChains(chains, jumps);
      asserted = true;
    },
  };
}
