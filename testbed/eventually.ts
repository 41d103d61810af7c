// Polling, for what a test, a benchmark or the demo waits on: a daemon's
// readiness, a kernel table, an API object. A check that throws is tried
// again, and its last error is named when time runs out.

/**
 * Polls `check` until it gives a value (not undefined or false) and returns
 * that value; throws once `timeoutMs` has passed.
 */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
