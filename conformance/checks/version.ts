// VERSION: every plugin declares the spec versions it implements, and refuses
// a configuration in any other version with code 1.
import { sendBrokenAdd } from '../lib/broken-add.ts';
import { createNetns } from '../lib/netns.ts';
import { distinctPlugins } from '../lib/network-config.ts';
import type { Suite } from '../lib/suite.ts';

// Newer than any spec and older than any: neither can be in supportedVersions.
const UNSUPPORTED_VERSIONS = ['9.9.9', '0.0.9'];
const INCOMPATIBLE_VERSION = 1;

const SUPPORTED_VERSIONS = { id: 'version.supported-versions', title: "VERSION lists supportedVersions, including the conf's cniVersion" };
const ECHOES_REQUEST = { id: 'version.echoes-request', title: 'VERSION answers in the cniVersion it was asked in' };
const UNSUPPORTED_REJECTED = {
  id: 'version.unsupported-rejected',
  title: `ADD with cniVersion ${UNSUPPORTED_VERSIONS.join(' or ')} fails with code ${INCOMPATIBLE_VERSION}`,
};

export async function checkVersion(suite: Suite): Promise<void> {
  const declared = [...suite.versions].flatMap(([type, answer]) => answer.problems.map((p) => `${type}: ${p}`));
  suite.report.verdict(
    SUPPORTED_VERSIONS,
    declared,
    [...suite.versions].map(([type, answer]) => `${type}: ${answer.supported.join(', ')}`).join('; '),
  );

  const replies = [...suite.versions].flatMap(([type, answer]) => (answer.reply ? [{ type, reply: answer.reply }] : []));
  if (replies.length === 0) {
    suite.report.fail(ECHOES_REQUEST, 'not reached: no plugin answered VERSION with a JSON object');
  } else {
    suite.report.verdict(
      ECHOES_REQUEST,
      replies
        .filter(({ reply }) => reply.cniVersion !== suite.net.cniVersion)
        .map(
          ({ type, reply }) =>
            `${type} answered with cniVersion ${JSON.stringify(reply.cniVersion)} when asked in "${suite.net.cniVersion}"; ` +
            'SPEC.md section 5 "VERSION Success" wants the input\'s value',
        ),
    );
  }

  const netns = await createNetns();
  const problems: string[] = [];
  for (const { index } of distinctPlugins(suite.net)) {
    for (const version of UNSUPPORTED_VERSIONS) {
      const outcome = await sendBrokenAdd(
        suite,
        netns,
        index,
        { stdin: (valid) => JSON.stringify({ ...valid, cniVersion: version }) },
        [INCOMPATIBLE_VERSION],
      );
      problems.push(...outcome.problems.map((p) => `cniVersion ${version}: ${p}`));
    }
  }
  suite.report.verdict(UNSUPPORTED_REJECTED, problems);
}
