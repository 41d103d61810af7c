// Runs iproute2. Every call is one process: a whole list of changes goes in
// one `ip -batch -`. A named network namespace (/var/run/netns/NAME, what
// container runtimes create) is entered with `ip -n NAME`; any other path
// (/proc/PID/ns/net) with nsenter, one exec more.
import { spawnSync } from 'node:child_process';

export class IpCommandError extends Error {
  readonly stderr: string;
  /** The batch command that failed, when iproute2 says which. */
  readonly failed: string | undefined;

  constructor(message: string, stderr: string, failed: string | undefined) {
    super(message);
    this.name = 'IpCommandError';
    this.stderr = stderr;
    this.failed = failed;
  }

  get notFound(): boolean {
    return /Cannot find device|does not exist|No such device/.test(this.stderr);
  }

  get exists(): boolean {
    return /File exists/.test(this.stderr);
  }
}

/** Where the commands run: the host, or a netns given by its path. */
export type Namespace = { netns?: string };

const NAMED_NETNS = /^\/(?:var\/)?run\/netns\/([^/]+)$/;

function command(tool: Tool, args: string[], netns: string | undefined): [string, string[]] {
  if (!netns) return [tool, args];
  const named = NAMED_NETNS.exec(netns)?.[1];
  // A name starting with "-" would read as an option; nsenter takes any path.
  if (named && !named.startsWith('-')) return [tool, ['-n', named, ...args]];
  return ['nsenter', [`--net=${netns}`, '--', tool, ...args]];
}

function run(tool: Tool, args: string[], input: string | undefined, where: Namespace): string {
  const [cmd, argv] = command(tool, args, where.netns);
  const child = spawnSync(cmd, argv, { input, encoding: 'utf8' });
  if (child.error) {
    throw new IpCommandError(`cannot run ${cmd}: ${child.error.message}: install iproute2 and util-linux`, '', undefined);
  }
  if (child.status !== 0) {
    const stderr = child.stderr.trim();
    const line = /Command failed -:(\d+)/.exec(stderr);
    const failed = line && input ? input.split('\n')[Number(line[1]) - 1] : undefined;
    const reason = stderr.replace(/\n?Command failed -:\d+/, '').replace(/\n/g, '; ');
    const what = failed ?? `${tool} ${args.join(' ')}`;
    throw new IpCommandError(`${what}${where.netns ? ` (in ${where.netns})` : ''}: ${reason || `exit ${child.status}`}`, stderr, failed);
  }
  return child.stdout;
}

type Tool = 'ip' | 'bridge';

/**
 * Applies all commands in order in one process. It stops at the first
 * failure, or with `force` goes on and fails at the end (for removals, where
 * one entry already gone must not keep the others).
 */
function batch(tool: Tool, commands: string[], where: Namespace, force: boolean): void {
  if (commands.length > 0) run(tool, force ? ['-force', '-batch', '-'] : ['-batch', '-'], `${commands.join('\n')}\n`, where);
}

export function ipBatch(commands: string[], where: Namespace = {}, force = false): void {
  batch('ip', commands, where, force);
}

export function bridgeBatch(commands: string[], force = false): void {
  batch('bridge', commands, {}, force);
}

/**
 * Runs `show` commands in one process and returns each one's JSON. Only for
 * commands that cannot fail on a missing object (a failing command prints
 * nothing, which would shift the answers).
 */
export function ipShow(commands: string[], where: Namespace = {}): unknown[][] {
  return show('ip', commands, where);
}

export function bridgeShow(commands: string[]): unknown[][] {
  return show('bridge', commands, {});
}

function show(tool: Tool, commands: string[], where: Namespace): unknown[][] {
  const out = run(tool, ['-j', '-d', '-batch', '-'], `${commands.join('\n')}\n`, where);
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== commands.length) {
    throw new IpCommandError(`${tool} -j returned ${lines.length} answers for ${commands.length} commands`, out, undefined);
  }
  return lines.map((l) => JSON.parse(l) as unknown[]);
}
