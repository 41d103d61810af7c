// One pass from the Node list to the kernel, with what weftd remembers
// between passes: what it programmed (so an event pass need not re-read the
// kernel), which peers the kernel refused, and what it has logged.

import { type Own, resolveClaims } from '../overlay/claims.ts';
import type { LocalView } from '../overlay/desired.ts';
import type { VxlanSpec } from '../overlay/device.ts';
import { type NodeView, peersFromNodes, type SelfView, type Verdict } from '../overlay/peers.ts';
import { type ReconcileResult, reconcileOverlay } from '../overlay/reconcile.ts';
import { holdRefused, nextRefusals, type Refusals, refusedProblem } from '../overlay/refusals.ts';
import { type OverlayState, SKIP_REASONS, type Skipped } from '../overlay/types.ts';
import type { createMetrics } from './metrics.ts';
import type { PassKind } from './scheduler.ts';
import { type SkipLog, skipLogLines } from './skip-log.ts';

export type OverlayPassSetup = {
  spec: VxlanSpec;
  local: LocalView;
  self: SelfView;
  own: Own;
  metrics: ReturnType<typeof createMetrics>;
  log: (msg: string) => void;
};

export type OverlayPass = {
  run(nodes: NodeView[], kind: PassKind): ReconcileResult;
  /** Every other node the last pass left out, by name. */
  skipped(): Skipped[];
};

export function createOverlayPass({ spec, local, self, own, metrics, log }: OverlayPassSetup): OverlayPass {
  // Cleared before each pass, so a pass that throws makes the next one re-read.
  let known: OverlayState | undefined;
  let refusals: Refusals = new Map();
  let logged: SkipLog = new Map();
  let skipped: Skipped[] = [];
  const verdicts = new WeakMap<NodeView, Verdict>();

  return {
    run(nodes, kind) {
      const started = process.hrtime.bigint();
      const { peers, skipped: invalid } = peersFromNodes(nodes, self, verdicts);
      const { accepted, conflicts } = resolveClaims(peers, own);
      const { attempt, held } = holdRefused(accepted, refusals, kind === 'periodic');
      const prior = kind === 'event' ? known : undefined;
      known = undefined;
      const result = reconcileOverlay(spec, attempt, local, log, prior);
      known = result.exact ? result.programmed : undefined;
      refusals = nextRefusals(refusals, held, result.refused, attempt);
      const refusedNow: Skipped[] = result.refused.map((r) => ({ node: r.node, reason: 'kernel-refused', problem: refusedProblem(r.reason) }));
      skipped = [...invalid, ...conflicts, ...held, ...refusedNow].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));

      metrics.reconcileSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      if (result.device !== 'unchanged') metrics.deviceRecreated.inc({ action: result.device });
      metrics.entriesAdded.inc(result.added);
      metrics.entriesRemoved.inc(result.removed);
      if (kind === 'periodic' && result.device === 'unchanged') metrics.driftRepaired.inc(result.added + result.removed);
      const programmedPeers = attempt.length - result.refused.length;
      metrics.peers.set(programmedPeers);
      for (const reason of SKIP_REASONS) metrics.skippedNodes.set({ reason }, skipped.filter((s) => s.reason === reason).length);

      const { lines, after } = skipLogLines(logged, skipped);
      logged = after;
      for (const line of lines) log(line);
      if (result.added + result.removed > 0) log(`programmed ${programmedPeers} peers: ${result.added} entries added, ${result.removed} removed (${kind})`);
      return result;
    },
    skipped: () => skipped,
  };
}
