// Runs the reconcile pass at most once at a time. An event that finds the
// loop idle runs at once (a Node's entries should not wait); events during a
// pass, or within --coalesce after one, coalesce into the next, so a burst
// of creates costs a few passes, not one each. A failed pass is retried, and
// a periodic resync runs even when nothing happened (it is what finds drift
// made behind weftd's back). A pending periodic pass is never downgraded to
// an event pass: it does everything an event pass does, and more.
export type PassKind = 'event' | 'periodic';

export type SchedulerOptions = {
  coalesceMs: number;
  retryMs: number;
  periodicMs: number;
  onError: (err: unknown) => void;
};

export type Scheduler = {
  trigger(kind?: PassKind): void;
  /** When the last pass finished (ms since epoch), successful or not. */
  lastPassAt(): number;
  stop(): void;
};

export function createScheduler(pass: (kind: PassKind) => Promise<void>, opts: SchedulerOptions): Scheduler {
  let timer: { cancel(): void } | undefined;
  let running = false;
  let pending: PassKind | undefined;
  let stopped = false;
  let lastPassAt = Date.now();
  // Ended, or never ran: an event may run at once.
  let lastEnded = 0;

  const schedule = (delayMs: number) => {
    if (timer || running || stopped) return;
    // Not setTimeout(0): Node makes that at least 1 ms, most of what an
    // event's whole pass costs. setImmediate runs right after the I/O that
    // brought the event.
    if (delayMs <= 0) {
      const immediate = setImmediate(run);
      timer = { cancel: () => clearImmediate(immediate) };
    } else {
      const timeout = setTimeout(run, delayMs);
      timer = { cancel: () => clearTimeout(timeout) };
    }
  };

  async function run(): Promise<void> {
    timer = undefined;
    const kind = pending ?? 'event';
    pending = undefined;
    running = true;
    let failed = false;
    try {
      await pass(kind);
    } catch (err) {
      failed = true;
      opts.onError(err);
    } finally {
      running = false;
      lastPassAt = Date.now();
      lastEnded = performance.now();
    }
    if (failed && pending === undefined) pending = kind;
    if (pending !== undefined) schedule(failed ? opts.retryMs : opts.coalesceMs);
  }

  const periodic = setInterval(() => {
    pending = 'periodic';
    schedule(0);
  }, opts.periodicMs);

  return {
    trigger(kind: PassKind = 'event') {
      if (pending !== 'periodic') pending = kind;
      schedule(Math.max(0, Math.ceil(lastEnded + opts.coalesceMs - performance.now())));
    },
    lastPassAt: () => lastPassAt,
    stop() {
      stopped = true;
      clearInterval(periodic);
      timer?.cancel();
    },
  };
}
