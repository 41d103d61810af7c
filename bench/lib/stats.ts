// Summaries of samples. Latency percentiles use the nearest-rank method:
// every reported time was actually measured, never an interpolation.
export type Summary = { n: number; p50: number; p95: number };

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error(`percentile p${p} of no samples`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function summarize(samples: readonly number[]): Summary {
  return { n: samples.length, p50: percentile(samples, 50), p95: percentile(samples, 95) };
}

// Milliseconds to two decimals: finer than the run-to-run noise, so the JSON
// loses nothing and stays readable.
export function round2(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** The middle of the samples (the mean of the two middle ones for an even count). */
export function median(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
