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
