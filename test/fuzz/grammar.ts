// The CNI grammar of names, paths and versions as generators: each rule has a
// generator of values it accepts (boundaries included) and one of values it
// refuses, hostile ones first among them. A value whose verdict the spec
// leaves open is in neither (see the notes at each rule).
import fc from 'fast-check';
import { type Long, long } from './values.ts';

const range = (from: string, to: string) =>
  Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) => String.fromCharCode(from.charCodeAt(0) + i));

const ALNUM = [...range('A', 'Z'), ...range('a', 'z'), ...range('0', '9')];
const ID_CHARS = [...ALNUM, '_', '.', '-'];
const PATH_CHARS = [...ID_CHARS, ':', '@', '+', '=', ','];

// What breaks parsers, shells, printf-style templates and terminals.
// Environment variables cannot hold NUL, so it is added only where JSON
// carries the value.
const HOSTILE_CHARS = [
  ...Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)),
  '\x7f',
  ' ',
  '#',
  '%',
  '"',
  "'",
  '\\',
  '/',
  ':',
  '@',
  '$',
  '`',
  '*',
  '?',
  '!',
  '&',
  ';',
  '|',
  '<',
  '>',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '~',
  '^',
  '=',
  '+',
  ',',
  '\u00a0',
  '\u0085',
  '\u200b',
  '\u202e',
  '\ufeff',
  '\u2028',
  'é',
  'ı',
  '😀',
];

/** One character the rule's alphabet does not have. */
function outside(alphabet: readonly string[], opts: { nul?: boolean } = {}): fc.Arbitrary<string> {
  const chars = HOSTILE_CHARS.filter((c) => !alphabet.includes(c));
  return fc.constantFrom(...(opts.nul ? [...chars, '\0'] : chars));
}

const word = (alphabet: readonly string[], minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });

/** `valid` with one character replaced or joined by one from outside the alphabet. */
function withForeignChar(valid: fc.Arbitrary<string>, alphabet: readonly string[], opts: { nul?: boolean } = {}) {
  return fc.tuple(valid, outside(alphabet, opts), fc.nat(), fc.boolean()).map(([text, bad, at, replace]) => {
    const i = at % (text.length + 1);
    return text.slice(0, i) + bad + text.slice(replace ? i + 1 : i);
  });
}

// --- IDs: container IDs and network names -----------------------------------

const shortId = fc.tuple(fc.constantFrom(...ALNUM), word(ID_CHARS, 0, 20)).map(([a, b]) => a + b);

/** ^[A-Za-z0-9][A-Za-z0-9_.-]*$, at most `max` characters. */
export function validId(max: number): fc.Arbitrary<string | Long> {
  return fc.oneof({ weight: 8, arbitrary: shortId }, { weight: 1, arbitrary: fc.constant(long(max, 'a')) });
}

export function invalidId(max: number, opts: { nul?: boolean } = {}): fc.Arbitrary<string | Long> {
  return fc.oneof(
    fc.constant(''),
    fc.tuple(fc.constantFrom('_', '.', '-'), word(ID_CHARS, 0, 8)).map(([a, b]) => a + b),
    withForeignChar(shortId, ID_CHARS, opts),
    fc.integer({ min: 1, max: 40 }).map((extra) => long(max + extra, 'a')),
  );
}

// --- Interface names: CNI_IFNAME and the bridge ---------------------------

// "lo" is a valid name but every netns already has it: an ADD of "lo" or a
// bridge named "lo" fails for a reason the spec does not give a code to.
const notTaken = (name: string) => name !== 'lo';

/** 1–15 of [A-Za-z0-9_.-], not starting with "-", not "." or "..". */
export function validIfname(): fc.Arbitrary<string> {
  return fc
    .oneof({ weight: 3, arbitrary: fc.constantFrom('eth0', 'net1', 'a', 'e'.repeat(15), 'v_1.2-3') }, { weight: 6, arbitrary: word(ID_CHARS, 1, 15) })
    .filter((n) => !n.startsWith('-') && n !== '.' && n !== '..' && notTaken(n));
}

