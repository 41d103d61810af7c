// Hostile input: names, paths and addresses carrying control characters,
// "#", "%", quotes, ip -batch lines and shell commands, and input nested or
// sized to break naive code. Each case goes straight to each plugin it
// concerns, which runs in a namespace standing in for the host. A plugin
// passes with one clean error object and no change anywhere, or with a
// result true of the kernel that its DEL undoes; never by running an
// injected command, crashing, hanging or printing a stack trace.
import { canaryInjectionProblem, prepareCanaries } from '../lib/canaries.ts';
import { mark, unwindTo } from '../lib/cleanup.ts';
import { sendHostileAdd } from '../lib/hostile-call.ts';
import { targetIndexes } from '../lib/hostile-case.ts';
import { prepareSandbox, restoreSandbox, sandboxed } from '../lib/host-sandbox.ts';
import { ipamDataDirs } from '../lib/ipam-state.ts';
import type { Suite } from '../lib/suite.ts';
import { nameCases } from './hostile-names.ts';
import { sizeCases } from './hostile-sizes.ts';

// Hangs and super-linear work show up as minutes; a linear pass over the
// largest input here (100 000 routes into a netns) takes a few seconds on a
// busy two-core machine.
const TIME_BOUND_MS = 20_000;

export async function checkHostileInput(suite: Suite): Promise<void> {
  const canaries = prepareCanaries();
  const dataDirs = ipamDataDirs(suite.net);
  const cases = [...nameCases(suite.net, canaries, dataDirs), ...sizeCases(suite.net)];
  const hostile: Suite = { ...suite, exec: { ...suite.exec, cwd: canaries.dir, timeoutMs: TIME_BOUND_MS } };
  let sandbox = await prepareSandbox(hostile);
  const unusable = typeof sandbox === 'string' ? sandbox : await canaryInjectionProblem(canaries);
  if (unusable !== undefined) return suite.report.unreached(cases.map((c) => c.check), unusable);

  for (const { check, targets, input } of cases) {
    const indexes = targetIndexes(suite.net, targets);
    if (indexes.length === 0) {
      suite.report.notApplicable(check, "no plugin's ipam section names a subnet (host-local's format) to build the hostile values on");
      continue;
    }
    const problems: string[] = [];
    const summaries: string[] = [];
    for (const index of indexes) {
      if (typeof sandbox === 'string') {
        problems.push(`not reached: ${sandbox}`);
        break;
      }
      const position = mark();
      try {
        const outcome = await sendHostileAdd({ suite: sandboxed(hostile, sandbox.netns), host: sandbox.netns, canaries, dataDirs }, index, input);
        problems.push(...outcome.problems);
        summaries.push(outcome.summary);
      } catch (err) {
        problems.push(`the suite could not run the case: ${(err as Error).message}`);
      }
      problems.push(...(await unwindTo(position)).map((leftover) => `cleanup: ${leftover}`));
      sandbox = await restoreSandbox(hostile, sandbox);
    }
    suite.report.verdict(check, problems, summaries.join('; '));
  }
}
