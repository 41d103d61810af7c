// Running a batch so that one refused line costs only that line. iproute2's
// -force goes on past a failed line and names it ("Command failed -:N", see
// src/linux/ip.ts) — except a failed `ip neigh` line, which ends the whole
// process (exit 2) without naming itself: the lines after it silently do not
// run. So when the error output does not end with a named line, the kernel
// is asked which neighbour lines took effect, and the batch goes on from
// there.
import { type IpCommand, IpCommandError } from '../linux/ip.ts';
import type { PlannedCommand } from './diff.ts';
import { heldKey } from './kernel-state.ts';

export type LineFailure = { command: PlannedCommand; reason: string };

/**
 * The first neighbour line at or after `from` whose effect the kernel does
 * not show (`held`: neighbour → MAC), or -1 when all of them took
 * effect. The same address may be a neighbour on two weft devices (one per
 * underlay family), so `held` is keyed by device and address (`heldKey`).
 */
export function firstPending(commands: PlannedCommand[], from: number, held: Map<string, string>): number {
  for (let i = from; i < commands.length; i++) {
    const n = commands[i]!.neighbor;
    if (!n) continue;
    const mac = held.get(heldKey(n));
    if (commands[i]!.op === 'add' ? mac !== n.mac : mac !== undefined) return i;
  }
  return -1;
}

/** A forced batch: goes on past failed lines, and throws an IpCommandError naming them. */
export type ForcedBatch = (words: IpCommand[]) => Promise<void>;

/**
 * Runs `commands` through `run` and returns every line that failed, with
 * iproute2's reason. `readNeighbors` is only called after a batch was cut
 * short. Throws what is not one line's failure.
 */
export async function runForced(run: ForcedBatch, commands: PlannedCommand[], readNeighbors: () => Map<string, string>): Promise<LineFailure[]> {
  const failures: LineFailure[] = [];
  let start = 0;
  let rerun = -1;
  while (start < commands.length) {
    const rest = commands.slice(start);
    let err: IpCommandError;
    try {
      await run(rest.map((c) => c.words));
      break;
    } catch (e) {
      if (!(e instanceof IpCommandError)) throw e;
      err = e;
    }
    for (const f of err.failures) {
      const command = rest[f.index];
      if (!command) throw err;
      failures.push({ command, reason: f.reason });
    }
    const cutShort = err.unnamed;
    if (cutShort === undefined) {
      if (err.failures.length === 0) throw err;
      break;
    }
    const from = start + (err.failures.at(-1)?.index ?? -1) + 1;
    const lastNeighbor = commands.findLastIndex((c) => c.neighbor !== undefined);
    // Only a neighbour line ends a batch: anything else is no line's fault.
    if (lastNeighbor < from) throw err;
    const next = firstPending(commands, from, readNeighbors());
    if (next < 0) {
      // A delete of an entry already gone cut it short; every neighbour line
      // now shows its effect, and what follows the last one may not have run.
      start = lastNeighbor + 1;
    } else if (commands[next]!.op === 'add' || next === rerun) {
      // A replace without effect is the line that failed; so is a delete
      // that still shows none after running again.
      failures.push({ command: commands[next]!, reason: cutShort });
      start = next + 1;
    } else {
      // The first delete without effect may simply not have run yet.
      rerun = next;
      start = next;
    }
  }
  return failures;
}
