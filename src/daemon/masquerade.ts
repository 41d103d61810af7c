// Node-wide masquerade (--ip-masq): pod traffic leaving the cluster network
// takes the node's address; pod-to-pod traffic keeps the pod's. Also accepts
// forwarding of pod traffic, which a default-drop FORWARD policy would lose.
import { type ChainRules, type Jump, ensureChains } from '../linux/iptables.ts';

export const NAT_CHAIN = 'WEFT-POSTROUTING';
export const FORWARD_CHAIN = 'WEFT-FORWARD';

export function masqueradeChains(clusterCidrs: string[]): { chains: ChainRules[]; jumps: Jump[] } {
  const nat: string[] = [];
  const forward: string[] = [];
  for (const cidr of clusterCidrs) {
    nat.push(`-s ${cidr} -d ${cidr} -m comment --comment "weft: pod to pod keeps its address" -j RETURN`);
  }
  for (const cidr of clusterCidrs) {
    nat.push(`-s ${cidr} ! -d 224.0.0.0/4 -m comment --comment "weft: pod traffic leaving the cluster network" -j MASQUERADE --random-fully`);
    forward.push(`-s ${cidr} -m comment --comment "weft: forward pod traffic" -j ACCEPT`);
    forward.push(`-d ${cidr} -m comment --comment "weft: forward pod traffic" -j ACCEPT`);
  }
  return {
    chains: [{ table: 'nat', chain: NAT_CHAIN, rules: nat }, { table: 'filter', chain: FORWARD_CHAIN, rules: forward }],
    jumps: [
      { table: 'nat', from: 'POSTROUTING', to: NAT_CHAIN, comment: 'weft masquerade' },
      { table: 'filter', from: 'FORWARD', to: FORWARD_CHAIN, comment: 'weft forward' },
    ],
  };
}

export function ensureMasquerade(clusterCidrs: string[]): void {
  const { chains, jumps } = masqueradeChains(clusterCidrs);
  ensureChains(chains, jumps);
}
