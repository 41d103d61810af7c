// The overlay's passes, with what weftd remembers between them: which peers
// the kernel holds (so a Node event need not re-read it), which peers the
// kernel refused, and what it has logged. A full pass (start-up, the
// periodic resync, and any pass after one that failed) reads the kernel and
// repairs it for every node; an event pass handles only the Nodes that
// changed, and whichever nodes won or lost a claim because of them.
import { createBatchCoprocess } from '../linux/batch-coprocess.ts';
import { FAMILIES, familyOfText } from '../net/address.ts';
import { type ClaimTable, createClaimTable } from '../overlay/claim-table.ts';
import type { Own } from '../overlay/claims.ts';
import { peerEntries } from '../overlay/desired.ts';
import type { VxlanSpec } from '../overlay/device.ts';
import { type NodeView, type SelfView, type Verdict, verdictOf } from '../overlay/peers.ts';
import { type ReconcileResult, reconcileOverlay } from '../overlay/reconcile.ts';
import { holdRefused, nextRefusals, type Refusals, refusedProblem } from '../overlay/refusals.ts';
import { type LocalView, reachableVteps } from '../overlay/route-choice.ts';
import { type OverlayState, type Peer, SKIP_REASONS, type Skipped } from '../overlay/types.ts';
import type { createMetrics } from './metrics.ts';
import type { PassKind } from './scheduler.ts';
import { type SkipLog, skipLogLines } from './skip-log.ts';
import type { PeerVteps } from './vxlan-ingress.ts';

export type OverlayPassSetup = {
  /** The VXLAN devices, one per underlay family. */
  specs: VxlanSpec[];
  local: LocalView;
  self: SelfView;
  own: Own;
  metrics: ReturnType<typeof createMetrics>;
  log: (msg: string) => void;
  /** How long a batch may go unanswered before its process counts as wedged; default 10000. */
  batchTimeoutMs?: number;
};

/** Nodes that changed since the last pass, by name: the Node as it is now, or undefined when it is gone. */
export type NodeChanges = ReadonlyMap<string, NodeView | undefined>;

export type OverlayPass = {
  /**
   * A periodic pass, or one when nothing is known of the kernel, reads the
   * kernel and covers every node in `nodes()`; any other covers `changes`.
   */
  run(kind: PassKind, changes: NodeChanges, nodes: () => NodeView[]): Promise<ReconcileResult | undefined>;
  /** Every other node the last pass left out, by name. */
  skipped(): Skipped[];
  /**
   * The underlay (VTEP) addresses of the peers programmed now, of both
   * families, and those that came or went since the last call (which takes
   * them): what the VXLAN ingress filter needs, at an event's own cost.
   */
  takePeerVteps(): PeerVteps;
  close(): void;
};

