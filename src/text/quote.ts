// How an error message shows a value it refuses: as JSON text, cut to a short
// prefix, so a hostile megabyte-long or deeply nested value neither floods
// the runtime's log nor costs a recursive walk to print.
const MAX_SHOWN = 64;

export function quote(value: unknown): string {
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function quoteString(text: string): string {
  const cut = text.length > MAX_SHOWN;
  const shown = JSON.stringify(cut ? text.slice(0, MAX_SHOWN) : text);
  return cut ? `${shown.slice(0, -1)}…" (${text.length} characters)` : shown;
}
