// One reconcile pass: device, then the difference between the entries the
// peers call for and the ones the kernel holds. Start-up, informer events and
// the periodic resync all run exactly this.
import { bridgeBatch, ipBatch } from '../linux/ip.ts';
import { type Conflict, type LocalView, desiredState } from './desired.ts';
import { type DeviceAction, type VxlanSpec, ensureDevice } from './device.ts';
import { changeCommands, diffOverlay } from './diff.ts';
import { WEFT_ROUTE_PROTOCOL, readOverlayState } from './kernel-state.ts';
import type { OverlayState, Peer } from './types.ts';

export type ReconcileResult = {
  device: DeviceAction;
  added: number;
  removed: number;
  conflicts: Conflict[];
  /** What the kernel now holds (desired, when every command succeeded). */
  programmed: OverlayState;
};

function count(s: OverlayState): number {
  return s.neighbors.length + s.fdb.length + s.routes.length;
}

/**
 * `known`: what the previous pass programmed, when it succeeded. An event
 * pass diffs against it instead of re-reading the kernel (three processes and
 * a dump of every entry); the periodic pass always reads the kernel, and is
 * what finds drift and a deleted device.
 */
export function reconcileOverlay(spec: VxlanSpec, peers: Peer[], local: LocalView, log: (msg: string) => void, known?: OverlayState): ReconcileResult {
  const device = known ? 'unchanged' : ensureDevice(spec, log);
  const { state: desired, conflicts } = desiredState(peers, local);
  const actual = known ?? readOverlayState(spec.name);
  const changes = diffOverlay(desired, actual);
  const { ip, bridge, ipAfterFdb } = changeCommands(changes, spec.name, WEFT_ROUTE_PROTOCOL);
  // Removals go on past an entry that is already gone; the next pass re-reads.
  ipBatch(ip, {}, true);
  bridgeBatch(bridge, true);
  ipBatch(ipAfterFdb, {}, true);
  return { device, added: count(changes.add), removed: count(changes.remove), conflicts, programmed: desired };
}
