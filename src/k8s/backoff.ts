// Exponential back-off between retries against the API server: doubling from
// min up to max, back to min once a retry succeeds. Each delay is stretched by
// up to a fifth at random, so thousands of weftds that lost the API server at
// the same moment do not all come back at the same moment.
export type Backoff = {
  /** The delay before the next retry; each call doubles the one after. */
  next(): number;
  reset(): void;
};

const JITTER = 0.2;

export function exponentialBackoff(minMs: number, maxMs: number, random: () => number = Math.random): Backoff {
  let base = minMs;
  return {
    next() {
      const delay = Math.min(maxMs, Math.round(base * (1 + JITTER * random())));
      base = Math.min(base * 2, maxMs);
      return delay;
    },
    reset() {
      base = minMs;
    },
  };
}
