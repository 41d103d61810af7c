// What the cluster tests share: the machine's one cluster, a shell line in a
// node, and polling.
import { existsSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { eventually } from '../../testbed/eventually.ts';
import { down, nodeExec, STATE } from '../../tools/cluster/cluster.ts';

export const NODES = ['node1', 'node2', 'node3'];
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the machine's one cluster for this test: fails the test when one (or
 * its remains) is there already, which may be someone's, and otherwise brings
 * whatever the test starts down when it ends. Call what it returns once the
 * test took the cluster down itself. Undefined: the test has failed.
 */
export function ownCluster(t: ExecutionContext): (() => void) | undefined {
  if (existsSync(STATE)) {
    t.fail(`a cluster (or its remains) is at ${STATE}: run make cluster-down first; this test must not take over someone's cluster`);
    return undefined;
  }
  let tornDown = false;
  t.teardown(async () => {
    if (!tornDown) await down({ log: () => undefined });
  });
  return () => {
    tornDown = true;
  };
}

/** `sh -c cmd` in a node's namespaces; rejects with its stderr. */
export async function inNode(node: string, cmd: string): Promise<string> {
  const r = await nodeExec(node, ['sh', '-c', cmd]);
  if (r.code !== 0) throw new Error(`${node}: ${cmd}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** Polls f every 0.5 s until it returns a value; after `ms`, rejects naming `what` and f's last error (and logs it, for the TAP output). */
export async function until<T>(t: ExecutionContext, what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  try {
    return await eventually(what, f, ms, 500);
  } catch (err) {
    t.log((err as Error).message);
    throw err;
  }
}
