// Peers the kernel refused, remembered between passes. An event pass does
// not offer one to the kernel again (it would refuse it again, on every Node
// event in the cluster); it is tried again when its Node changes, and on
// every periodic pass, which re-reads the kernel anyway.
import type { Refusal } from './reconcile.ts';
import type { Peer, Skipped } from './types.ts';

export type Refusals = ReadonlyMap<string, { fingerprint: string; reason: string }>;

/** What the kernel was offered for a peer; a change in any of it is worth a new try. */
export function fingerprint(p: Peer): string {
  return `${p.podCidrs.join(',')} ${p.vteps[4]?.ip} ${p.vteps[4]?.mac} ${p.vteps[6]?.ip} ${p.vteps[6]?.mac}`;
}

/** The peers to offer the kernel, and those held back as refused before (none when `retryAll`). */
export function holdRefused(peers: Peer[], refusals: Refusals, retryAll: boolean): { attempt: Peer[]; held: Skipped[] } {
  if (retryAll || refusals.size === 0) return { attempt: peers, held: [] };
  const attempt: Peer[] = [];
  const held: Skipped[] = [];
  for (const peer of peers) {
    const before = refusals.get(peer.node);
    if (before && before.fingerprint === fingerprint(peer)) held.push({ node: peer.node, reason: 'kernel-refused', problem: refusedProblem(before.reason) });
    else attempt.push(peer);
  }
  return { attempt, held };
}

/** The refusals after a pass: those held back, and those the kernel refused now. */
export function nextRefusals(refusals: Refusals, held: Skipped[], refused: Refusal[], attempted: Peer[]): Refusals {
  const next = new Map<string, { fingerprint: string; reason: string }>();
  for (const s of held) next.set(s.node, refusals.get(s.node)!);
  const byNode = new Map(attempted.map((p) => [p.node, p]));
  for (const r of refused) next.set(r.node, { fingerprint: fingerprint(byNode.get(r.node)!), reason: r.reason });
  return next;
}

export function refusedProblem(reason: string): string {
  return `was refused by the kernel (${reason}); it is tried again when its Node changes and on every periodic resync`;
}
