import { spawnSync } from 'node:child_process';
import { nftLine } from './command-words.ts';

/** One nft command as its words, e.g. ['add', 'table', 'inet', 'weft']. */
export type NftCommand = readonly string[];

/** Applies nft commands as one atomic transaction. */
export function nftApply(commands: NftCommand[]): void {
  const script = `${commands.map(nftLine).join('\n')}\n`;
  const child = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8' });
  if (child.error) throw new Error(`cannot run nft: ${child.error.message}: install nftables`, { cause: child.error });
  if (child.status !== 0) throw new Error(`nft: ${child.stderr.trim().replace(/\n/g, '; ')}`);
}

/**
 * `nft -j list <what>`: the listed objects, or undefined when what it names
 * (a table, a set) does not exist.
 */
export function nftList(what: NftCommand): unknown[] | undefined {
  nftLine(what); // the same word checks as a script line, though these go in as arguments
  const child = spawnSync('nft', ['-j', 'list', ...what], { encoding: 'utf8' });
  if (child.error) throw new Error(`cannot run nft: ${child.error.message}: install nftables`, { cause: child.error });
  if (child.status !== 0) {
    if (child.stderr.includes('No such file or directory')) return undefined;
    throw new Error(`nft -j list ${what.join(' ')}: ${child.stderr.trim().replace(/\n/g, '; ')}`);
  }
  try {
    const listed = (JSON.parse(child.stdout) as { nftables?: unknown }).nftables;
    return Array.isArray(listed) ? listed : [];
  } catch (err) {
    throw new Error(`nft -j list ${what.join(' ')} printed no JSON: is nftables built with JSON support?`, { cause: err });
  }
}
