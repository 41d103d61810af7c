// How many cases a property runs and from which seed: fixed by default, so a
// CI failure replays on any machine; FUZZ_SEED, FUZZ_RUNS and FUZZ_PATH
// override (make fuzz sets a random seed and many runs).
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';

const DEFAULT_SEED = 20240611;

function envInteger(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new Error(`${name}=${text} is not an integer`);
  return n;
}

export const SEED = envInteger('FUZZ_SEED') ?? DEFAULT_SEED;
const RUNS = envInteger('FUZZ_RUNS');
const PATH = process.env.FUZZ_PATH || undefined;

/**
 * Checks `predicate` on `runs` cases (FUZZ_RUNS if set) and fails the test
 * with fast-check's report: the shrunk counterexample, its seed and path.
 * Shrinking stops at the time budget with the smallest case found so far.
 */
export async function checkProperty<T>(t: ExecutionContext, arb: fc.Arbitrary<T>, runs: number, predicate: (value: T) => Promise<string[]>): Promise<void> {
  const numRuns = RUNS ?? runs;
  // The bounded run stays within its few minutes even while shrinking a
  // failure; a long run allows 1.5 s a case (2 cores, six properties at once).
  const budget = RUNS === undefined ? 150_000 : numRuns * 1_500;
  t.timeout(budget + 60_000);
  const details = await fc.check(
    fc.asyncProperty(arb, async (value) => {
      const problems = await predicate(value);
      if (problems.length) throw new Error(problems.join('\n'));
    }),
    { seed: SEED, path: PATH, numRuns, interruptAfterTimeLimit: budget, markInterruptAsFailure: false, endOnFailure: PATH !== undefined },
  );
  t.log(`${details.numRuns} cases, seed ${details.seed}${details.interrupted ? ' (stopped at the time budget)' : ''}`);
  if (details.failed)
    t.fail(`${fc.defaultReportMessage(details)}\nWhat went wrong:\n${(details.errorInstance as Error | undefined)?.message ?? String(details.errorInstance)}`);
  else t.pass();
}
