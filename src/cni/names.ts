// Validation of the names that end up in file paths and `ip` arguments, so no
// value from the runtime can reach a path outside the data dir or be read as
// an option by a command.

// SPEC.md: container ID and network name share this grammar.
const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

export function isValidContainerId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export function isValidNetworkName(name: string): boolean {
  return ID_PATTERN.test(name);
}

/** Why `name` cannot be a Linux interface name, or undefined when it can. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 15) return `is ${name.length} characters long, the kernel allows at most 15`;
  if (name === '.' || name === '..') return 'may not be "." or ".."';
  if (/[/:\s]/.test(name)) return 'may not contain "/", ":" or whitespace';
  // A leading dash would be parsed by iproute2 as an option.
  if (name.startsWith('-')) return 'may not start with "-"';
  return undefined;
}
