// Executes one plugin binary directly, as a runtime does: CNI_* variables in
// the environment, the request configuration on stdin.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { type Completed, run } from './process.ts';

/** CNI_* variables to set; a variable left out is unset in the plugin's environment. */
export type CniVariables = Partial<
  Record<'CNI_COMMAND' | 'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME' | 'CNI_ARGS' | 'CNI_PATH', string>
>;

/** The first executable named `type` on the CNI path. */
export function findPlugin(type: string, cniPath: readonly string[]): string {
  for (const dir of cniPath) {
    const candidate = join(dir, type);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`plugin "${type}" is not an executable in --cni-path ${cniPath.join(':')}; add the directory that holds it`);
}

/** Where and how long a plugin runs; by default in the suite's own namespace and directory, with the suite's time limit. */
export type ExecContext = {
  /** A named network namespace that stands in for the host. */
  netns?: string;
  cwd?: string;
  timeoutMs?: number;
};

export function execPlugin(binary: string, variables: CniVariables, stdin: string, context: ExecContext = {}): Promise<Completed> {
  const options = { env: pluginEnvironment(variables), input: stdin, cwd: context.cwd, timeoutMs: context.timeoutMs };
  // `ip netns exec` also mounts the namespace's own /sys, which plugins read links from.
  return context.netns ? run('ip', ['netns', 'exec', context.netns, binary], options) : run(binary, [], options);
}

/** The suite's own environment minus anything CNI-related it may have inherited, plus `variables`. */
export function pluginEnvironment(variables: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CNI_') && key !== 'NETCONFPATH' && key !== 'CAP_ARGS') env[key] = value;
  }
  for (const [key, value] of Object.entries(variables)) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}
