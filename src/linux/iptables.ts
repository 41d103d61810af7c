// iptables (the nft backend on Debian 12): weft's own chains are rewritten
// whole with iptables-restore --noflush, which replaces only the chains it
// names, atomically; the jumps into them from the built-in chains are
// checked and inserted one by one so no other rule is ever touched.
import { spawnSync } from 'node:child_process';
import { checkWord, commandLine } from './command-words.ts';

function run(cmd: string, args: string[], input?: string): { status: number; stderr: string } {
  const child = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (child.error) throw new Error(`cannot run ${cmd}: ${child.error.message}: install iptables`, { cause: child.error });
  return { status: child.status ?? 1, stderr: child.stderr.trim() };
}

/** One rule's match and target as words, e.g. ['-s', '10.244.0.0/16', '-j', 'RETURN']. */
export type Rule = readonly string[];
export type ChainRules = { table: 'nat' | 'filter'; chain: string; rules: Rule[] };
/** `comment` is one word: it is matched as the rule's identity. */
export type Jump = { table: 'nat' | 'filter'; from: string; to: string; comment: string };

/** iptables-restore input that declares (and so flushes) each chain and fills it. */
export function restoreInput(chains: ChainRules[]): string {
  const lines: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const mine = chains.filter((c) => c.table === table);
    if (mine.length === 0) continue;
    lines.push(`*${table}`, ...mine.map((c) => `:${checkWord(c.chain, 'iptables-restore')} - [0:0]`));
    for (const c of mine) lines.push(...c.rules.map((r) => commandLine(['-A', c.chain, ...r], 'iptables-restore')));
    lines.push('COMMIT');
  }
  return `${lines.join('\n')}\n`;
}

export function ensureChains(chains: ChainRules[], jumps: Jump[]): void {
  const restored = run('iptables-restore', ['-w', '--noflush'], restoreInput(chains));
  if (restored.status !== 0) throw new Error(`iptables-restore: ${restored.stderr}`);
  for (const j of jumps) {
    const rule = ['-m', 'comment', '--comment', checkWord(j.comment, 'iptables'), '-j', checkWord(j.to, 'iptables')];
    if (run('iptables', ['-w', '-t', j.table, '-C', j.from, ...rule]).status === 0) continue;
    const inserted = run('iptables', ['-w', '-t', j.table, '-I', j.from, '1', ...rule]);
    if (inserted.status !== 0) throw new Error(`iptables -t ${j.table} -I ${j.from}: ${inserted.stderr}`);
  }
}
