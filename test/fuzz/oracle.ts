// Runs one case in a fresh sandbox and says everything wrong with what the
// plugin did, as a list of short findings (empty: the case passed):
// - stdout is one JSON object: a result, or an error with the case's code;
//   never code 999, never a stack trace on stdout or stderr;
// - a failed call changed no link, address, route or file;
// - a successful ADD put in the kernel what its result says, and a DEL with
//   the same input takes it all away again.
import { existsSync } from 'node:fs';
import { confOf, type FuzzCase } from './cases.ts';
import { changes, footprint } from './footprint.ts';
import { delOutputProblems, oneJsonObject, traceProblems } from './output.ts';
import { defaultStore, removeIfNew, runPlugin, type Sandbox, type Sandboxes } from './sandbox.ts';
import { successProblems } from './success.ts';
import { expand, resolveString, toJson } from './values.ts';

export async function checkCase(c: FuzzCase, sandboxes: Sandboxes): Promise<string[]> {
  const sb = await sandboxes.create(c.podSuffix);
  const store = defaultStore(confOf(c)?.name);
  const storeExisted = store !== undefined && existsSync(store);
  try {
    const env = Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, resolveString(v, sb)]));
    const stdin = renderStdin(c, sb);
    const before = await footprint(sb);
    const run = await runPlugin(sb, env, stdin);
    const reply = oneJsonObject(run.stdout);
    const problems = [...(run.timedOut ? ['the plugin did not finish in 60 s'] : []), ...traceProblems(run.stdout, run.stderr)];
    if (run.exitCode !== 0) {
      problems.push(...errorProblems(c, reply), ...changes(before, await footprint(sb)));
    } else if (c.expect !== 'ok') {
      problems.push(`expected error code ${c.expect}, got success: ${run.stdout.slice(0, 300)}`);
    } else if (env.CNI_COMMAND === 'ADD') {
      if (reply.problem) problems.push(`ADD: ${reply.problem}`);
      else problems.push(...(await successProblems(c, { env, stdin }, sb, reply.value!, before)));
    } else {
      problems.push(...delOutputProblems(run.stdout));
      problems.push(...changes(before, await footprint(sb), { allowBookkeeping: true }));
    }
    if (store && !storeExisted && existsSync(store)) problems.push(`wrote outside its data dir: ${store}`);
    return problems;
  } finally {
    removeIfNew(store, storeExisted);
    await sandboxes.destroy(sb);
  }
}

function renderStdin(c: FuzzCase, sb: Sandbox): string {
  if ('text' in c.stdin) return expand(c.stdin.text, sb);
  const json = toJson(c.stdin.conf, sb);
  const padTo = c.stdin.padTo;
  if (padTo === undefined) return json;
  const room = padTo - Buffer.byteLength(json);
  if (room < 0) throw new Error(`a case's config is ${-room} bytes over its padTo`);
  return json + ' '.repeat(room);
}

function errorProblems(c: FuzzCase, reply: ReturnType<typeof oneJsonObject>): string[] {
  if (reply.problem) return [reply.problem];
  const { code, msg, cniVersion } = reply.value!;
  const problems: string[] = [];
  if (code === 999) problems.push(`internal error (code 999): ${String(msg).slice(0, 300)}`);
  if (!Number.isInteger(code)) problems.push(`the error has no integer code: ${JSON.stringify(reply.value).slice(0, 300)}`);
  if (typeof msg !== 'string' || msg === '') problems.push('the error has no msg');
  if (typeof cniVersion !== 'string') problems.push('the error has no cniVersion');
  const expected = c.expect === 'ok' ? 'success' : `code ${c.expect}`;
  if (code !== c.expect && code !== 999) problems.push(`expected ${expected}, got code ${String(code)}: ${String(msg).slice(0, 300)}`);
  return problems;
}
