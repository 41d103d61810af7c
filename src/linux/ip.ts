// Runs iproute2's command forms. Every call is one process: a whole list of
// changes goes in one `ip -batch -`. A named network namespace
// (/var/run/netns/NAME, what container runtimes create) is entered with
// `ip -n NAME`; any other path (/proc/PID/ns/net) with nsenter, one exec more.
// The plugin, on Bun, spawns nothing: the same commands go to the kernel over
// rtnetlink (./netlink/), with the same errors; that is two processes fewer
// per ADD and one per DEL (make bench-cni measures both ways in one run).
//
// Commands are word lists, never text: each word is checked by
// `commandLine` before it is joined into a batch line, so no value, however
// it got here, can add a word, start a comment or end a line in what
// iproute2 reads.
import { type Family, parseCidr } from '../net/address.ts';
import { childProcess } from './child-process.ts';
import { commandLine } from './command-words.ts';
import { NetlinkBatchError, netlinkBatch, netlinkShow } from './netlink/batch.ts';
import { UnsupportedCommandError } from './netlink/errors.ts';

/** One iproute2 or bridge command as its words, e.g. ['link', 'del', 'dev', 'weft0']. */
export type IpCommand = readonly string[];

// iproute2 takes any unambiguous prefix of a keyword, and checks keywords
// before it takes a bare word as a device name: `link set t up` reads "t" as
// "txqueuelen". So a device name always follows its keyword, and these
// builders are how a link command is written.
export const linkAdd = (name: string, ...rest: string[]): IpCommand => ['link', 'add', 'name', name, ...rest];
export const linkSet = (name: string, ...rest: string[]): IpCommand => ['link', 'set', 'dev', name, ...rest];
export const linkDel = (name: string): IpCommand => ['link', 'del', 'dev', name];

/** A `link add|set|del` whose device name does not follow its keyword is a bug. */
function checkLinkCommand(words: IpCommand): void {
  if (words[0] === 'link' && ['add', 'set', 'del'].includes(words[1] ?? '') && !['name', 'dev'].includes(words[2] ?? '')) {
    throw new Error(`refusing "${words.slice(0, 3).join(' ')}": a device name must follow "dev" or "name" (this is a bug in weft: report it)`);
  }
}

/** One failed line of a batch: which command, and what iproute2 said. */
export type BatchFailure = { index: number; reason: string };

/**
 * What a failed batch said: each named failed line, and any error text after
 * the last one, which is what ended the batch without naming its line (a
 * failed `ip neigh` does that even under -force).
 */
export type BatchErrors = { failures: BatchFailure[]; unnamed: string | undefined };

export class IpCommandError extends Error {
  readonly stderr: string;
  /** The failed commands, by index in the batch, when iproute2 says which. */
  readonly failures: BatchFailure[];
  /** The error that ended the batch without naming its line, if one did. */
  readonly unnamed: string | undefined;

  constructor(message: string, stderr: string, errors: BatchErrors = { failures: [], unnamed: undefined }, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IpCommandError';
    this.stderr = stderr;
    this.failures = errors.failures;
    this.unnamed = errors.unnamed;
  }

