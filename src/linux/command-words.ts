// The second line of defence between values and the text that iproute2,
// bridge, nft and iptables-restore parse: commands are lists of words, and a
// word that is empty or holds whitespace, a comment sign, a quote, a
// backslash or a control character is refused. Those are exactly what would
// let a value split into more words, hide the rest of a line or start a new
// one; values are parsed long before they get here, so a refusal is a bug.
import { quote } from '../text/quote.ts';

const UNSAFE = /[\s#"'\\`\p{Cc}\p{Zl}\p{Zp}]/u;

export class UnsafeWordError extends Error {
  constructor(tool: string, word: string) {
    super(
      `refusing to pass ${quote(word)} to ${tool}: a command word may not be empty or hold whitespace, "#", quotes, "\\" or control characters (this is a bug in weft: report it)`,
    );
    this.name = 'UnsafeWordError';
  }
}

export function checkWord(word: string, tool: string): string {
  if (word === '' || UNSAFE.test(word)) throw new UnsafeWordError(tool, word);
  return word;
}

/** The batch line for one command, every word checked. */
export function commandLine(words: readonly string[], tool: string): string {
  // The words run together hold an unsafe character exactly when one of them
  // does: one test per line, and a word by word pass only to name it (the
  // plugin checks a hundred words per ADD, and a function called that often
  // is compiled by the JIT, a cost a short-lived process does not win back).
  if (words.length === 0 || words.includes('') || UNSAFE.test(words.join(''))) {
    for (const w of words) checkWord(w, tool);
    throw new UnsafeWordError(tool, '');
  }
  return words.join(' ');
}

// nft also reads ";" and braces as syntax; they may only stand as words of
// their own, where weft's own script puts them.
const NFT_SYNTAX = new Set(['{', '}', ';', ',']);

/** One nft script line, every word checked, ";" and braces only as words of their own. */
export function nftLine(words: readonly string[]): string {
  for (const w of words) {
    if (!NFT_SYNTAX.has(w) && /[;{}]/.test(w)) throw new UnsafeWordError('nft', w);
  }
  return commandLine(words, 'nft');
}
