// The error paths of SPEC.md section 5 "Error": a broken request must end in
// a non-zero exit and exactly one error object on stdout, with the code the
// spec reserves for that kind of failure.
import { type BrokenAddOutcome, type Breakage, sendBrokenAdd } from '../lib/broken-add.ts';
import type { CniErrorObject } from '../lib/error-shape.ts';
import { createNetns } from '../lib/netns.ts';
import { distinctPlugins } from '../lib/network-config.ts';
import type { Check } from '../lib/report.ts';
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

const without = (name: string) => (valid: Record<string, string | undefined>) => ({ ...valid, [name]: undefined });
const withValue = (name: string, value: string) => (valid: Record<string, string | undefined>) => ({ ...valid, [name]: value });

const CASES: ErrorCase[] = [
  {
    check: { id: 'errors.undecodable-config', title: 'ADD with a config that is not JSON fails with code 6' },
    breakage: { stdin: () => '{"cniVersion": "1.0.0", "name": ' },
    code: DECODING_FAILURE,
  },
  {
    check: { id: 'errors.ifname-with-slash', title: 'ADD with CNI_IFNAME "a/b" fails with code 4' },
    breakage: { variables: withValue('CNI_IFNAME', 'a/b') },
    code: INVALID_ENVIRONMENT,
    variable: 'CNI_IFNAME',
  },
  {
    check: { id: 'errors.ifname-too-long', title: 'ADD with a 16-character CNI_IFNAME fails with code 4' },
    breakage: { variables: withValue('CNI_IFNAME', 'cft0123456789abc') },
    code: INVALID_ENVIRONMENT,
    variable: 'CNI_IFNAME',
  },
  {
    check: { id: 'errors.container-id-invalid', title: 'ADD with CNI_CONTAINERID "../x" fails with code 4' },
    breakage: { variables: withValue('CNI_CONTAINERID', '../x') },
    code: INVALID_ENVIRONMENT,
    variable: 'CNI_CONTAINERID',
  },
  {
    check: { id: 'errors.container-id-missing', title: 'ADD without CNI_CONTAINERID fails with code 4' },
    breakage: { variables: without('CNI_CONTAINERID') },
    code: INVALID_ENVIRONMENT,
    variable: 'CNI_CONTAINERID',
  },
  {
    check: { id: 'errors.netns-missing', title: 'ADD without CNI_NETNS fails with code 4' },
    breakage: { variables: without('CNI_NETNS') },
    code: INVALID_ENVIRONMENT,
    variable: 'CNI_NETNS',
  },
  {
    check: { id: 'errors.command-unknown', title: 'CNI_COMMAND "FROB" fails with code 4' },
    breakage: { variables: withValue('CNI_COMMAND', 'FROB') },
    code: INVALID_ENVIRONMENT,
    variable: 'CNI_COMMAND',
  },
  {
    check: { id: 'errors.command-missing', title: 'no CNI_COMMAND fails with code 4 (or prints only a banner on stderr)' },
    breakage: { variables: without('CNI_COMMAND') },
    code: INVALID_ENVIRONMENT,
    variable: 'CNI_COMMAND',
    allowsBanner: true,
  },
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
  if (invalidVariables.length === 0) {
    suite.report.fail(NAMES_VARIABLE, 'not reached: no plugin answered a broken CNI_* variable with a code 4 error object');
  } else {
    suite.report.verdict(
      NAMES_VARIABLE,
      invalidVariables
        .filter(({ errorCase, error }) => !`${error.msg} ${error.details ?? ''}`.includes(errorCase.variable ?? ''))
        .map(({ type, errorCase, error }) => `${type} (${errorCase.check.id}): "${error.msg}" does not mention ${errorCase.variable}`),
    );
  }

  if (errorObjects.length === 0) {
    suite.report.fail(CARRIES_VERSION, 'not reached: no plugin printed an error object');
  } else {
    const versionless = errorObjects.filter(({ error }) => typeof error.cniVersion !== 'string' || error.cniVersion === '');
    suite.report.verdict(
      CARRIES_VERSION,
      [...new Set(versionless.map(({ type }) => type))].map(
        (type) => `${type} prints error objects without "cniVersion"; SPEC.md section 5 "Error" lists it as the protocol version in use`,
      ),
    );
  }
}

function printedOnlyBanner(outcome: BrokenAddOutcome): boolean {
  return outcome.completed.exitCode === 0 && outcome.completed.stdout.trim() === '';
}
