import { spawnSync } from 'node:child_process';

/** Applies an nft script as one atomic transaction. */
export function nftApply(script: string): void {
  const child = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8' });
  if (child.error) throw new Error(`cannot run nft: ${child.error.message}: install nftables`);
  if (child.status !== 0) throw new Error(`nft: ${child.stderr.trim().replace(/\n/g, '; ')}`);
}
