// One reconcile of a set of peers: the difference between the entries they
// call for and what the kernel holds — read from it (start-up, the periodic
// pass, after an error) or known from what weftd programmed (a Node event,
// which passes only the peers it touches). A line the kernel refuses costs
// only the peer it belongs to: that peer is taken out whole and reported,
// every other peer is programmed in the same pass.
import { type ForcedBatch, type LineFailure, runForced } from './batch.ts';
import { desiredState } from './desired.ts';
import { type DeviceAction, ensureDevice, type VxlanSpec } from './device.ts';
import { changeCommands, diffOverlay, removalCommands } from './diff.ts';
import { filterState } from './entry-keys.ts';
import { readNeighbors, readOverlayState, WEFT_ROUTE_PROTOCOL } from './kernel-state.ts';
import type { LocalView } from './route-choice.ts';
import type { OverlayState, Peer } from './types.ts';

/** A peer left out because the kernel refused one of its entries: the line and iproute2's words. */
export type Refusal = { node: string; reason: string };

export type ReconcileResult = {
  /** What became of each VXLAN device (all 'unchanged' on a pass that did not look). */
  devices: { name: string; action: DeviceAction }[];
  added: number;
  removed: number;
  refused: Refusal[];
  /** The peers whose entries the kernel now holds: every one offered but the refused. */
  programmed: Peer[];
  /** False when a removal failed: the kernel may hold more than `programmed`, so the next pass reads it. */
  exact: boolean;
};

/**
 * Which peer each failed line costs. A failed removal costs no peer (the
 * next pass reads the kernel again). A device that is gone, or a weftd that
 * may not change the kernel's tables at all, is no peer's fault: the pass
 * fails, and is retried.
 */
export function chargeFailures(failures: LineFailure[], owners: Map<string, string>): { refused: Map<string, string>; removalFailed: boolean } {
  const refused = new Map<string, string>();
  let removalFailed = false;
  for (const { command, reason } of failures) {
    const line = command.words.join(' ');
    if (/Cannot find device|unknown ifindex|No such device/.test(reason))
      throw new Error(`${line}: ${reason}: a device weftd programs is gone; the next pass recreates it`);
    if (/Operation not permitted/.test(reason))
      throw new Error(`${line}: ${reason}: weftd may not change the kernel's tables; run it as root or with CAP_NET_ADMIN`);
    if (command.op === 'remove') {
      removalFailed = true;
      continue;
    }
    const owner = owners.get(command.key);
    if (owner === undefined) throw new Error(`${line}: ${reason} (no peer owns ${command.key}: this is a bug in weft, report it)`);
    if (!refused.has(owner)) refused.set(owner, `${line}: ${reason}`);
  }
  return { refused, removalFailed };
}

/**
 * Where batch lines go: the long-lived `ip` and `bridge` processes
 * (src/linux/batch-coprocess.ts); `renew` replaces them, which a new device
 * calls for (they keep the old one's index).
 */
export type Batches = { ip: ForcedBatch; bridge: ForcedBatch; renew: () => void };

/**
 * `specs`: the VXLAN devices, one per underlay family. `known`: what the
 * kernel holds for exactly these peers' entries (and for any peer that was
 * taken out since), when weftd knows it. Without it the devices are checked
 * and the kernel read: that is what finds drift and a deleted device.
 */
export async function reconcileOverlay(
  specs: VxlanSpec[],
  peers: Peer[],
  local: LocalView,
  log: (msg: string) => void,
  batches: Batches,
  known?: OverlayState,
): Promise<ReconcileResult> {
  const names = specs.map((s) => s.name);
  const devices = specs.map((spec) => ({ name: spec.name, action: known ? 'unchanged' : ensureDevice(spec, log) }));
  if (devices.some((d) => d.action === 'created' || d.action === 'recreated')) batches.renew();
  const { state: desired, owners } = desiredState(peers, local);
  const actual = known ?? readOverlayState(names);
  const plan = changeCommands(diffOverlay(desired, actual), names, WEFT_ROUTE_PROTOCOL);
  const neighbors = () => readNeighbors(names);
  const { ip, bridge } = batches;

  // Both processes at once: an event costs one pipe round trip, not two. A
  // peer whose FDB entry is refused may get its neighbour and route for that
  // moment; the undo below takes them out again. Additions before removals:
  // no two lines share a key, except a route whose metric changed (an
  // upgrade from a weft that gave every route one metric), and that one keeps
  // its old route until the new one is in.
  const ipLines = [...plan.ipAdds, ...plan.ip];
  const failures = (await Promise.all([runForced(ip, ipLines, neighbors), runForced(bridge, plan.bridge, neighbors)])).flat();
  const { refused, removalFailed } = chargeFailures(failures, owners);

  const taken = (key: string): boolean => !refused.has(owners.get(key)!);
  if (refused.size > 0) {
    // Whatever of a refused peer did go in comes out again; a line that
    // finds nothing to remove is what is expected here.
    const undo = removalCommands(
      filterState(desired, (key) => !taken(key)),
      WEFT_ROUTE_PROTOCOL,
    );
    await runForced(ip, undo.ip, neighbors);
    await runForced(bridge, undo.bridge, neighbors);
  }
  const failed = new Set(failures.map((f) => f.command));
  const adds = [...plan.bridge, ...plan.ipAdds].filter((c) => c.op === 'add');
  const removals = [...plan.ip, ...plan.bridge].filter((c) => c.op === 'remove');
  return {
    devices,
    added: adds.filter((c) => !failed.has(c) && taken(c.key)).length,
    removed: removals.filter((c) => !failed.has(c)).length,
    refused: [...refused].map(([node, reason]) => ({ node, reason })),
    programmed: peers.filter((p) => !refused.has(p.node)),
    exact: !removalFailed,
  };
}
