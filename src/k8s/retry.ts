// A request to the API server that has to succeed sooner or later (weftd
// publishing its VTEP, marking its network available): tried until it does,
// with growing pauses between tries, so one HTTP 500 or a restarting API
// server never leaves the node without it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Backoff } from './backoff.ts';

export type RetriedRequest = {
  /** Starts trying, unless a try is under way; asked during one, it runs once more after it succeeds. */
  request(): void;
  /** Whether a try has ever succeeded. */
  succeeded(): boolean;
  /** Whether tries are under way now (a request waiting out a pause among them). */
  busy(): boolean;
  /** The last try's error when it failed, else undefined. */
  lastError(): unknown;
  /** Stops after the current try; a pause ends at once. */
  stop(): Promise<void>;
};

export type RetryOptions = {
  backoff: Backoff;
  /** A failed try, and how long until the next. */
  onError: (err: unknown, retryInMs: number) => void;
  onSuccess?: () => void;
  /** For tests; default node's timer. */
  pause?: (ms: number, signal: AbortSignal) => Promise<void>;
};

export function retriedRequest(send: () => Promise<void>, opts: RetryOptions): RetriedRequest {
  const stopping = new AbortController();
  const pause = opts.pause ?? ((ms, signal) => sleep(ms, undefined, { signal }).catch(() => {}));
  let running: Promise<void> | undefined;
  let again = false;
  let ok = false;
  let error: unknown;

  async function loop(): Promise<void> {
    do {
      again = false;
      for (;;) {
        if (stopping.signal.aborted) return;
        try {
          await send();
          ok = true;
          error = undefined;
          opts.backoff.reset();
          opts.onSuccess?.();
          break;
        } catch (err) {
          error = err;
          const delay = opts.backoff.next();
          opts.onError(err, delay);
          await pause(delay, stopping.signal);
        }
      }
    } while (again);
  }

  return {
    request() {
      if (running) {
        again = true;
        return;
      }
      running = loop().finally(() => {
        running = undefined;
      });
    },
    succeeded: () => ok,
    busy: () => running !== undefined,
    lastError: () => error,
    async stop() {
      stopping.abort();
      await running;
    },
  };
}
