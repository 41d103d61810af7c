// JSON texts no recursive encoder can write: values nested so deep that
// JSON.stringify overflows its stack. They are spliced in as text.
import { randomUUID } from 'node:crypto';

export function nestedArrays(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

export function nestedObjects(depth: number): string {
  return `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;
}

/** `request` as JSON text, with `raw` (JSON text itself) as the value at `path`. */
export function withRawValue(request: Record<string, unknown>, path: readonly [string, ...string[]], raw: string): string {
  const placeholder = `cft-raw-${randomUUID()}`;
  return JSON.stringify(setAt(request, path, placeholder)).replace(JSON.stringify(placeholder), () => raw);
}

function setAt(target: Record<string, unknown>, [key, ...rest]: readonly string[], value: unknown): Record<string, unknown> {
  if (key === undefined) throw new Error('an empty path has no place for a value');
  const inner = target[key];
  const child = typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? (inner as Record<string, unknown>) : {};
  return { ...target, [key]: rest.length === 0 ? value : setAt(child, rest, value) };
}
