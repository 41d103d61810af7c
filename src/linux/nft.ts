// nftables from the plugin: scripts and listings through the `nft` program,
// and, on Bun, set elements straight over nfnetlink, which spares ADD and DEL
// a process each (see docs/plugin.md).
import { childProcess } from './child-process.ts';
import { nftLine } from './command-words.ts';
import { errnoText } from './libc.ts';
import { describeChange, type ElementChange, encodeElementBatch, readBatchAnswer } from './netlink/nftables.ts';
import { NfnlSocket } from './netlink/socket.ts';

export type { ElementChange, KeyField, KeyType } from './netlink/nftables.ts';

/** Whether set elements can go over nfnetlink: on Bun (the plugin), which has the FFI to do it. */
export const ELEMENTS_OVER_NETLINK = process.versions.bun !== undefined;

const ENOENT = 2;

/** The kernel refused an element batch; nothing of it was applied. */
export class NftElementsError extends Error {
  readonly errno: number;

  constructor(message: string, errno: number) {
    super(message);
    this.name = 'NftElementsError';
    this.errno = errno;
  }

  /** The table or a set the batch names does not exist. */
  get missing(): boolean {
    return this.errno === ENOENT;
  }
}

/** One nft command as its words, e.g. ['add', 'table', 'inet', 'weft']. */
export type NftCommand = readonly string[];

/** `words` with `separator` between each two, as nft writes set elements (`,`) and concatenations (`.`). */
export function separated(words: readonly string[], separator: string): string[] {
  return words.flatMap((w, i) => (i === 0 ? [w] : [separator, w]));
}

/** What `nft -f` reads: the commands as one transaction. */
const script = (commands: readonly NftCommand[]): string => `${commands.map(nftLine).join('\n')}\n`;

/** nft's error output on one line, for a message. */
export const oneLine = (stderr: string): string => stderr.trim().replace(/\n/g, '; ');

/** Runs `nft`; its stderr on one line. */
function runNft(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const child = childProcess().spawnSync('nft', args, { input, encoding: 'utf8' });
  if (child.error) throw new Error(`cannot run nft: ${child.error.message}: install nftables`, { cause: child.error });
  return { status: child.status, stdout: child.stdout, stderr: oneLine(child.stderr) };
}

/** Applies nft commands as one atomic transaction. */
export function nftApply(commands: NftCommand[]): void {
  const child = runNft(['-f', '-'], script(commands));
  if (child.status !== 0) throw new Error(`nft: ${child.stderr}`);
}

/**
 * `nftApply` without blocking the caller's event loop: weftd's event passes
 * must not wait on an nft process (a few ms idle, tens on a busy node).
 */
export function nftApplyInBackground(commands: NftCommand[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', (err) => reject(new Error(`cannot run nft: ${err.message}: install nftables`, { cause: err })));
    child.once('close', (status) => (status === 0 ? resolve() : reject(new Error(`nft: ${oneLine(stderr)}`))));
    child.stdin.end(script(commands));
  });
}

/**
 * `nft -j list <what>`: the listed objects, or undefined when what it names
 * (a table, a set) does not exist.
 */
export function nftList(what: NftCommand): unknown[] | undefined {
  nftLine(what); // the same word checks as a script line, though these go in as arguments
  const child = runNft(['-j', 'list', ...what]);
  if (child.status !== 0) {
    if (child.stderr.includes('No such file or directory')) return undefined;
    throw new Error(`nft -j list ${what.join(' ')}: ${child.stderr}`);
  }
  try {
    const listed = (JSON.parse(child.stdout) as { nftables?: unknown }).nftables;
    return Array.isArray(listed) ? listed : [];
  } catch (err) {
    throw new Error(`nft -j list ${what.join(' ')} printed no JSON: is nftables built with JSON support?`, { cause: err });
  }
}

/**
 * The process's one nfnetlink socket, never closed: the kernel closes it at
 * exit. Closing a socket whose batch deleted elements waits until the kernel
 * has freed them (nf_tables flushes its release work, an RCU grace period of
 * about 10 ms, when any nfnetlink socket goes); DEL deletes its elements
 * before its veth, whose deletion waits longer than that, so at exit there is
 * nothing left to wait for.
 */
let shared: { socket: NfnlSocket; nextSeq: number } | undefined;

/** Applies element changes as one nf_tables transaction over nfnetlink (Bun only: see ELEMENTS_OVER_NETLINK). */
export function nftElements(changes: ElementChange[]): void {
  if (changes.length === 0) return;
  shared ??= { socket: NfnlSocket.open(), nextSeq: 1 };
  const { socket } = shared;
  const batch = encodeElementBatch(changes, shared.nextSeq);
  shared.nextSeq = batch.last + 1;
  socket.send(batch.bytes);
  const refusal = readBatchAnswer(batch, () => socket.receive());
  if (refusal) {
    const what = refusal.change ? describeChange(refusal.change) : 'the transaction';
    throw new NftElementsError(`nfnetlink: ${what}: ${errnoText(refusal.errno)}${refusal.detail ? ` (${refusal.detail})` : ''}`, refusal.errno);
  }
}
