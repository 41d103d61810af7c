// The claim table decides per event what settling every claim from scratch
// (src/overlay/claims.ts) would: after any sequence of creates, changes and
// deletes, the same peers hold their claims, and every node whose outcome
// moved is among the nodes the event reports.
import test from 'ava';
import { parseCidr } from '../../src/net/address.ts';
import { createClaimTable } from '../../src/overlay/claim-table.ts';
import { resolveClaims } from '../../src/overlay/claims.ts';
import type { Peer } from '../../src/overlay/types.ts';

const own = { node: 'self', podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], vtepMacs: ['0e:00:00:00:00:01', '0e:00:00:00:06:01'] };
const cluster = [parseCidr('10.244.0.0/16')!, parseCidr('fd00:10:244::/56')!];

const peer = (node: string, cidrs: string[], mac: string, created: number, mac6?: string): Peer => ({
  node,
  created,
  podCidrs: cidrs,
  vteps: { 4: { ip: '10.229.0.2', mac }, ...(mac6 ? { 6: { ip: 'fd00:229::2', mac: mac6 } } : {}) },
});

/** A small, seeded generator (mulberry32): the same sequence on every run. */
function random(seed: number) {
  let s = seed;
  return (n: number): number => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
}

test('after each of 3000 random events over both families the table agrees with settling all claims from scratch, and reports every node that moved', (t) => {
  const next = random(7);
  const table = createClaimTable(own, cluster);
  const peers = new Map<string, Peer>();
  let clock = 0;
  // Enough room that most events share nothing (the fast path), little
  // enough that overlaps, shared MACs and clashes with this node's own CIDR
  // come up often, in either family (a dual-stack peer claims one of each).
  const cidr4 = (): string => {
    const prefix = [23, 24, 24, 24, 25][next(5)]!;
    const third = next(40) * (prefix === 23 ? 2 : 1);
    const fourth = prefix === 25 ? next(2) * 128 : 0;
    return `10.244.${third}.${fourth}/${prefix}`;
  };
  const cidr6 = (): string => {
    const prefix = [63, 64, 64, 64, 65][next(5)]!;
    const fourth = next(40) * (prefix === 63 ? 2 : 1);
    return `fd00:10:244:${fourth.toString(16)}:${prefix === 65 ? ['0', '8000'][next(2)] : '0'}::/${prefix}`;
  };
  const cidrOf = (): string[] => [[cidr4()], [cidr6()], [cidr4(), cidr6()]][next(3)]!;
  const mac6Of = (): string | undefined => (next(2) === 0 ? undefined : `0e:00:00:00:06:${10 + next(60)}`);
  let before = new Set<string>();
  for (let step = 0; step < 3000; step++) {
    const changes = new Map<string, Peer | undefined>();
    for (let k = 0, n = 1 + next(3); k < n; k++) {
      const node = `n${next(30)}`;
      const value = next(4) === 0 ? undefined : peer(node, cidrOf(), `0e:00:00:00:01:${10 + next(60)}`, peers.get(node)?.created ?? ++clock, mac6Of());
      changes.set(node, value);
    }
    for (const [node, value] of changes) {
      if (value) peers.set(node, value);
      else peers.delete(node);
    }
    const reported = table.update(changes);
    const truth = resolveClaims([...peers.values()], own);
    const now = new Set(table.acceptedPeers().map((p) => p.node));
    const want = new Set(truth.accepted.map((p) => p.node));
    if ([...now].sort().join() !== [...want].sort().join()) {
      t.fail(`step ${step}: table accepts ${[...now].sort()}, from scratch ${[...want].sort()}`);
      return;
    }
    for (const node of new Set([...now, ...before])) {
      if (now.has(node) !== before.has(node) && !reported.has(node)) {
        t.fail(`step ${step}: ${node} moved but was not reported`);
        return;
      }
    }
    t.deepEqual(
      table
        .conflicts()
        .map((s) => s.node)
        .sort(),
      truth.conflicts.map((s) => s.node).sort(),
    );
    for (const p of truth.accepted) t.is(table.accepted(p.node), p);
    before = now;
  }
});

test('a peer that shares nothing touches only itself; deleting a CIDR holder hands the CIDR to the next oldest', (t) => {
  const table = createClaimTable(own, cluster);
  const a = peer('a', ['10.244.2.0/24'], '0e:00:00:00:00:0a', 1);
  const b = peer('b', ['10.244.2.0/25'], '0e:00:00:00:00:0b', 2);
  const c = peer('c', ['10.244.3.0/24'], '0e:00:00:00:00:0c', 3);
  t.deepEqual([...table.update(new Map([['a', a]]))], ['a']);
  t.deepEqual([...table.update(new Map([['b', b]]))], ['b'], 'b loses to a: only b is decided');
  t.is(table.accepted('b'), undefined);
  t.regex(
    table.conflicts()[0]!.problem,
    /claims pod CIDR 10\.244\.2\.0\/25, which overlaps pod CIDR 10\.244\.2\.0\/24 that node a holds \(it is the older Node\)/,
  );
  t.deepEqual([...table.update(new Map([['c', c]]))], ['c']);
  t.deepEqual([...table.update(new Map([['a', undefined]]))].sort(), ['a', 'b'], "a's deletion hands its CIDR to b");
  t.is(table.accepted('b'), b);
  t.deepEqual(table.conflicts(), []);
  const mine = peer('d', ['10.244.1.128/25'], '0e:00:00:00:00:0d', 4);
  table.update(new Map([['d', mine]]));
  t.is(table.accepted('d'), undefined, "this node's own CIDR is never taken");
});
