// The pod's nftables state, masquerade (`ipMasq`) and anti-spoofing
// (`spoofCheck`), changed in one transaction per verb. On Bun, with
// anti-spoofing alone, that transaction is an nfnetlink batch of set
// elements and costs no process; the table, its sets and rules come from one
// nft script, run only when the kernel says the table or a set is missing
// (the first ADD on a node). Masquerade stays on nft: its `keep` set holds
// intervals, which nft merges in user space before it sends them, so ADD and
// DEL with ipMasq on run one nft process each, anti-spoofing included.

import { ELEMENTS_OVER_NETLINK, type ElementChange, type NftCommand, NftElementsError, nftApply, nftElements, nftList } from '../linux/nft.ts';
import type { Address, Cidr } from '../net/address.ts';
import { kernelError } from './kernel-error.ts';
import type { NetworkConfig } from './network-config.ts';
import {
  ANTISPOOF_TABLE,
  type AntispoofElement,
  type AntispoofListing,
  antispoofChanges,
  antispoofElements,
  antispoofRemovalChanges,
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

/** Whether this verb's elements go over nfnetlink rather than in an nft script. */
const elementsOnly = (conf: Switches) => ELEMENTS_OVER_NETLINK && conf.spoofCheck && !conf.ipMasq;

/** Applies element changes over nfnetlink; false when the table or a set is missing, so none was applied. */
function applyElements(changes: ElementChange[], what: string): boolean {
  try {
    nftElements(changes);
    return true;
  } catch (err) {
    if (err instanceof NftElementsError && err.missing) return false;
    throw kernelError(what, err);
  }
}

/** ADD: `keep` are the destinations the pod reaches with its own address when masquerading. */
export function addPodFirewall(conf: Switches, pod: PodSources, keep: Cidr[]): void {
  const what = `cannot add the pod's ${featureNames(conf)} to nftables`;
  // The rules are not asserted again here: CHECK reports a table whose rules were flushed.
  if (elementsOnly(conf) && applyElements(antispoofChanges('add', antispoofElements(pod)), what)) return;
  apply([...(conf.ipMasq ? masqueradeScript(pod.addresses, keep) : []), ...(conf.spoofCheck ? antispoofScript(pod) : [])], what);
}

/**
 * Elements per removal batch: a batch is one datagram, and a set's elements
 * in it one attribute of at most 64 KiB; GC may remove thousands.
 */
const REMOVAL_SLICE = 256;

/** DEL and GC: removes what is there of it; whatever is already gone is fine. */
export function removePodFirewall(conf: Switches, masqueraded: Address[], antispoof: AntispoofElement[]): void {
  const what = `cannot remove pods' ${featureNames(conf)} from nftables`;
  if (elementsOnly(conf)) {
    for (let i = 0; i < antispoof.length; i += REMOVAL_SLICE) {
      // Missing: no table (a set cannot go while the rules use it), so nothing to remove and nothing to create.
      if (!applyElements(antispoofRemovalChanges(antispoof.slice(i, i + REMOVAL_SLICE)), what)) return;
    }
    return;
  }
  apply([...(conf.ipMasq ? masqueradeRemovalScript(masqueraded) : []), ...(conf.spoofCheck ? antispoofRemovalScript(antispoof) : [])], what);
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
