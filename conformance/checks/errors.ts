// The error paths of SPEC.md section 5 "Error": a broken request must end in
// a non-zero exit and exactly one error object on stdout, with the code the
// spec reserves for that kind of failure.
import { distinctPlugins } from '../lib/conf.ts';
import { createNetns } from '../lib/host.ts';
import type { CniVariables } from '../lib/plugin.ts';
import { type Breakage, type BrokenAddOutcome, breakVariable, sendBrokenAdd } from '../lib/pods.ts';
import type { Check } from '../lib/report.ts';
import type { CniErrorObject } from '../lib/spec.ts';
import type { Suite } from '../lib/suite.ts';

const INVALID_ENVIRONMENT = 4;
const DECODING_FAILURE = 6;

type ErrorCase = {
  check: Check;
  breakage: Breakage;
  code: number;
  /** The CNI_* variable the case breaks; code 4 messages "must contain the names of invalid variables". */
  variable?: string;
  /** libcni's skel prints an "about" banner and exits 0 when CNI_COMMAND is unset: no operation, so no error needed. */
  allowsBanner?: boolean;
};

/** A case breaking one CNI_* variable, which code 4 messages must name; `value` undefined unsets it. */
function invalidVariable(id: string, title: string, variable: keyof CniVariables, value: string | undefined, allowsBanner = false): ErrorCase {
  return { check: { id: `errors.${id}`, title }, breakage: breakVariable(variable, () => value), code: INVALID_ENVIRONMENT, variable, allowsBanner };
}

const CASES: ErrorCase[] = [
  {
    check: { id: 'errors.undecodable-config', title: 'ADD with a config that is not JSON fails with code 6' },
    breakage: { stdin: () => '{"cniVersion": "1.0.0", "name": ' },
    code: DECODING_FAILURE,
  },
  invalidVariable('ifname-with-slash', 'ADD with CNI_IFNAME "a/b" fails with code 4', 'CNI_IFNAME', 'a/b'),
  invalidVariable('ifname-too-long', 'ADD with a 16-character CNI_IFNAME fails with code 4', 'CNI_IFNAME', 'cft0123456789abc'),
  invalidVariable('container-id-invalid', 'ADD with CNI_CONTAINERID "../x" fails with code 4', 'CNI_CONTAINERID', '../x'),
  invalidVariable('container-id-missing', 'ADD without CNI_CONTAINERID fails with code 4', 'CNI_CONTAINERID', undefined),
  invalidVariable('netns-missing', 'ADD without CNI_NETNS fails with code 4', 'CNI_NETNS', undefined),
  invalidVariable('command-unknown', 'CNI_COMMAND "FROB" fails with code 4', 'CNI_COMMAND', 'FROB'),
  invalidVariable('command-missing', 'no CNI_COMMAND fails with code 4 (or prints only a banner on stderr)', 'CNI_COMMAND', undefined, true),
];

const NAMES_VARIABLE: Check = { id: 'errors.names-variable', title: 'code 4 errors name the invalid CNI_* variable in msg or details' };
const CARRIES_VERSION: Check = { id: 'errors.carry-cni-version', title: 'error objects carry cniVersion' };

export async function checkErrors(suite: Suite): Promise<void> {
  const netns = await createNetns();
  const errorObjects: { type: string; errorCase: ErrorCase; error: CniErrorObject }[] = [];
  for (const errorCase of CASES) {
    const problems: string[] = [];
    for (const { type, index } of distinctPlugins(suite.net)) {
      const outcome = await sendBrokenAdd(suite, netns, index, errorCase.breakage, [errorCase.code]);
      if (errorCase.allowsBanner && printedOnlyBanner(outcome)) continue;
      problems.push(...outcome.problems);
      if (outcome.error) errorObjects.push({ type, errorCase, error: outcome.error });
    }
    suite.report.verdict(errorCase.check, problems);
  }

  const invalidVariables = errorObjects.filter(({ errorCase, error }) => errorCase.variable && error.code === INVALID_ENVIRONMENT);
  suite.report.verdictOn(
    NAMES_VARIABLE,
    invalidVariables,
    'no plugin answered a broken CNI_* variable with a code 4 error object',
    invalidVariables
      .filter(({ errorCase, error }) => !`${error.msg} ${error.details ?? ''}`.includes(errorCase.variable ?? ''))
      .map(({ type, errorCase, error }) => `${type} (${errorCase.check.id}): "${error.msg}" does not mention ${errorCase.variable}`),
  );

  const versionless = errorObjects.filter(({ error }) => typeof error.cniVersion !== 'string' || error.cniVersion === '');
  suite.report.verdictOn(
    CARRIES_VERSION,
    errorObjects,
    'no plugin printed an error object',
    [...new Set(versionless.map(({ type }) => type))].map(
      (type) => `${type} prints error objects without "cniVersion"; SPEC.md section 5 "Error" lists it as the protocol version in use`,
    ),
  );
}

function printedOnlyBanner(outcome: BrokenAddOutcome): boolean {
  return outcome.completed.exitCode === 0 && outcome.completed.stdout.trim() === '';
}
