// Sends one deliberately broken ADD straight to one plugin of the conf, for
// the error-path checks. Should the plugin accept it anyway, the resulting
// attachment is DELeted like any other.
import { type Attachment, attachmentVariables, invoke } from './chain.ts';
import { defer } from './cleanup.ts';
import { type CniErrorObject, describeError, readErrorOutput } from './error-shape.ts';
import type { Netns } from './netns.ts';
import type { PluginConf } from './network-config.ts';
import type { CniVariables } from './plugin-exec.ts';
import { pluginRequest } from './plugin-request.ts';
import type { Completed } from './process.ts';
import type { Suite } from './suite.ts';

export type Breakage = {
  variables?: (valid: CniVariables) => CniVariables;
  stdin?: (valid: Record<string, unknown>) => string;
};

export type BrokenAddOutcome = { completed: Completed; error?: CniErrorObject; problems: string[] };

/** One broken ADD, ready to send: `request` is the valid request the breakage started from. */
export type BrokenAdd = {
  plugin: PluginConf;
  attachment: Attachment;
  variables: CniVariables;
  request: Record<string, unknown>;
  stdin: string;
};

let sent = 0;

/** A fresh attachment in `netns` for the conf's plugin at `pluginIndex`, with the breakage applied. */
export function prepareBrokenAdd(suite: Suite, netns: Netns, pluginIndex: number, breakage: Breakage): BrokenAdd {
  const plugin = suite.net.plugins[pluginIndex];
  if (!plugin) throw new Error(`the conf has no plugin at index ${pluginIndex}`);
  const attachment: Attachment = { containerId: `cft-${process.pid}-broken-${++sent}`, netns: netns.path, ifname: suite.ifname };
  const valid = attachmentVariables(suite, 'ADD', attachment);
  const request = pluginRequest(suite.net, plugin, { cniVersion: suite.net.cniVersion });
  return {
    plugin,
    attachment,
    variables: breakage.variables ? breakage.variables(valid) : valid,
    request,
    stdin: breakage.stdin ? breakage.stdin(request) : JSON.stringify(request),
  };
}

/** Runs the broken ADD and judges the reply against the error codes the spec allows for it. */
export async function sendBrokenAdd(
  suite: Suite,
  netns: Netns,
  pluginIndex: number,
  breakage: Breakage,
  allowedCodes: readonly number[],
): Promise<BrokenAddOutcome> {
  const { plugin, attachment, variables, request, stdin } = prepareBrokenAdd(suite, netns, pluginIndex, breakage);
  const forget = defer(`DEL the wrongly accepted ${attachment.containerId}`, async () => {
    await invoke(suite, plugin.type, { ...variables, CNI_COMMAND: 'DEL' }, request);
  });
  const completed = await invoke(suite, plugin.type, variables, stdin);
  if (completed.exitCode !== 0) forget();

  const { error, problems } = readErrorOutput(completed);
  const judged = problems.map((p) => `${plugin.type}: ${p}`);
  if (error && !allowedCodes.includes(error.code)) {
    judged.push(`${plugin.type} answered ${describeError(error)}; the spec's code here is ${allowedCodes.join(' or ')}`);
  }
  return { completed, error, problems: judged };
}
