// The benchmarks' command lines: a usage mistake prints the message and the
// usage and exits 2; --help prints the usage and exits 0.

export function failUsage(usage: string, message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

/** Runs the script's own parseArgs call (so its flag types stay inferred). */
export function parseFlagsOrExit<T extends { values: { help?: boolean } }>(usage: string, parse: () => T): T['values'] {
  let parsed: T;
  try {
    parsed = parse();
  } catch (e) {
    failUsage(usage, (e as Error).message);
  }
  if (parsed.values.help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed.values;
}

export function wholeNumber(usage: string, flag: string, value: string, min: number, why = ''): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) failUsage(usage, `--${flag} ${value}: want a whole number >= ${min}${why}`);
  return n;
}
