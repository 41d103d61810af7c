// A PATH whose one tool is replaced, the way a broken or instrumented node
// would run it: to inject a failure, or to count how often the plugin spawns it.

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { tempDir } from './fixtures.ts';
import { must, SYSTEM_PATH } from './shell.ts';

/** A PATH whose `tool` runs `script` (sh) and whose other tools are the system's. */
export function pathWith(t: ExecutionContext, tool: string, script: string): string {
  const dir = tempDir(t);
  writeFileSync(join(dir, tool), `#!/bin/sh\n${script}\n`);
  chmodSync(join(dir, tool), 0o755);
  return `${dir}:${SYSTEM_PATH}`;
}

/** The system's `tool`, as the plugin would find it. */
export async function systemTool(tool: string): Promise<string> {
  return (await must('sh', ['-c', `PATH=${SYSTEM_PATH} command -v ${tool}`])).trim();
}

/** A PATH whose `tool` is the system's, counted: `runs()` is how often it ran since the last call. */
export async function countingPath(t: ExecutionContext, tool: string): Promise<{ PATH: string; runs: () => number }> {
  const log = join(tempDir(t), 'runs');
  writeFileSync(log, '');
  const PATH = pathWith(t, tool, `echo run >> ${log}\nexec ${await systemTool(tool)} "$@"`);
  let seen = 0;
  return {
    PATH,
    runs: () => {
      const total = readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
      const since = total - seen;
      seen = total;
      return since;
    },
  };
}
