import { quote } from '../text/quote.ts';
import { envError } from './errors.ts';
import { absolutePathProblem, interfaceNameProblem, isValidContainerId, MAX_CONTAINER_ID } from './names.ts';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type Command = (typeof COMMANDS)[number];

/** The CNI_* variables of one invocation, validated for its verb. */
export type Invocation = {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  args: Record<string, string>;
  path: string[];
};

// Which variables each verb needs (SPEC.md "Parameters").
const REQUIRED: Record<Command, readonly ('CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME')[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: [],
  STATUS: [],
  VERSION: [],
};

export function parseInvocation(env: NodeJS.ProcessEnv): Invocation {
  const command = env.CNI_COMMAND ?? '';
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw envError(
      command === ''
        ? `CNI_COMMAND is not set: weft is a CNI plugin, run it with CNI_COMMAND=${COMMANDS.join('|')}`
        : `CNI_COMMAND ${quote(command)} is unknown: use one of ${COMMANDS.join(', ')}`,
    );
  }
  const verb = command as Command;
  for (const name of REQUIRED[verb]) {
    if (!env[name]) throw envError(`${name} is required for ${verb} but is not set`);
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  const netns = env.CNI_NETNS ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (containerId !== '' && !isValidContainerId(containerId)) {
    throw envError(
      `CNI_CONTAINERID ${quote(containerId)} is invalid: it must be at most ${MAX_CONTAINER_ID} letters, digits, "_", "." or "-", starting with a letter or digit`,
    );
  }
  if (ifname !== '') {
    const problem = interfaceNameProblem(ifname);
    if (problem) throw envError(`CNI_IFNAME ${quote(ifname)} ${problem}: choose a valid interface name`);
  }
  const netnsProblem = netns === '' ? undefined : absolutePathProblem(netns);
  if (netnsProblem) {
    throw envError(`CNI_NETNS ${quote(netns)} ${netnsProblem}: pass the network namespace's path, e.g. /var/run/netns/NAME`);
  }
  return {
    command: verb,
    containerId,
    netns,
    ifname,
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
}

/** CNI_ARGS is `K=V;K2=V2`; weft only reads it for log context. */
function parseCniArgs(raw: string): Record<string, string> {
  const args: Record<string, string> = {};
  for (const pair of raw.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return args;
}
