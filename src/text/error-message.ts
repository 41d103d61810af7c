// A caught value's message, for an error that wraps it: anything can be
// thrown, so an `as Error` cast would print "undefined" for a string.
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
