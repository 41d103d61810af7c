// One stack of undo actions for everything the suite creates (namespaces,
// attachments, temp files, host links). Each check unwinds what it pushed when
// it ends; an interrupt unwinds everything. Undo actions are pushed *before*
// the thing they undo is created, so an interrupt between the two still cleans
// up; every undo must therefore tolerate "already gone".
import { AsyncLocalStorage } from 'node:async_hooks';

type Entry = { seq: number; label: string; undo: () => Promise<void> };

const stack: Entry[] = [];
let nextSeq = 0;
let shutdownReason: string | undefined;
// Unwinds never interleave: an undo may depend on the ones above it having finished.
let unwinding: Promise<unknown> = Promise.resolve();
const undoing = new AsyncLocalStorage<true>();

/** Registers an undo action; the returned function drops it once the thing is gone anyway. */
export function defer(label: string, undo: () => Promise<void>): () => void {
  const entry: Entry = { seq: nextSeq++, label, undo };
  stack.push(entry);
  return () => {
    const at = stack.indexOf(entry);
    if (at >= 0) stack.splice(at, 1);
  };
}

/** A position to unwind back to with unwindTo. */
export function mark(): number {
  return nextSeq;
}

/** Runs, newest first, every undo action registered since `position`; resolves to what could not be undone. */
export function unwindTo(position: number): Promise<string[]> {
  const done = unwinding.then(() => popDownTo(position));
  unwinding = done.catch(() => {});
  return done;
}

export function unwindAll(): Promise<string[]> {
  return unwindTo(0);
}

/** From now on only undo actions may start processes. */
export function beginShutdown(reason: string): void {
  shutdownReason ??= reason;
}

export function isShuttingDown(): boolean {
  return shutdownReason !== undefined;
}

/** Throws when the suite is shutting down and the caller is not an undo action. */
export function assertMayStart(what: string): void {
  if (shutdownReason !== undefined && !undoing.getStore()) {
    throw new Error(`not starting ${what}: the suite is shutting down (${shutdownReason})`);
  }
}

async function popDownTo(position: number): Promise<string[]> {
  const failures: string[] = [];
  for (let top = stack.at(-1); top && top.seq >= position; top = stack.at(-1)) {
    stack.pop();
    try {
      await undoing.run(true, top.undo);
    } catch (err) {
      failures.push(`${top.label}: ${(err as Error).message}`);
    }
  }
  return failures;
}
