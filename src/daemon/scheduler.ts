// Runs the reconcile pass at most once at a time: bursts of informer events
// coalesce into one pass, a pass asked for while one runs runs once after it,
// a failed pass is retried, and a periodic resync runs even when nothing
// happened (it is what finds drift made behind weftd's back).
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
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let pending: PassKind | undefined;
  let stopped = false;
  let lastPassAt = Date.now();

  const schedule = (delayMs: number) => {
    if (timer || running || stopped) return;
    timer = setTimeout(run, delayMs);
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
    }
    if (failed && pending === undefined) pending = kind;
    if (pending !== undefined) schedule(failed ? opts.retryMs : opts.coalesceMs);
  }

  const periodic = setInterval(() => {
    // A pass already queued for an event does the same work.
    if (pending === undefined) pending = 'periodic';
    schedule(0);
  }, opts.periodicMs);

  return {
    trigger(kind: PassKind = 'event') {
      if (pending !== 'event') pending = kind;
      schedule(opts.coalesceMs);
    },
    lastPassAt: () => lastPassAt,
    stop() {
      stopped = true;
      clearInterval(periodic);
      if (timer) clearTimeout(timer);
    },
  };
}