export function invalidIfname(opts: { nul?: boolean } = {}): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('', '.', '..', '-', '-force', 'eth%d', 'eth0:1', 'a/b', 'eth 0', 'e'.repeat(16)),
    word(ID_CHARS, 16, 40),
    fc.tuple(fc.constant('-'), word(ID_CHARS, 0, 14)).map(([a, b]) => a + b),
    withForeignChar(validIfname(), ID_CHARS, opts),
  );
}

// --- Absolute clean paths: CNI_NETNS, subnetFile, ipam.dataDir --------------

export const pathSegment = word(PATH_CHARS, 1, 10).filter((s) => s !== '.' && s !== '..' && !s.includes('@'));

/** A clean path under `base` ('@case' or a netns dir). */
export function validPath(base: string): fc.Arbitrary<string> {
  return fc.array(pathSegment, { minLength: 1, maxLength: 3 }).map((segs) => `${base}/${segs.join('/')}`);
}

/**
 * Paths that break the rule, all of which resolve inside `base` (so whatever
 * the plugin does with one stays in the case's directory) and `name` under it.
 * A trailing "/" is left out: whether it is an empty component is open.
 */
export function invalidPath(base: string, name: fc.Arbitrary<string>, opts: { nul?: boolean } = {}): fc.Arbitrary<string> {
  const dirty = fc.constantFrom('/./', '//', '/x/../', '/./x/../');
  return fc.oneof(
    // Relative: resolved against the working directory, the case's own.
    name,
    name.map((n) => `./${n}`),
    name.map((n) => `x/../${n}`),
    fc.tuple(name, dirty).map(([n, d]) => `${base}${d}${n}`),
    name.map((n) => `${base}/${n}/.`),
    name.map((n) => `${base}/${n}/x/..`),
    // "/" is no foreign character here: it would only split a segment in two.
    withForeignChar(name, [...PATH_CHARS, '/'], opts).map((n) => `${base}/${n}`),
  );
}

// --- Versions and verbs ---------------------------------------------------

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

export const validVersion = () => fc.constantFrom(...SUPPORTED_VERSIONS);

/** Never empty: whether "" is a missing cniVersion (7) or a bad one (1) is open. */
export function invalidVersion(): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.constantFrom(
        '0.1.0',
        '0.2.0',
        '1.0',
        '1',
        '1.1',
        '1.2.0',
        '2.0.0',
        '9.9.9',
        'v1.0.0',
        '1.0.0-rc1',
        '1.1.0 ',
        ' 1.0.0',
        '1.0.0\n',
        '1.1.0.0',
        'latest',
        '%s',
        '1.1.0#',
      ),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
    )
    .filter((v) => v !== '' && !(SUPPORTED_VERSIONS as readonly string[]).includes(v));
}

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;

export function invalidCommand(): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.constantFrom('', 'add', 'Add', 'ADD ', ' ADD', 'ADD\n', 'ADDD', 'DELETE', 'ATTACH', 'VERSION\t', 'ADD;DEL', '%n'),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }),
      withForeignChar(fc.constantFrom(...COMMANDS), []),
    )
    .filter((c) => !(COMMANDS as readonly string[]).includes(c));
}

// --- Free text --------------------------------------------------------------

/** Any string, hostile characters made common. */
export function hostileString(opts: { nul?: boolean; maxLength?: number } = {}): fc.Arbitrary<string> {
  const unit = fc.oneof(fc.constantFrom(...HOSTILE_CHARS, ...(opts.nul ? ['\0'] : [])), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }));
  return fc.string({ unit, maxLength: opts.maxLength ?? 24 }).filter((s) => opts.nul || !s.includes('\0'));
}

/** Printable text of 1–`max` characters. */
export const printable = (max: number) => fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: max });
