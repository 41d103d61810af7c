// The pod's nftables state, masquerade (`ipMasq`) and anti-spoofing
// (`spoofCheck`), changed in one nft transaction per verb: the plugin's cost
// per pod is one process whatever is on, and none when both are off.

import { type NftCommand, nftApply, nftList } from '../linux/nft.ts';
import type { Address, Cidr } from '../net/address.ts';
import { kernelError } from './kernel-error.ts';
import type { NetworkConfig } from './network-config.ts';
import {
  ANTISPOOF_TABLE,
  type AntispoofElement,
  type AntispoofListing,
  antispoofRemovalScript,
  antispoofScript,
  type PodSources,
  parseAntispoofListing,
} from './pod-antispoof.ts';
import { masqueradeRemovalScript, masqueradeScript } from './pod-masquerade.ts';

type Switches = Pick<NetworkConfig, 'ipMasq' | 'spoofCheck'>;

function featureNames(conf: Switches): string {
  return [conf.ipMasq ? 'masquerade' : '', conf.spoofCheck ? 'anti-spoofing' : ''].filter(Boolean).join(' and ');
}

function apply(script: NftCommand[], what: string): void {
  if (script.length === 0) return;
  try {
    nftApply(script);
  } catch (err) {
    throw kernelError(what, err);
  }
}

/** ADD: `keep` are the destinations the pod reaches with its own address when masquerading. */
export function addPodFirewall(conf: Switches, pod: PodSources, keep: Cidr[]): void {
  apply(
    [...(conf.ipMasq ? masqueradeScript(pod.addresses, keep) : []), ...(conf.spoofCheck ? antispoofScript(pod) : [])],
    `cannot add the pod's ${featureNames(conf)} to nftables`,
  );
}

/** DEL and GC: removes what is there of it; whatever is already gone is fine. */
export function removePodFirewall(conf: Switches, masqueraded: Address[], antispoof: AntispoofElement[]): void {
  apply(
    [...(conf.ipMasq ? masqueradeRemovalScript(masqueraded) : []), ...(conf.spoofCheck ? antispoofRemovalScript(antispoof) : [])],
    `cannot remove pods' ${featureNames(conf)} from nftables`,
  );
}

/** The anti-spoofing table as it is, or undefined when there is none. */
export function readAntispoof(): AntispoofListing | undefined {
  try {
    const listed = nftList(['table', 'bridge', ANTISPOOF_TABLE]);
    return listed && parseAntispoofListing(listed);
  } catch (err) {
    throw kernelError(`cannot list table bridge ${ANTISPOOF_TABLE}`, err);
  }
}
