// The verbs that ask about a plugin rather than an attachment. VERSION: every
// plugin declares the spec versions it implements, and refuses a
// configuration in any other version with code 1. STATUS (spec 1.1.0): a
// plugin able to serve ADDs exits 0.
import { distinctPlugins } from '../lib/conf.ts';
import { createNetns } from '../lib/host.ts';
import { statusChain } from '../lib/plugin.ts';
import { breakRequest, sendBrokenAdd } from '../lib/pods.ts';
import type { Check } from '../lib/report.ts';
import { describeError, readErrorOutput } from '../lib/spec.ts';
import { type Suite, verbGate } from '../lib/suite.ts';

// Newer than any spec and older than any: neither can be in supportedVersions.
const UNSUPPORTED_VERSIONS = ['9.9.9', '0.0.9'];
const INCOMPATIBLE_VERSION = 1;

const SUPPORTED_VERSIONS: Check = { id: 'version.supported-versions', title: "VERSION lists supportedVersions, including the conf's cniVersion" };
const ECHOES_REQUEST: Check = { id: 'version.echoes-request', title: 'VERSION answers in the cniVersion it was asked in' };
const UNSUPPORTED_REJECTED: Check = {
  id: 'version.unsupported-rejected',
  title: `ADD with cniVersion ${UNSUPPORTED_VERSIONS.join(' or ')} fails with code ${INCOMPATIBLE_VERSION}`,
};
const HEALTHY: Check = { id: 'status.healthy', title: 'STATUS succeeds for a healthy configuration' };

export async function checkVersion(suite: Suite): Promise<void> {
  const declared = [...suite.versions].flatMap(([type, answer]) => answer.problems.map((p) => `${type}: ${p}`));
  suite.report.verdict(SUPPORTED_VERSIONS, declared, [...suite.versions].map(([type, answer]) => `${type}: ${answer.supported.join(', ')}`).join('; '));

  const replies = [...suite.versions].flatMap(([type, answer]) => (answer.reply ? [{ type, reply: answer.reply }] : []));
  suite.report.verdictOn(
    ECHOES_REQUEST,
    replies,
    'no plugin answered VERSION with a JSON object',
    replies
      .filter(({ reply }) => reply.cniVersion !== suite.net.cniVersion)
      .map(
        ({ type, reply }) =>
          `${type} answered with cniVersion ${JSON.stringify(reply.cniVersion)} when asked in "${suite.net.cniVersion}"; ` +
          'SPEC.md section 5 "VERSION Success" wants the input\'s value',
      ),
  );

  const netns = await createNetns();
  const problems: string[] = [];
  for (const { index } of distinctPlugins(suite.net)) {
    for (const version of UNSUPPORTED_VERSIONS) {
      const breakage = breakRequest((valid) => ({ ...valid, cniVersion: version }));
      const outcome = await sendBrokenAdd(suite, netns, index, breakage, [INCOMPATIBLE_VERSION]);
      problems.push(...outcome.problems.map((p) => `cniVersion ${version}: ${p}`));
    }
  }
  suite.report.verdict(UNSUPPORTED_REJECTED, problems);
}

export async function checkStatus(suite: Suite): Promise<void> {
  if (suite.report.closed([HEALTHY], verbGate(suite, 'STATUS'))) return;
  const outcome = await statusChain(suite, suite.net.cniVersion);
  if (outcome.ok) return suite.report.pass(HEALTHY);
  const { error, problems } = readErrorOutput(outcome.failure.completed);
  const answer = error ? `${outcome.failure.type} STATUS answered ${describeError(error)}` : outcome.failure.reason;
  suite.report.fail(HEALTHY, [`${answer}; a plugin able to serve ADD must exit 0`, ...problems].join('; '));
}
