// Reads a failed plugin invocation the way SPEC.md section 5 "Error" defines
// it: non-zero exit and exactly one error object on stdout.
import { readOneObject } from './json.ts';
import type { Completed } from './process.ts';

export type CniErrorObject = { cniVersion?: unknown; code: number; msg: string; details?: string };

export type ErrorReading = { error?: CniErrorObject; problems: string[] };

/** The error object, and every way the output departs from the spec's error shape. */
export function readErrorOutput(completed: Completed): ErrorReading {
  if (completed.exitCode === 0) return { problems: ['the plugin exited 0, accepting the request; it must exit non-zero with an error object on stdout'] };
  const parsed = readOneObject(completed.stdout);
  if ('problem' in parsed) return { problems: [`${parsed.problem}; print the error object on stdout`] };
  const problems: string[] = [];
  const { code, msg, details, cniVersion } = parsed.value;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0) problems.push(`"code" ${JSON.stringify(code)} is not a non-negative integer`);
  if (typeof msg !== 'string' || msg === '') problems.push('"msg" must be a non-empty string');
  if (details !== undefined && typeof details !== 'string') problems.push('"details" must be a string when present');
  if (problems.length > 0 || typeof code !== 'number' || typeof msg !== 'string') return { problems };
  return { error: { cniVersion, code, msg, details: typeof details === 'string' ? details : undefined }, problems };
}

/** "code 4: msg (details)" for a failure reason. */
export function describeError(error: CniErrorObject): string {
  return `code ${error.code}: ${error.msg}${error.details ? ` (${error.details})` : ''}`;
}
