// Reading JSON that a plugin or cnitool printed.

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The one JSON object `text` must consist of (surrounding whitespace aside),
 * or why it does not: the spec lets a plugin print exactly one result or
 * error object on stdout, with logs going to stderr.
 */
export function readOneObject(text: string): { value: Record<string, unknown> } | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { problem: 'stdout is empty' };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (err) {
    return { problem: `stdout is not exactly one JSON object (${(err as Error).message})` };
  }
  if (!isObject(value)) return { problem: `stdout holds JSON ${Array.isArray(value) ? 'array' : typeof value}, not an object` };
  return { value };
}

/**
 * `ip -j` output, parsed. iproute2 copies interface names into its JSON byte
 * for byte, so a name holding a control character (the kernel allows all but
 * whitespace, "/" and ":") makes the text invalid JSON until it is escaped.
 */
export function parseIproute2Json(text: string): unknown {
  return JSON.parse(escapeControls(text.trim()) || '[]');
}

/** Control characters (DEL included) as the escapes a JSON string would use. */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\u007f' ? '\\u007f' : JSON.stringify(c).slice(1, -1)));
}
