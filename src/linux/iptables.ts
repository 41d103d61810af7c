// iptables and ip6tables (the nft backend on Debian 12), one code path for
// both families: weft's own chains are rewritten whole, and the jumps into them from the built-in chains placed, in one
// iptables-restore --noflush, which replaces only the chains it names and
// touches no other rule. Where a jump goes is decided from a listing of its
// built-in chain, so a jump an older weft put elsewhere is moved, once.
import { spawnSync } from 'node:child_process';
import type { Family } from '../net/address.ts';
import { checkWord, commandLine } from './command-words.ts';

/** Each family's tables have their own program: the same words, the same restore format. */
const PROGRAM: Record<Family, string> = { 4: 'iptables', 6: 'ip6tables' };

function run(cmd: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const child = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (child.error) throw new Error(`cannot run ${cmd}: ${child.error.message}: install iptables`, { cause: child.error });
  return { status: child.status ?? 1, stdout: child.stdout, stderr: child.stderr.trim() };
}

export type Table = 'nat' | 'filter';
/** One rule's match and target as words, e.g. ['-s', '10.244.0.0/16', '-j', 'RETURN']. */
export type Rule = readonly string[];
export type ChainRules = { table: Table; chain: string; rules: Rule[] };
/**
 * A jump from a built-in chain into one of weft's. `comment` is one word: it
 * is the rule's identity. `at`: 'top' goes first when missing (and stays where
 * it is found); 'end' is appended, so every rule already there comes first.
 * `replaces`: comments of jumps an older weft made for the same purpose,
 * removed wherever they are.
 */
export type Jump = { table: Table; from: string; to: string; comment: string; at: 'top' | 'end'; replaces?: string[] };

const jumpRule = (comment: string, to: string): Rule => ['-m', 'comment', '--comment', comment, '-j', to];

/** Whether one line of `iptables -S <chain>` is the jump to `to` with exactly this comment. */
function isJump(line: string, comment: string, to: string): boolean {
  const words = line.trim().split(/\s+/);
  const after = (flag: string) => words[words.indexOf(flag) + 1];
  return words.includes('--comment') && after('--comment') === comment && after('-j') === to;
}

/**
 * The iptables-restore lines that leave exactly one `jump` in its chain and
 * none of the jumps it replaces, given the chain's `iptables -S` listing.
 */
export function jumpEdits(listing: string, jump: Jump): string[] {
  const lines = listing.split('\n');
  const edits: string[] = [];
  for (const old of [jump.comment, ...(jump.replaces ?? [])]) {
    const found = lines.filter((l) => isJump(l, old, jump.to)).length;
    // The jump itself: one is kept, extra copies go.
    const excess = old === jump.comment ? Math.max(0, found - 1) : found;
    for (let i = 0; i < excess; i++) edits.push(commandLine(['-D', jump.from, ...jumpRule(old, jump.to)], 'iptables-restore'));
  }
  if (!lines.some((l) => isJump(l, jump.comment, jump.to))) {
    const place = jump.at === 'top' ? ['-I', jump.from, '1'] : ['-A', jump.from];
    edits.push(commandLine([...place, ...jumpRule(jump.comment, jump.to)], 'iptables-restore'));
  }
  return edits;
}

/** iptables-restore input that declares (and so flushes) each chain, fills it, then applies the jump edits. */
export function restoreInput(chains: ChainRules[], edits: { table: Table; lines: string[] }[] = []): string {
  const lines: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const mine = chains.filter((c) => c.table === table);
    const moves = edits.filter((e) => e.table === table).flatMap((e) => e.lines);
    if (mine.length === 0 && moves.length === 0) continue;
    lines.push(`*${table}`, ...mine.map((c) => `:${checkWord(c.chain, 'iptables-restore')} - [0:0]`));
    for (const c of mine) lines.push(...c.rules.map((r) => commandLine(['-A', c.chain, ...r], 'iptables-restore')));
    lines.push(...moves, 'COMMIT');
  }
  return `${lines.join('\n')}\n`;
}

/** One family's chains and the jumps into them. */
export type Ruleset = { family: Family; chains: ChainRules[]; jumps: Jump[] };

/** Rewrites weft's chains of one family and places their jumps: a listing per jump and one atomic restore. */
export function ensureChains({ family, chains, jumps }: Ruleset): void {
  const program = PROGRAM[family];
  const edits = jumps.map((j) => {
    const listed = run(program, ['-w', '-t', j.table, '-S', checkWord(j.from, program)]);
    if (listed.status !== 0) throw new Error(`${program} -t ${j.table} -S ${j.from}: ${listed.stderr}`);
    return { table: j.table, lines: jumpEdits(listed.stdout, j) };
  });
  const restored = run(`${program}-restore`, ['-w', '--noflush'], restoreInput(chains, edits));
  if (restored.status !== 0) throw new Error(`${program}-restore: ${restored.stderr}`);
}
