// Recognises a crash report in a plugin's output: a runtime's stack trace
// means the input reached code that did not expect it, whatever the exit
// status says.
const STACK_LINES: [RegExp, string][] = [
  [/^goroutine \d+ \[[^\]]*\]:$/m, 'a Go goroutine dump'],
  [/^panic: /m, 'a Go panic'],
  [/^\s+at .+:\d+:\d+\)?$/m, 'a JavaScript stack trace'],
  [/^Traceback \(most recent call last\):$/m, 'a Python traceback'],
  [/^thread '.*' panicked at /m, 'a Rust panic'],
];

/** What kind of stack trace `text` holds, or undefined when it holds none. */
export function stackTraceIn(text: string): string | undefined {
  return STACK_LINES.find(([pattern]) => pattern.test(text))?.[1];
}
