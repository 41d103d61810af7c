// A fuzz case is one plugin call: its environment, its stdin, and the outcome
// the spec gives it. Every invalid case breaks rules of one class only (env,
// decode, version or config), since the spec does not say which class wins
// when an input breaks two.
import fc from 'fast-check';
import { bulkValue, type Conf, invalidConf, validConf } from './config.ts';
import { invalidCommand, invalidId, invalidIfname, invalidPath, invalidVersion, validId, validIfname } from './grammar.ts';
import { type Fixture, type Long, toJson } from './values.ts';

/** "ok", or the error code the plugin must answer with. */
export type Expect = 'ok' | 1 | 4 | 6 | 7;

/** A config (any JSON, tokens in strings), padded with trailing spaces to `padTo` bytes; or raw text. */
export type Stdin = { conf: unknown; padTo?: number } | { text: string };

export type FuzzCase = {
  why: string;
  expect: Expect;
  /** CNI_* variables; a missing key is an unset variable. */
  env: Record<string, string | Long>;
  stdin: Stdin;
  /** Appended to the pod netns's name, to make a netns path with characters the rule refuses. */
  podSuffix?: string;
};

export const MAX_STDIN = 4 * 1024 * 1024;

// Tokens left as they are: text made from a config before any case has a fixture.
const TOKENS: Fixture = { netns: '@netns', pod: '@pod', dir: '@case' };

function addEnv(containerId: string | Long, ifname: string): Record<string, string | Long> {
  return { CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: '@netns', CNI_IFNAME: ifname, CNI_PATH: '/opt/cni/bin' };
}

const validEnv = fc.tuple(validId(1024), validIfname()).map(([id, ifname]) => addEnv(id, ifname));

/** A valid config, sometimes with one huge unknown member or padded to exactly the 4 MiB limit. */
const validStdin: fc.Arbitrary<Stdin> = fc
  .tuple(
    validConf(),
    fc.oneof({ weight: 16, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: bulkValue }, { weight: 1, arbitrary: fc.constant('pad' as const) }),
  )
  .map(([conf, extra]): Stdin => {
    if (extra === 'pad') return { conf, padTo: MAX_STDIN };
    return { conf: extra === undefined ? conf : { ...conf, 'x-bulk': extra } };
  });

export function validAdd(): fc.Arbitrary<FuzzCase> {
  return fc.tuple(validEnv, validStdin).map(([env, stdin]) => ({ why: 'valid', expect: 'ok', env, stdin }));
}

/** DEL needs no netns, and one that is gone is fine. */
export function validDel(): fc.Arbitrary<FuzzCase> {
  return fc.tuple(validEnv, validConf(), fc.constantFrom('@netns', undefined, '/var/run/netns/@pod-gone')).map(([env, conf, netns]) => {
    const { CNI_NETNS: _, ...rest } = env;
    return { why: 'valid DEL', expect: 'ok', env: { ...rest, CNI_COMMAND: 'DEL', ...(netns ? { CNI_NETNS: netns } : {}) }, stdin: { conf } };
  });
}

// --- Environment (code 4) -------------------------------------------------------

const unset = (env: Record<string, string | Long>, key: string) => Object.fromEntries(Object.entries(env).filter(([k]) => k !== key));

// Characters a netns name may hold (anything but "/" and NUL) outside the path alphabet.
const netnsNameChars = [
  ' ',
  '#',
  '%',
  '"',
  "'",
  '\\',
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
  '\t',
  'é',
  '\u202e',
];

