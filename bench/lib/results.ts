// Where a benchmark's result goes: bench/results/NAME.json, and the same JSON
// on stdout after the table printed from it, so the two never disagree.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../testbed/paths.ts';
import { round2 } from './stats.ts';

export const RESULTS = join(REPO, 'bench', 'results');

/** Every fraction to two decimals: finer than the run-to-run noise, and readable. */
export function resultJson(value: unknown): string {
  return JSON.stringify(value, (_k, x) => (typeof x === 'number' && !Number.isInteger(x) ? round2(x) : x), 2);
}

export function publish(name: string, result: unknown, table: string): void {
  const json = resultJson(result);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, `${name}.json`), `${json}\n`);
  console.log(table);
  console.log();
  console.log(json);
}
