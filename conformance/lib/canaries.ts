// Traps for injected commands: a link name and a directory that only an
// injected `ip` line or shell command would create or write to. The hostile
// payloads name them; after every call the suite looks for them and removes
// what it finds, so the next call starts clean.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defer } from './cleanup.ts';
import { type Netns, createNetns, deleteNetns } from './netns.ts';
import { describeFailure, run } from './process.ts';

/** Plugins run with `dir` as their working directory, so payloads can name files in it in a few characters. */
export type Canaries = { link: string; dir: string };

export function prepareCanaries(): Canaries {
  const dir = mkdtempSync(join(tmpdir(), `cft-${process.pid}-canary-`));
  const link = `cfk${process.pid}`;
  defer(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  // Namespaces the suite made take their canaries with them; the host's own would stay.
  defer(`remove link ${link} should an injected command have made it on the host`, () => removeLink(link));
  return { link, dir };
}

/**
 * A newline, then the `ip -batch` line that makes the canary link, its end
 * commented out so that words a plugin appends to the value cannot spoil it.
 */
export function canaryInjection(canaries: Canaries): string {
  return `\nlink add ${canaries.link} type bridge #`;
}

/**
 * Shell commands that write into the canary dir wherever a shell meets them
 * in a word: after ";", in $(…) and in backquotes. The names are relative
 * because CNI_IFNAME leaves no room for a path and a netns name may hold no "/".
 */
export const CANARY_SHELL_COMMANDS = ';touch semi;$(touch subst)`touch tick`';

/** Why the injections cannot leave their canaries here, or undefined when they can: otherwise their absence would prove nothing. */
export async function canaryInjectionProblem(canaries: Canaries): Promise<string | undefined> {
  // Each injection as a naive plugin would embed it: inside a line, with more words after it.
  const netns = await createNetns('-canary-test');
  try {
    const batch = `link show dev lo${canaryInjection(canaries)} up\n`;
    const completed = await run('ip', ['-n', netns.name, '-batch', '-'], { input: batch });
    if (completed.exitCode !== 0) return `the canary injection fails here: ${describeFailure(`ip -batch with ${JSON.stringify(batch)}`, completed)}`;
    if (!(await findLink(canaries.link, netns))) return `ip -batch with ${JSON.stringify(batch)} succeeded but made no link ${canaries.link}`;
  } finally {
    await deleteNetns(netns);
  }
  const script = `echo value${CANARY_SHELL_COMMANDS} more`;
  await run('sh', ['-c', script], { cwd: canaries.dir });
  const made = readdirSync(canaries.dir);
  for (const file of made) rmSync(join(canaries.dir, file), { force: true });
  return made.length === 3 ? undefined : `sh -c ${JSON.stringify(script)} made ${made.length} of its 3 canary files in ${canaries.dir}`;
}

/**
 * Every trace of an injected command: the canary link in any of `namespaces`
 * (undefined: the suite's own), a file in the canary dir, or one of
 * `forbiddenPaths`. Each is removed once found.
 */
export async function canaryTraces(canaries: Canaries, namespaces: readonly (Netns | undefined)[], forbiddenPaths: readonly string[]): Promise<string[]> {
  const traces: string[] = [];
  for (const netns of namespaces) {
    if (!(await findLink(canaries.link, netns))) continue;
    traces.push(`canary link ${canaries.link} appeared in ${netns ? `netns ${netns.name}` : 'the host namespace'}: an injected ip command ran`);
    await removeLink(canaries.link, netns);
  }
  for (const file of readdirSync(canaries.dir)) {
    traces.push(`canary file ${file} appeared in the plugin's working directory: an injected shell command ran`);
    rmSync(join(canaries.dir, file), { recursive: true, force: true });
  }
  for (const path of forbiddenPaths) {
    if (!existsSync(path)) continue;
    traces.push(`${path} appeared`);
    rmSync(path, { recursive: true, force: true });
  }
  return traces;
}

async function findLink(name: string, netns?: Netns): Promise<boolean> {
  return (await run('ip', [...inNetns(netns), 'link', 'show', 'dev', name])).exitCode === 0;
}

async function removeLink(name: string, netns?: Netns): Promise<void> {
  const completed = await run('ip', [...inNetns(netns), 'link', 'delete', name]);
  if (completed.exitCode !== 0 && !/Cannot find device|does not exist/.test(completed.stderr)) {
    throw new Error(`${describeFailure(`ip link delete ${name}`, completed)}; delete it by hand`);
  }
}

function inNetns(netns?: Netns): string[] {
  return netns ? ['-n', netns.name] : [];
}