  /** Index of the first failed command in the batch, or -1 when unknown. */
  get failedIndex(): number {
    return this.failures[0]?.index ?? -1;
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

/**
 * iproute2 reports each failed batch line as its error text followed by
 * "Command failed -:N"; with -force there is one such pair per failure.
 * Text after the last pair belongs to no named line.
 */
export function parseBatchErrors(stderr: string): BatchErrors {
  const failures: BatchFailure[] = [];
  let pending: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(line.trim());
    if (m) {
      failures.push({ index: Number(m[1]) - 1, reason: pending.join('; ') });
      pending = [];
    } else if (line.trim() !== '') {
      pending.push(line.trim());
    }
  }
  return { failures, unnamed: pending.length > 0 ? pending.join('; ') : undefined };
}

function run(tool: Tool, args: string[], commands: IpCommand[] | undefined, where: Namespace): string {
  const lines = commands?.map((c) => {
    checkLinkCommand(c);
    return commandLine(c, tool);
  });
  const [cmd, argv] = command(tool, args, where.netns);
  const input = lines ? `${lines.join('\n')}\n` : undefined;
  const child = childProcess().spawnSync(cmd, argv, { input, encoding: 'utf8' });
  if (child.error) {
    throw new IpCommandError(`cannot run ${cmd}: ${child.error.message}: install iproute2 and util-linux`, '');
  }
  if (child.status !== 0) {
    const stderr = child.stderr.trim();
    const errors = lines ? parseBatchErrors(stderr) : { failures: [], unnamed: undefined };
    const { failures } = errors;
    const first = failures[0];
    const what = first ? (lines![first.index] ?? `${tool} -batch`) : `${tool} ${args.join(' ')}`;
    const reason = first ? first.reason : stderr.replace(/\n/g, '; ');
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more failed lines)` : '';
    throw new IpCommandError(`${what}${where.netns ? ` (in ${where.netns})` : ''}: ${reason || `exit ${child.status}`}${more}`, stderr, errors);
  }
  return child.stdout;
}

type Tool = 'ip' | 'bridge';

/**
 * Applies all commands in order in one process. It stops at the first
 * failure, or with `force` goes on and fails at the end, naming every failed
 * line (for removals and per-peer changes, where one bad entry must not keep
 * the others). One exception in iproute2 itself: a failed `ip neigh` line
 * ends even a forced batch, unnamed (src/overlay/batch.ts copes with it).
 */
function batch(tool: Tool, commands: IpCommand[], where: Namespace, force: boolean): void {
  if (commands.length > 0) run(tool, force ? ['-force', '-batch', '-'] : ['-batch', '-'], commands, where);
}

/** Whether `ip` commands go over rtnetlink: on Bun (the plugin), which has the FFI to do it. */
const OVER_NETLINK = process.versions.bun !== undefined;

export function ipBatch(commands: IpCommand[], where: Namespace = {}, force = false): void {
  if (commands.length === 0) return;
  if (OVER_NETLINK) overNetlink(commands, where, () => netlinkBatch(commands, where.netns, force));
  else batch('ip', commands, where, force);
}

export function bridgeBatch(commands: IpCommand[], force = false): void {
  batch('bridge', commands, {}, force);
}

/**
 * Runs `show` commands in one process and returns each one's JSON. Only for
 * commands that cannot fail on a missing object (a failing command prints
 * nothing, which would shift the answers).
 */
export function ipShow(commands: IpCommand[], where: Namespace = {}): unknown[][] {
  if (OVER_NETLINK) return overNetlink(commands, where, () => netlinkShow(commands, where.netns));
  const v6 = commands.map(listsIpv6Routes);
  if (!v6.includes(true)) return show('ip', commands, where);
  // `ip route show` lists IPv4 routes unless run with -6, even for `root ::/0`.
  const [answers4, answers6] = [false, true].map((want) => {
    const picked = commands.filter((_, i) => v6[i] === want);
    return picked.length === 0 ? [] : show('ip', picked, where, want ? ['-6'] : []);
  }) as [unknown[][], unknown[][]];
  return v6.map((isV6) => (isV6 ? answers6.shift() : answers4.shift())!);
}

function listsIpv6Routes(words: IpCommand): boolean {
  const root = words.indexOf('root');
  return words[0] === 'route' && words[1] === 'show' && root > 0 && parseCidr(words[root + 1] ?? '')?.family === 6;
}

/**
 * `ipShow` of one address family (`ip -4` or `ip -6`), for the commands
 * whose words cannot name it, such as `route show default`. An `ip`
 * process on Bun too: only weftd asks.
 */
export function ipShowFamily(family: Family, commands: IpCommand[], where: Namespace = {}): unknown[][] {
  return show('ip', commands, where, [`-${family}`]);
}

export function bridgeShow(commands: IpCommand[]): unknown[][] {
  return show('bridge', commands, {});
}

function show(tool: Tool, commands: IpCommand[], where: Namespace, options: string[] = []): unknown[][] {
  const out = run(tool, [...options, '-j', '-d', '-batch', '-'], commands, where);
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== commands.length) {
    throw new IpCommandError(`${tool} -j returned ${lines.length} answers for ${commands.length} commands`, out);
  }
  return lines.map((l) => JSON.parse(l) as unknown[]);
}

/**
 * Runs a netlink batch and reports its failure as `ip -batch` would have:
 * the failed line, the namespace, iproute2's reason, and its stderr text, so
 * `failedIndex`, `exists` and `notFound` read the same either way.
 */
function overNetlink<T>(commands: IpCommand[], where: Namespace, run: () => T): T {
  const lines = commands.map((c) => {
    checkLinkCommand(c);
    return commandLine(c, 'ip');
  });
  const inNetns = where.netns ? ` (in ${where.netns})` : '';
  try {
    return run();
  } catch (err) {
    if (err instanceof NetlinkBatchError) {
      const [first] = err.failures;
      const more = err.failures.length > 1 ? ` (and ${err.failures.length - 1} more failed lines)` : '';
      const stderr = err.failures.map((f) => `${f.reason}\nCommand failed -:${f.index + 1}`).join('\n');
      throw new IpCommandError(
        `${lines[first!.index]}${inNetns}: ${first!.reason}${more}`,
        stderr,
        { failures: err.failures, unnamed: undefined },
        { cause: err },
      );
    }
    if (err instanceof UnsupportedCommandError || !(err instanceof Error)) throw err;
    throw new IpCommandError(`rtnetlink${inNetns}: ${err.message}`, err.message, undefined, { cause: err });
  }
}
