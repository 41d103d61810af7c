// What the cluster tests share: a shell line in a node, and polling.
import type { ExecutionContext } from 'ava';
import { eventually } from '../../testbed/eventually.ts';
import { nodeExec } from '../../tools/cluster/cluster.ts';

export const NODES = ['node1', 'node2', 'node3'];
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
