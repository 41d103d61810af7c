// STATUS (spec 1.1.0): a plugin able to serve ADDs exits 0.
import { statusChain } from '../lib/chain.ts';
import { describeError, readErrorOutput } from '../lib/error-shape.ts';
import type { Check } from '../lib/report.ts';
import { type Suite, verbGate } from '../lib/suite.ts';
import { INTRODUCED_IN } from '../lib/versions.ts';

const HEALTHY: Check = { id: 'status.healthy', title: 'STATUS succeeds for a healthy configuration' };

export async function checkStatus(suite: Suite): Promise<void> {
  if (suite.report.closed([HEALTHY], verbGate(suite, 'STATUS', INTRODUCED_IN.STATUS))) return;
  const outcome = await statusChain(suite, suite.net.cniVersion);
  if (outcome.ok) return suite.report.pass(HEALTHY);
  const { error, problems } = readErrorOutput(outcome.failure.completed);
  const answer = error ? `${outcome.failure.type} STATUS answered ${describeError(error)}` : outcome.failure.reason;
  suite.report.fail(HEALTHY, [`${answer}; a plugin able to serve ADD must exit 0`, ...problems].join('; '));
}
