/**
 * One command of a batch failed: `message` reads like iproute2's complaint
 * about that line ("RTNETLINK answers: File exists"), so callers that match
 * iproute2's text keep working; `errno` is the kernel's, when it said one.
 */
export class CommandFailure extends Error {
  readonly errno: number | undefined;

  constructor(reason: string, errno?: number, options?: ErrorOptions) {
    super(reason, options);
    this.name = 'CommandFailure';
    this.errno = errno;
  }
}

/** A command form the netlink path does not speak: a bug in weft, never a reason to fall back to `ip`. */
export class UnsupportedCommandError extends Error {
  constructor(words: readonly string[], supported: readonly string[]) {
    super(
      `the plugin's netlink path cannot run "${words.join(' ')}": it runs only ${supported.map((s) => `"${s}"`).join(', ')} (this is a bug in weft: report it)`,
    );
    this.name = 'UnsupportedCommandError';
  }
}
