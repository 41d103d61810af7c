// Node-wide masquerade (--ip-masq): pod traffic leaving the cluster network
// takes the node's address; pod-to-pod traffic keeps the pod's. Also accepts
// forwarding of pod traffic, which a default-drop FORWARD policy would lose.

import { type ChainRules, ensureChains, type Jump, type Rule } from '../linux/iptables.ts';
import { type Cidr, formatCidr } from '../net/address.ts';

export const NAT_CHAIN = 'WEFT-POSTROUTING';
export const FORWARD_CHAIN = 'WEFT-FORWARD';

const comment = (text: string): Rule => ['-m', 'comment', '--comment', text];

export function masqueradeChains(clusterCidrs: Cidr[]): { chains: ChainRules[]; jumps: Jump[] } {
  const nat: Rule[] = [];
  const forward: Rule[] = [];
  const cidrs = clusterCidrs.map(formatCidr);
  for (const cidr of cidrs) {
    nat.push(['-s', cidr, '-d', cidr, ...comment('weft:pod-to-pod-keeps-its-address'), '-j', 'RETURN']);
  }
  for (const cidr of cidrs) {
    nat.push(['-s', cidr, '!', '-d', '224.0.0.0/4', ...comment('weft:pod-traffic-leaving-the-cluster'), '-j', 'MASQUERADE', '--random-fully']);
    forward.push(['-s', cidr, ...comment('weft:forward-pod-traffic'), '-j', 'ACCEPT']);
    forward.push(['-d', cidr, ...comment('weft:forward-pod-traffic'), '-j', 'ACCEPT']);
  }
  return {
    chains: [
      { table: 'nat', chain: NAT_CHAIN, rules: nat },
      { table: 'filter', chain: FORWARD_CHAIN, rules: forward },
    ],
    jumps: [
      { table: 'nat', from: 'POSTROUTING', to: NAT_CHAIN, comment: 'weft-masquerade' },
      { table: 'filter', from: 'FORWARD', to: FORWARD_CHAIN, comment: 'weft-forward' },
    ],
  };
}

export function ensureMasquerade(clusterCidrs: Cidr[]): void {
  const { chains, jumps } = masqueradeChains(clusterCidrs);
  ensureChains(chains, jumps);
}
