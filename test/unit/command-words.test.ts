// The second line of defence: whatever a value holds, a command line built
// from words either keeps each word one word, or is refused.
import test from 'ava';
import fc from 'fast-check';
import { commandLine, nftLine, UnsafeWordError } from '../../src/linux/command-words.ts';

const unsafe = ['', 'a b', 'a\tb', 'a\nb', 'a#b', 'a"b', "a'b", 'a\\b', 'a\u0000b', 'a\u001bb', 'a\u2028b', 'a\u00a0b'];

test('words that would split, comment out or end a line are refused', (t) => {
  for (const word of unsafe) t.throws(() => commandLine(['link', 'del', word], 'ip'), { instanceOf: UnsafeWordError }, JSON.stringify(word));
  t.throws(() => commandLine([], 'ip'), { instanceOf: UnsafeWordError });
  const err = t.throws(() => commandLine(['link', 'set', 'dev', 'eth0', 'alias', 'a b'], 'ip'), { instanceOf: UnsafeWordError });
  t.regex(String(err?.message), /refusing to pass "a b" to ip/, 'the refusal names the word');
});

test('nft refuses ";" and braces inside a value but takes them as words of their own', (t) => {
  t.is(nftLine(['add', 'element', 'inet', 't', 's', '{', '10.0.0.1', '}']), 'add element inet t s { 10.0.0.1 }');
  t.throws(() => nftLine(['add', 'element', 'inet', 't', 's', '{', '10.0.0.1;flush', '}']), { instanceOf: UnsafeWordError });
  t.throws(() => nftLine(['add', 'element', 'inet', 't', 's', '{', '10.0.0.1}', '}']), { instanceOf: UnsafeWordError });
});

test('any accepted command line splits back into exactly its words', (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', minLength: 0, maxLength: 12 }), { minLength: 1, maxLength: 6 }), (words) => {
      let line: string;
      try {
        line = commandLine(words, 'ip');
      } catch (err) {
        return err instanceof UnsafeWordError;
      }
      // What iproute2's makeargs does, minus quotes and comments, which were refused.
      return JSON.stringify(line.split(/[ \t\r\n]+/)) === JSON.stringify(words) && !/[#"'\\]/.test(line);
    }),
    { seed: 8, numRuns: 2000 },
  );
  t.pass();
});
