// The names and paths the runtime and the config hand the plugin, parsed
// before anything uses them: they end up in file paths and in the words of
// `ip` commands, so each is held to a character set that no file system, no
// command parser and no kernel template (`%d` in an interface name) reads as
// anything but a name.

// SPEC.md: container ID and network name share this grammar.
const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const MAX_CONTAINER_ID = 1024;
export const MAX_NETWORK_NAME = 128;

export function isValidContainerId(id: string): boolean {
  return id.length <= MAX_CONTAINER_ID && ID_PATTERN.test(id);
}

export function isValidNetworkName(name: string): boolean {
  return name.length <= MAX_NETWORK_NAME && ID_PATTERN.test(name);
}

/** Why `name` cannot be a Linux interface name weft will use, or undefined when it can. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 15) return `is ${name.length} characters long, the kernel allows at most 15`;
  if (name === '.' || name === '..') return 'may not be "." or ".."';
  // The kernel would expand "%d" into a number, "/" and ":" are not allowed,
  // and anything past this set is either rejected or read as syntax somewhere.
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return 'may only hold letters, digits, "_", "." and "-"';
  // A leading dash would be parsed by iproute2 as an option.
  if (name.startsWith('-')) return 'may not start with "-"';
  return undefined;
}

const MAX_PATH = 4096;

/**
 * Why `path` is not an absolute, clean path weft will use (a netns, the
 * subnet file, the IPAM data dir), or undefined when it is.
 */
export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'is not an absolute path';
  if (path.length > MAX_PATH) return `is ${path.length} characters long, at most ${MAX_PATH} are allowed`;
  if (!/^[A-Za-z0-9_.:@+=,/-]+$/.test(path)) return 'may only hold letters, digits and "_.:@+=,/-"';
  // One trailing slash is how many people write a directory; "//", "." and
  // ".." make two spellings of one path, or a path that climbs out.
  const parts = path.slice(1).replace(/\/$/, '').split('/');
  if (path !== '/' && parts.some((p) => p === '' || p === '.' || p === '..')) return 'has an empty, "." or ".." component';
  return undefined;
}
