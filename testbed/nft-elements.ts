// What weft's nftables tables hold for one pod, read with nft as an operator
// would: the anti-spoofing elements keyed by its host veth, and whether its
// address is in the masquerade set.

import { sh } from './shell.ts';

type Listed = { set?: { name: string; elem?: unknown[] } };

async function setElements(family: string, table: string): Promise<{ set: string; key: string[] }[]> {
  const r = await sh('nft', ['-j', 'list', 'table', family, table]);
  if (r.exitCode !== 0) return [];
  const listed = (JSON.parse(r.stdout) as { nftables: Listed[] }).nftables;
  // A prefix or range element (the masquerade's keep sets) is kept as its JSON.
  const key = (e: unknown) => (typeof e === 'string' ? [e] : ((e as { concat?: string[] }).concat ?? [JSON.stringify(e)]));
  return listed.flatMap((o) => (o.set?.elem ?? []).map((e) => ({ set: o.set!.name, key: key(e) })));
}

/** "set key . key" for each anti-spoofing element of `hostVeth`, sorted. */
export async function antispoofElementsOf(hostVeth: string): Promise<string[]> {
  return (await setElements('bridge', 'weft-antispoof'))
    .filter((e) => e.key[0] === hostVeth)
    .map((e) => `${e.set} ${e.key.join(' . ')}`)
    .sort();
}

/** Whether `address` is in weft's per-pod masquerade sources. */
export async function isMasqueraded(address: string): Promise<boolean> {
  return (await setElements('inet', 'weft-pod-masq')).some((e) => e.set.startsWith('sources') && e.key[0] === address);
}
