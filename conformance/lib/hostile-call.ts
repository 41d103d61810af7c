// One hostile ADD to one plugin, judged on everything the hostile-input
// checks ask: an answer within the time bound, without a crash or a stack
// trace; then either one clean error object and no change anywhere, or a
// result that is true of the kernel and a DEL that undoes all the ADD made;
// and no trace of an injected command.
//
// The plugin runs in a network namespace that stands in for the host:
// comparing a namespace of its own before and after each call sees exactly
// what the plugin did, undisturbed by anything else on the machine, and
// whatever the plugin leaves there goes with the namespace. A plugin that
// acts through a daemon in the real host is judged by its replies, the pod's
// namespace and the IPAM data only.
import { existsSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { defer } from './cleanup.ts';
import {
  addressesHeldBy,
  changesSince,
  createNetns,
  deleteNetns,
  kernelProblems,
  linkNames,
  listChanges,
  type Netns,
  type Observation,
  observe,
  setChanges,
  snapshotNet,
} from './host.ts';
import { type Canaries, canaryTraces, type HostileInput } from './hostile-payloads.ts';
import { type Completed, describeFailure, invoke, prevResultForDel, shorten } from './plugin.ts';
import { addPodDirectly, type BrokenAdd, brokenStdin, createPod, delPodDirectly, prepareBrokenAdd } from './pods.ts';
import { type AddResultView, inspectAddResult, readErrorOutput, readOneObject, stackTraceIn } from './spec.ts';
import type { Suite } from './suite.ts';

/** `steady`: the sandbox as it is between pods, the state every hostile call must leave it in. */
export type Sandbox = { netns: Netns; steady: Set<string> };

/**
 * A fresh stand-in host in which the conf's chain has ADDed and DELeted one
 * valid pod, so it already holds what plugins keep between pods (a bridge
 * and its address, say); or why that failed.
 */
export async function prepareSandbox(suite: Suite): Promise<Sandbox | string> {
  const netns = await createNetns('-host');
  const inSandbox = sandboxed(suite, netns);
  const pod = await createPod(inSandbox);
  const added = await addPodDirectly(inSandbox, pod, suite.net.cniVersion);
  if (!added.ok) return `a valid ADD with the namespace ${netns.name} standing in for the host failed: ${added.failure.reason}`;
  const deleted = await delPodDirectly(inSandbox, pod, suite.net.cniVersion, added.result);
  if (!deleted.ok) return `a valid DEL with the namespace ${netns.name} standing in for the host failed: ${deleted.failure.reason}`;
  await deleteNetns(pod.netns);
  return { netns, steady: await snapshotNet(netns) };
}

/** The same sandbox when it is still in its steady state, else a fresh one. */
export async function restoreSandbox(suite: Suite, sandbox: Sandbox): Promise<Sandbox | string> {
  if (setChanges(sandbox.steady, await snapshotNet(sandbox.netns)).length === 0) return sandbox;
  await deleteNetns(sandbox.netns);
  return prepareSandbox(suite);
}

/** `suite` with its plugins executed inside `netns`. */
export function sandboxed(suite: Suite, netns: Netns): Suite {
  return { ...suite, exec: { ...suite.exec, netns: netns.name } };
}

/** What all hostile calls share: the suite with its plugins running in the sandbox host, and what to watch. */
export type Arena = { suite: Suite; host: Netns; canaries: Canaries; dataDirs: readonly string[] };

/** `summary` says how the plugin answered, for a passing check's detail. */
export type HostileOutcome = { problems: string[]; summary: string };

/** One call in flight; `prevResult` is set once an ADD result is known, for the DELs that follow. */
type Attempt = { arena: Arena; add: BrokenAdd; input: HostileInput; pod: Netns; before: Observation; prevResult?: unknown };

/** `undone`: nothing is left for the suite's cleanup to remove. */
type Judgement = { problems: string[]; summary: string; undone: boolean };

export async function sendHostileAdd(arena: Arena, pluginIndex: number, input: HostileInput): Promise<HostileOutcome> {
  const pod = await createNetns(input.netnsLabel);
  const add = prepareBrokenAdd(arena.suite, pod, pluginIndex, input.breakage);
  const newDirs = input.networkName ? arena.dataDirs.map((dir) => join(dir, input.networkName ?? '')).filter((dir) => !existsSync(dir)) : [];
  const attempt: Attempt = { arena, add, input, pod, before: await observe(arena.host, pod, arena.dataDirs) };
  const forgetUndo = defer(`DEL what ${add.plugin.type} made of hostile input`, () => undoLeftovers(attempt, newDirs));

  const completed = await invoke(arena.suite, add.plugin.type, add.variables, add.stdin);
  const judgement = completed.exitCode === 0 ? await judgeAccepted(attempt, completed) : await judgeRefused(attempt, completed);
  if (judgement.undone) forgetUndo();
  const problems = [
    ...answerProblems(completed),
    ...judgement.problems,
    ...(await canaryTraces(arena.canaries, [arena.host, pod, undefined], input.forbiddenPaths ?? [])),
  ];
  const took = completed.elapsedMs >= 1000 ? ` in ${(completed.elapsedMs / 1000).toFixed(1)} s` : '';
  return { problems: problems.map((p) => `${add.plugin.type}: ${p}`), summary: `${add.plugin.type}: ${judgement.summary}${took}` };
}

/** Timeouts, crashes and stack traces: wrong whatever the exit status. */
function answerProblems(completed: Completed): string[] {
  const problems: string[] = [];
  if (completed.timedOutAfterMs !== undefined) problems.push(`gave no answer within ${completed.timedOutAfterMs / 1000} s`);
  else if (completed.signal) problems.push(`crashed (killed by ${completed.signal})`);
  for (const [stream, text] of [
    ['stderr', completed.stderr],
    ['stdout', completed.stdout],
  ] as const) {
    const stack = stackTraceIn(text);
    if (stack) problems.push(`printed ${stack} on ${stream}: ${shorten(text)}`);
  }
  return problems;
}

/** A success must be true of the kernel, under the names asked for, and its DEL must undo everything. */
async function judgeAccepted(attempt: Attempt, completed: Completed): Promise<Judgement> {
  const { arena, pod, before } = attempt;
  const problems = await resultProblems(attempt, completed);
  const deleted = await sendDel(attempt);
  if (deleted.exitCode !== 0) problems.push(describeFailure('the DEL of the accepted attachment', deleted));
  const left = changesSince(before, await observe(arena.host, pod, arena.dataDirs));
  if (left.length > 0) problems.push(`accepted, but after its DEL the host differs: ${listChanges(left)}`);
  return { problems, summary: 'accepted and undone', undone: deleted.exitCode === 0 };
}

/** A failure must be one clean error object, and change nothing at all. */
async function judgeRefused(attempt: Attempt, completed: Completed): Promise<Judgement> {
  const { arena, pod, before } = attempt;
  const { error, problems } = readErrorOutput(completed);
  const stack = error && stackTraceIn(`${error.msg}\n${error.details ?? ''}`);
  if (stack) problems.push(`put ${stack} in its error object`);
  const summary = error ? `code ${error.code} ${JSON.stringify(shorten(error.msg).slice(0, 80))}` : 'no error object';
  const changed = changesSince(before, await observe(arena.host, pod, arena.dataDirs));
  if (changed.length === 0) return { problems, summary, undone: true };
  // Not part of the verdict, but it tells a runtime author whether its DEL after a failed ADD would tidy up.
  const deleted = await sendDel(attempt);
  const left = changesSince(before, await observe(arena.host, pod, arena.dataDirs));
  const then = `${deleted.exitCode === 0 ? 'succeeds' : 'fails'} and ${left.length === 0 ? 'removes it all' : `leaves ${listChanges(left)}`}`;
  problems.push(`failed, yet changed the host: ${listChanges(changed)}; the DEL a runtime sends next ${then}`);
  return { problems, summary, undone: left.length === 0 };
}

/** The result against the spec and the kernel: the pod holds exactly what it lists, under the names asked for. */
async function resultProblems(attempt: Attempt, completed: Completed): Promise<string[]> {
  const { arena, add, pod } = attempt;
  const parsed = readOneObject(completed.stdout);
  if ('problem' in parsed) return [`ADD exited 0 but its ${parsed.problem}`];
  attempt.prevResult = parsed.value;
  const expect = { cniVersion: arena.suite.net.cniVersion, netns: add.variables.CNI_NETNS ?? '', ifname: add.variables.CNI_IFNAME ?? '' };
  const { view, problems } = inspectAddResult(parsed.value, expect);
  if (!view) return problems;
  return [...problems, ...(await kernelProblems(pod, expect.ifname, view, arena.host)), ...unlistedLinks(await linkNames(pod), view)];
}

function unlistedLinks(links: readonly string[], view: AddResultView): string[] {
  const listed = new Set(view.interfaces.filter((iface) => iface.sandbox !== undefined).map((iface) => iface.name));
  return links
    .filter((name) => name !== 'lo' && !listed.has(name))
    .map((name) => `the pod's netns holds ${JSON.stringify(name)}, which the result does not list`);
}

/** The DEL a runtime sends for the attachment: the same variables and configuration as its ADD. */
function sendDel({ arena, add, input, prevResult }: Attempt): Promise<Completed> {
  const passed = prevResultForDel(arena.suite.net.cniVersion, prevResult);
  const request = passed === undefined ? add.request : { ...add.request, prevResult: passed };
  return invoke(arena.suite, add.plugin.type, { ...add.variables, CNI_COMMAND: 'DEL' }, brokenStdin(input.breakage, request));
}

/** DEL, as a runtime would; then the suite removes what it can tell the plugin made for this attachment. */
async function undoLeftovers(attempt: Attempt, newDirs: readonly string[]): Promise<void> {
  const { arena, add } = attempt;
  await sendDel(attempt);
  const holder = new Set([add.variables.CNI_CONTAINERID ?? '']);
  for (const dir of arena.dataDirs.map((dataDir) => join(dataDir, arena.suite.net.name))) {
    for (const address of addressesHeldBy(dir, holder)) unlinkSync(join(dir, address));
  }
  for (const dir of newDirs) if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
