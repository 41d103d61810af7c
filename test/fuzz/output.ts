// What a plugin call must print, whatever it was asked: one JSON object on
// stdout (none after a DEL), and never a stack trace.
export function oneJsonObject(stdout: string): { value?: Record<string, unknown>; problem?: string } {
  let value: unknown;
  try {
    value = JSON.parse(stdout);
  } catch {
    return { problem: `stdout is not one JSON object: ${JSON.stringify(stdout.slice(0, 300))}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: `stdout is JSON but no object: ${stdout.slice(0, 300)}` };
  return { value: value as Record<string, unknown> };
}

// "    at fn (file:1:2)" or "    at file:1:2", as V8 prints a stack frame.
const STACK_FRAME = /^\s*at (?:.+ \(.+:\d+:\d+\)|.+:\d+:\d+)\s*$/m;

export function traceProblems(stdout: string, stderr: string): string[] {
  return [
    ['stdout', stdout],
    ['stderr', stderr],
  ]
    .filter(([, text]) => STACK_FRAME.test(text!))
    .map(([name, text]) => `a stack trace on ${name}: ${text!.slice(0, 400)}`);
}

/** A successful DEL has no result. */
export function delOutputProblems(stdout: string): string[] {
  return stdout.trim() === '' ? [] : [`DEL printed ${JSON.stringify(stdout.slice(0, 200))}; a DEL prints nothing`];
}
