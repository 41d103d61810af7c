// Per-pod masquerade for `"ipMasq": true` (weftd masquerades for the whole
// node instead, so this is off by default). One nftables table owned by weft
// holds a set of pod sources and a set of destinations that keep the pod's
// address; ADD and DEL only add and remove set elements, so concurrent
// plugins never race on rules.

import type { NftCommand } from '../linux/nft.ts';
import { type Address, type Cidr, FAMILIES, formatAddress, formatCidr } from '../net/address.ts';

export const MASQ_TABLE = 'weft-pod-masq';

function setName(kind: 'sources' | 'keep', family: 4 | 6): string {
  return `${kind}${family}`;
}

function tableCommands(): NftCommand[] {
  const commands: NftCommand[] = [['add', 'table', 'inet', MASQ_TABLE]];
  for (const family of FAMILIES) {
    const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
    commands.push(
      ['add', 'set', 'inet', MASQ_TABLE, setName('sources', family), '{', 'type', type, ';', '}'],
      ['add', 'set', 'inet', MASQ_TABLE, setName('keep', family), '{', 'type', type, ';', 'flags', 'interval', ';', '}'],
    );
  }
  // Flushing and re-adding the chain's two rules in the same transaction keeps
  // exactly one copy whichever ADD runs first.
  commands.push(
    ['add', 'chain', 'inet', MASQ_TABLE, 'postrouting', '{', 'type', 'nat', 'hook', 'postrouting', 'priority', 'srcnat', ';', 'policy', 'accept', ';', '}'],
    ['flush', 'chain', 'inet', MASQ_TABLE, 'postrouting'],
    ['add', 'rule', 'inet', MASQ_TABLE, 'postrouting', 'ip', 'saddr', '@sources4', 'ip', 'daddr', '!=', '@keep4', 'masquerade'],
    ['add', 'rule', 'inet', MASQ_TABLE, 'postrouting', 'ip6', 'saddr', '@sources6', 'ip6', 'daddr', '!=', '@keep6', 'masquerade'],
  );
  return commands;
}

/** `keep`: destinations reached with the pod's own address (pod subnets, the cluster network). */
export function masqueradeScript(sources: Address[], keep: Cidr[]): NftCommand[] {
  return [
    ...tableCommands(),
    ...keep.map((cidr) => elementCommand('add', 'keep', cidr.family, formatCidr(cidr))),
    ...sources.map((address) => elementCommand('add', 'sources', address.family, formatAddress(address))),
  ];
}

/**
 * DEL and GC: each source added, then deleted, in one transaction, so the
 * removal succeeds whether or not the element (or the table) was there.
 */
export function masqueradeRemovalScript(sources: Address[]): NftCommand[] {
  if (sources.length === 0) return [];
  const elements = (verb: 'add' | 'delete') => sources.map((a) => elementCommand(verb, 'sources', a.family, formatAddress(a)));
  return [...tableCommands(), ...elements('add'), ...elements('delete')];
}

function elementCommand(verb: 'add' | 'delete', kind: 'sources' | 'keep', family: 4 | 6, value: string): NftCommand {
  return [verb, 'element', 'inet', MASQ_TABLE, setName(kind, family), '{', value, '}'];
}