export function envFault(): fc.Arbitrary<FuzzCase> {
  return fc.tuple(validEnv, validConf()).chain(([env, conf]) => {
    const variable = (key: string, values: fc.Arbitrary<string | Long>, why: string) =>
      values.map((v): Pick<FuzzCase, 'why' | 'env'> => ({ why, env: { ...env, [key]: v } }));
    const missing = (key: string, command = 'ADD') => fc.constant({ why: `${key} missing for ${command}`, env: unset({ ...env, CNI_COMMAND: command }, key) });
    const faults: fc.Arbitrary<Pick<FuzzCase, 'why' | 'env' | 'podSuffix'>> = fc.oneof(
      missing('CNI_COMMAND'),
      missing('CNI_CONTAINERID'),
      missing('CNI_NETNS'),
      missing('CNI_IFNAME'),
      missing('CNI_CONTAINERID', 'DEL'),
      missing('CNI_IFNAME', 'DEL'),
      variable('CNI_COMMAND', invalidCommand(), 'CNI_COMMAND unknown'),
      variable('CNI_CONTAINERID', invalidId(1024), 'CNI_CONTAINERID invalid'),
      variable('CNI_IFNAME', invalidIfname(), 'CNI_IFNAME invalid'),
      variable('CNI_NETNS', invalidPath('/var/run/netns', fc.constant('@pod')), 'CNI_NETNS not an absolute clean path'),
      variable('CNI_NETNS', fc.constantFrom('/var/run/netns/@pod-gone', '/var/run/netns/@pod/'), 'CNI_NETNS does not exist for ADD'),
      fc
        .string({ unit: fc.constantFrom(...netnsNameChars), minLength: 1, maxLength: 4 })
        .map((podSuffix) => ({ why: 'CNI_NETNS holds a character outside the path alphabet', env, podSuffix })),
      fc
        .constantFrom('CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS')
        .chain((key) =>
          (key === 'CNI_CONTAINERID' ? invalidId(1024) : key === 'CNI_IFNAME' ? invalidIfname() : invalidPath('/var/run/netns', fc.constant('@pod'))).map(
            (v) => ({ why: `${key} invalid for DEL`, env: { ...env, CNI_COMMAND: 'DEL', [key]: v } }),
          ),
        ),
    );
    return faults.map((f) => ({ ...f, expect: 4 as const, stdin: { conf } }));
  });
}

// --- Decode (code 6) --------------------------------------------------------------

const isJson = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

export function decodeFault(): fc.Arbitrary<FuzzCase> {
  return fc.tuple(validEnv, validConf()).chain(([env, conf]) => {
    const json = toJson(conf, TOKENS);
    const text = (why: string, values: fc.Arbitrary<string>) => values.map((t): Pick<FuzzCase, 'why' | 'stdin'> => ({ why, stdin: { text: t } }));
    const faults: fc.Arbitrary<Pick<FuzzCase, 'why' | 'stdin'>> = fc.oneof(
      text('stdin empty', fc.constant('')),
      text(
        'stdin a truncated config',
        fc.nat(json.length - 1).map((n) => json.slice(0, n)),
      ),
      text('stdin a config with trailing bytes', fc.constantFrom(`${json}x`, `${json}${json}`, `${json},`, `${json}}`, `${json}\0`)),
      text(
        'stdin JavaScript, not JSON',
        fc.constantFrom(`{'cniVersion':'1.1.0'}`, '{"a":1,}', '{"a":NaN}', '{"a":undefined}', '{"a":0x10}', '// c\n{}', '{a:1}', '{"a":"\t"}'),
      ),
      text(
        'stdin not JSON',
        fc.string({ unit: 'binary', maxLength: 40 }).filter((t) => !isJson(t)),
      ),
      text(
        'stdin JSON but not an object',
        fc.oneof(
          fc.constantFrom('[]', `[${json}]`, '"{}"', '1', 'true', 'false', 'null', JSON.stringify(json)),
          fc
            .jsonValue()
            .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
            .map((v) => JSON.stringify(v)),
        ),
      ),
      fc.integer({ min: 1, max: 1024 * 1024 }).map((extra) => ({ why: 'stdin larger than 4 MiB', stdin: { conf, padTo: MAX_STDIN + extra } })),
    );
    return faults.map((f) => ({ ...f, expect: 6 as const, env }));
  });
}

// --- Version (code 1) and config (code 7) ------------------------------------------

export function versionFault(): fc.Arbitrary<FuzzCase> {
  return fc.tuple(validEnv, validConf(), invalidVersion()).map(([env, conf, cniVersion]) => ({
    why: 'cniVersion unsupported',
    expect: 1,
    env,
    stdin: { conf: { ...conf, cniVersion } },
  }));
}

export function configFault(): fc.Arbitrary<FuzzCase> {
  return fc.tuple(validEnv, invalidConf()).map(([env, fault]) => ({ why: fault.why, expect: 7, env, stdin: { conf: fault.value } }));
}

/** The config a case's stdin holds, when it holds one. */
export const confOf = (c: FuzzCase): Conf | undefined =>
  'conf' in c.stdin && typeof c.stdin.conf === 'object' && c.stdin.conf !== null && !Array.isArray(c.stdin.conf) ? (c.stdin.conf as Conf) : undefined;