export function createOverlayPass({ specs, local, self, own, metrics, log, batchTimeoutMs }: OverlayPassSetup): OverlayPass {
  const restarted = (why: string) => log(`restarted the batch process after: ${why}`);
  const batches = {
    ip: createBatchCoprocess('ip', { timeoutMs: batchTimeoutMs, onRestart: restarted }),
    bridge: createBatchCoprocess('bridge', { timeoutMs: batchTimeoutMs, onRestart: restarted }),
  };
  const renew = (): void => {
    batches.ip.close();
    batches.bridge.close();
  };
  const run = { ip: batches.ip.run, bridge: batches.bridge.run, renew };
  const claims: ClaimTable = createClaimTable(own, self.clusterCidrs);
  // The peers whose entries the kernel holds, by node; undefined while
  // unknown (at start, and after a pass that failed or could not tell), which
  // makes the next pass a full one.
  let programmed: Map<string, Peer> | undefined;
  let refusals: Refusals = new Map();
  let logged: SkipLog = new Map();
  let skipped: Skipped[] = [];
  // The programmed peers' VTEP addresses, each with how many peers use it,
  // and their pod CIDRs by family, kept per event so that an event costs its
  // own nodes, not the cluster.
  const vtepUsers = new Map<string, number>();
  // The VTEPs that came or went since the ingress filter last took them.
  let touchedVteps = new Set<string>();
  const podCidrCounts = { 4: 0, 6: 0 };
  const countPeer = (peer: Peer, by: 1 | -1): void => {
    for (const cidr of peer.podCidrs) podCidrCounts[familyOfText(cidr)] += by;
    for (const ip of reachableVteps(peer, local)) {
      const n = (vtepUsers.get(ip) ?? 0) + by;
      if (n === 0 || (by === 1 && n === 1)) touchedVteps.add(ip);
      if (n === 0) vtepUsers.delete(ip);
      else vtepUsers.set(ip, n);
    }
  };
  const invalid = new Map<string, Skipped>();
  const verdicts = new WeakMap<NodeView, Verdict>();

  /** Takes one node's verdict into `invalid`, and gives its peer (or undefined) for the claims. */
  const judge = (name: string, node: NodeView | undefined): Peer | undefined => {
    invalid.delete(name);
    if (!node || name === self.node) return undefined;
    const verdict = verdictOf(node, self, verdicts);
    if ('peer' in verdict) return verdict.peer;
    invalid.set(name, { node: name, ...verdict });
    return undefined;
  };

  type Outcome = { result: ReconcileResult; programmed: Map<string, Peer> };

  async function full(kind: PassKind, nodes: NodeView[]): Promise<Outcome> {
    // Every node known before and every node now: the ones gone drop out.
    const changes = new Map<string, Peer | undefined>(claims.acceptedPeers().map((p) => [p.node, undefined]));
    for (const c of claims.conflicts()) changes.set(c.node, undefined);
    for (const name of invalid.keys()) changes.set(name, undefined);
    invalid.clear();
    for (const node of nodes) changes.set(node.name, judge(node.name, node));
    claims.update(changes);
    const { attempt, held } = holdRefused(claims.acceptedPeers(), refusals, kind === 'periodic');
    const result = await reconcileOverlay(specs, attempt, local, log, run);
    refusals = nextRefusals(refusals, held, result.refused, attempt);
    for (const ip of vtepUsers.keys()) touchedVteps.add(ip);
    vtepUsers.clear();
    podCidrCounts[4] = podCidrCounts[6] = 0;
    for (const peer of result.programmed) countPeer(peer, 1);
    return { result, programmed: new Map(result.programmed.map((p) => [p.node, p])) };
  }

  async function incremental(changes: NodeChanges, known: Map<string, Peer>): Promise<Outcome> {
    const peerChanges = new Map<string, Peer | undefined>();
    for (const [name, node] of changes) peerChanges.set(name, judge(name, node));
    const touched = claims.update(peerChanges);
    const winners: Peer[] = [];
    const before: OverlayState = { neighbors: [], fdb: [], routes: [] };
    for (const name of touched) {
      const peer = claims.accepted(name);
      if (peer) winners.push(peer);
      const was = known.get(name);
      if (!was) continue;
      const entries = peerEntries(was, local);
      before.neighbors.push(...entries.neighbors);
      before.fdb.push(...entries.fdb);
      before.routes.push(...entries.routes);
    }
    const { attempt, held } = holdRefused(winners, refusals, false);
    const result = await reconcileOverlay(specs, attempt, local, log, run, before);
    // The refusals of the nodes this pass decided on start over; the rest stand.
    const decided = nextRefusals(refusals, held, result.refused, attempt);
    refusals = new Map([...[...refusals].filter(([name]) => !touched.has(name)), ...decided]);
    for (const name of touched) {
      const was = known.get(name);
      if (was) countPeer(was, -1);
      known.delete(name);
    }
    for (const peer of result.programmed) {
      countPeer(peer, 1);
      known.set(peer.node, peer);
    }
    return { result, programmed: known };
  }

  return {
    async run(kind, changes, nodes) {
      const known = programmed;
      if (kind !== 'periodic' && known && changes.size === 0) return undefined;
      const started = process.hrtime.bigint();
      // A pass that throws leaves the kernel unknown: the next one reads it.
      programmed = undefined;
      let outcome: Outcome;
      try {
        outcome = kind === 'periodic' || !known ? await full(kind, nodes()) : await incremental(changes, known);
      } catch (err) {
        // The processes may hold what made it fail (a device index gone stale).
        renew();
        throw err;
      }
      const { result } = outcome;
      // A failed removal may have left more in the kernel than weftd knows of.
      if (result.exact) programmed = outcome.programmed;

      const refused: Skipped[] = [...refusals].map(([node, r]) => ({ node, reason: 'kernel-refused', problem: refusedProblem(r.reason) }));
      skipped = [...invalid.values(), ...claims.conflicts(), ...refused].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));

      metrics.reconcileSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      for (const d of result.devices) if (d.action !== 'unchanged') metrics.deviceRecreated.inc({ action: d.action, device: d.name });
      metrics.entriesAdded.inc(result.added);
      metrics.entriesRemoved.inc(result.removed);
      if (kind === 'periodic' && result.devices.every((d) => d.action === 'unchanged')) metrics.driftRepaired.inc(result.added + result.removed);
      const programmedPeers = outcome.programmed.size;
      metrics.peers.set(programmedPeers);
      for (const family of FAMILIES) metrics.podCidrs.set({ family }, podCidrCounts[family]);
      for (const reason of SKIP_REASONS) metrics.skippedNodes.set({ reason }, skipped.filter((s) => s.reason === reason).length);

      const { lines, after } = skipLogLines(logged, skipped);
      logged = after;
      for (const line of lines) log(line);
      if (result.added + result.removed > 0) log(`programmed ${programmedPeers} peers: ${result.added} entries added, ${result.removed} removed (${kind})`);
      return result;
    },
    skipped: () => skipped,
    takePeerVteps() {
      const touched = touchedVteps;
      touchedVteps = new Set();
      return { all: vtepUsers, touched };
    },
    close: renew,
  };
}
