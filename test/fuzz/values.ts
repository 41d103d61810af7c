// What a generated case holds besides plain JSON, and how it becomes the
// plugin's stdin and environment.
//
// Huge values are markers (deep(n), long(n)) rather than the values
// themselves, so a counterexample prints in a line and can be pasted into the
// regressions list as it stands. Per-case fixtures are tokens in strings:
//   @netns  the pod's netns path      (/var/run/netns/<name>)
//   @pod    the pod's netns name
//   @case   the case's own directory  (also the plugin's working directory)
// so a path the plugin should refuse still lands inside the case's directory
// if the plugin takes it anyway.
import fc from 'fast-check';

/** `depth` nested arrays: [[[…]]]. */
export class Deep {
  readonly depth: number;
  constructor(depth: number) {
    this.depth = depth;
  }
  [fc.toStringMethod](): string {
    return `deep(${this.depth})`;
  }
}

/** A string of `length` copies of `unit`. */
export class Long {
  readonly length: number;
  readonly unit: string;
  constructor(length: number, unit: string) {
    this.length = length;
    this.unit = unit;
  }
  [fc.toStringMethod](): string {
    return `long(${this.length}, ${JSON.stringify(this.unit)})`;
  }
}

export const deep = (depth: number) => new Deep(depth);
export const long = (length: number, unit = 'a') => new Long(length, unit);

export type Fixture = { netns: string; pod: string; dir: string };

/** Every token replaced in one pass, so a fixture's own text is never expanded again. */
export function expand(text: string, fixture: Fixture): string {
  return text.replace(/@(netns|pod|case)/g, (_m, token: string) => (token === 'netns' ? fixture.netns : token === 'pod' ? fixture.pod : fixture.dir));
}

/** A string field's value as the plugin sees it. */
export function resolveString(value: string | Long, fixture: Fixture): string {
  return value instanceof Long ? value.unit.repeat(value.length) : expand(value, fixture);
}

/**
 * JSON text of a generated value. Own enumerable keys are written as they
 * are (a key "__proto__" included) and undefined members are left out,
 * which is how a generator deletes a field.
 */
export function toJson(value: unknown, fixture: Fixture): string {
  if (value instanceof Deep) return '['.repeat(value.depth) + ']'.repeat(value.depth);
  if (value instanceof Long || typeof value === 'string') return JSON.stringify(resolveString(value, fixture));
  if (Array.isArray(value)) return `[${value.map((v) => toJson(v, fixture)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v, fixture)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
