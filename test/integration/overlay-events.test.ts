// The event path: a Node event changes the kernel entries of that node (and
// of whichever nodes won or lost a claim through it) without a full pass.
// weftd runs here with a periodic resync far longer than any test, so only
// the event path can have made what the kernel holds; the kernel must then
// hold exactly the entries the Nodes call for, nothing more.
import { readFileSync } from 'node:fs';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { VTEP_IP, VTEP_MAC } from '../../src/k8s/annotations.ts';
import { macForName } from '../../src/net/mac.ts';
import { Cluster, type ClusterNode } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';
import { inParallel } from '../../testbed/parallel.ts';

type PeerSpec = { name: string; cidr: string; ip: string };

const EVENTS_ONLY = { WEFTD_RESYNC: '3600' };

const peer = (name: string, third: number, ip: string): PeerSpec => ({ name, cidr: `10.244.${third}.0/24`, ip });

const nodeBody = (p: PeerSpec) => ({
  metadata: { name: p.name, annotations: { [VTEP_IP]: p.ip, [VTEP_MAC]: macForName(p.name) } },
  spec: { podCIDR: p.cidr, podCIDRs: [p.cidr] },
});

async function startNode(t: ExecutionContext): Promise<{ c: Cluster; n1: ClusterNode }> {
  const c = await Cluster.start(1);
  t.teardown(() => c.destroy());
  const [n1] = c.nodes as [ClusterNode];
  await c.startWeftd(n1, [], EVENTS_ONLY);
  await eventually('weftd ready', async () => ((await c.weftdStatus(n1)).readiness === 'ready' ? true : undefined));
  return { c, n1 };
}

/** weft's entries in the node's kernel, each as one line, sorted. */
async function overlayEntries(c: Cluster, n: ClusterNode): Promise<string[]> {
  const json = async <T>(cmd: string, args: string[]): Promise<T[]> => JSON.parse((await c.inNode(n, cmd, ['-j', ...args])).stdout || '[]') as T[];
  const routes = await json<{ dst: string; gateway?: string; dev?: string }>('ip', ['route', 'show', 'proto', '119']);
  const neigh = await json<{ dst: string; lladdr?: string; state?: string[] }>('ip', ['neigh', 'show', 'dev', 'weft.1']);
  const fdb = await json<{ mac: string; dst?: string; state?: string }>('bridge', ['fdb', 'show', 'dev', 'weft.1']);
  return [
    ...routes.map((r) => `route ${r.dst} via ${r.gateway} dev ${r.dev}`),
    ...neigh.filter((e) => (e.state ?? []).includes('PERMANENT')).map((e) => `neigh ${e.dst} ${e.lladdr}`),
    ...fdb.filter((f) => f.dst !== undefined && f.mac !== '00:00:00:00:00:00').map((f) => `fdb ${f.mac} ${f.dst}`),
  ].sort();
}

/** The entries the peers call for, in overlayEntries' form. */
function expected(peers: PeerSpec[]): string[] {
  return peers
    .flatMap((p) => {
      const via = p.cidr.split('/')[0]!;
      return [`route ${p.cidr} via ${via} dev weft.1`, `neigh ${via} ${macForName(p.name)}`, `fdb ${macForName(p.name)} ${p.ip}`];
    })
    .sort();
}

/** Waits until the kernel holds exactly the peers' entries; fails with the difference. */
async function waitExactly(c: Cluster, n: ClusterNode, peers: PeerSpec[], what: string): Promise<void> {
  const want = expected(peers);
  let last: string[] = [];
  try {
    await eventually(what, async () => {
      last = await overlayEntries(c, n);
      return last.length === want.length && last.every((e, i) => e === want[i]);
    });
  } catch (err) {
    const missing = want.filter((e) => !last.includes(e));
    const extra = last.filter((e) => !want.includes(e));
    throw new Error(`${(err as Error).message}; missing ${JSON.stringify(missing.slice(0, 5))}, extra ${JSON.stringify(extra.slice(0, 5))}`, { cause: err });
  }
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const setVtepIp = (c: Cluster, name: string, ip: string) => c.core.patchNode({ name, body: { metadata: { annotations: { [VTEP_IP]: ip } } } }, mergePatch);

test.serial('100 Node creates at once, then interleaved creates, updates and deletes of the same Nodes, end in exactly the desired kernel state', async (t) => {
  const { c, n1 } = await startNode(t);
  const burst = Array.from({ length: 100 }, (_, i) => peer(`burst${i}`, 100 + i, `10.229.1.${i + 1}`));
  await inParallel(burst, 32, (p) => c.core.createNode({ body: nodeBody(p) }));
  await waitExactly(c, n1, burst, 'all 100 peers programmed');
  const passes = readFileSync(n1.weftdLog, 'utf8')
    .split('\n')
    .filter((l) => /programmed \d+ peers: .*\(event\)$/.test(l));
  t.true(passes.length < 100, `a burst coalesces into fewer passes than Nodes (${passes.length})`);
  t.log(`100 creates took ${passes.length} event passes`);
  t.false(/\(periodic\)$/m.test(readFileSync(n1.weftdLog, 'utf8')), 'no periodic pass ran');

  // Each flipping Node goes through create, VTEP change, delete and a
  // re-create with another pod CIDR, with no wait in between; the even ones
  // are then deleted again.
  const flips = Array.from({ length: 10 }, (_, i) => i);
  const final: PeerSpec[] = [];
  await Promise.all(
    flips.map(async (i) => {
      const name = `flip${i}`;
      await c.core.createNode({ body: nodeBody(peer(name, 30 + i, `10.229.2.${i + 1}`)) });
      await setVtepIp(c, name, `10.229.3.${i + 1}`);
      await c.core.deleteNode({ name });
      const again = peer(name, 50 + i, `10.229.4.${i + 1}`);
      await c.core.createNode({ body: nodeBody(again) });
      if (i % 2 === 0) await c.core.deleteNode({ name });
      else final.push(again);
    }),
  );
  // Half the burst goes, and another half changes its VTEP address.
  const kept = burst.slice(50).map((p, i) => (i % 2 === 0 ? { ...p, ip: `10.229.5.${i + 1}` } : p));
  await Promise.all([
    inParallel(burst.slice(0, 50), 16, (p) => c.core.deleteNode({ name: p.name })),
    inParallel(
      kept.filter((_, i) => i % 2 === 0),
      16,
      (p) => setVtepIp(c, p.name, p.ip),
    ),
  ]);
  await waitExactly(c, n1, [...kept, ...final], 'exactly the Nodes left, as they are now');
  t.false(/\(periodic\)$/m.test(readFileSync(n1.weftdLog, 'utf8')), 'still no periodic pass');
  t.true((await c.weftdHttp(n1, '/metrics')).body.includes(`weft_peers_programmed ${kept.length + final.length}`));
});

test.serial('a kernel error on one entry costs only its node, on the event path too; the node is retried when it changes', async (t) => {
  const { c, n1 } = await startNode(t);
  // A local address inside the pod network: the kernel refuses a route via it.
  await c.inNode(n1, 'ip', ['addr', 'add', '10.244.60.0/32', 'dev', 'lo']);
  const refused = peer('refused', 60, '10.229.1.60');
  const others = [peer('before', 61, '10.229.1.61'), peer('after', 62, '10.229.1.62')];
  await inParallel([others[0]!, refused, others[1]!], 3, (p) => c.core.createNode({ body: nodeBody(p) }));
  await waitExactly(c, n1, others, 'the other peers programmed, nothing of the refused one');
  const refusal = /skipping node refused: it was refused by the kernel \(route replace 10\.244\.60\.0\/24 .*\[kernel-refused\]/;
  await eventually('refusal logged', () => refusal.test(readFileSync(n1.weftdLog, 'utf8')));
  t.regex(readFileSync(n1.weftdLog, 'utf8'), refusal);
  const counted = 'weft_nodes_skipped{reason="kernel-refused"} 1';
  t.true(await eventually('refusal counted', async () => (await c.weftdHttp(n1, '/metrics')).body.includes(counted)));
  // Another event leaves the refused peer out, and programs the new one.
  const late = peer('late', 63, '10.229.1.63');
  await c.core.createNode({ body: nodeBody(late) });
  await waitExactly(c, n1, [...others, late], 'a later peer programmed, the refused one still out');

  // Once the kernel would take it, a change to its Node brings it in.
  await c.inNode(n1, 'ip', ['addr', 'del', '10.244.60.0/32', 'dev', 'lo']);
  await setVtepIp(c, 'refused', '10.229.1.64');
  await waitExactly(c, n1, [...others, late, { ...refused, ip: '10.229.1.64' }], 'the changed node programmed');
  await eventually('no longer skipped logged', () => /node refused is no longer skipped/.test(readFileSync(n1.weftdLog, 'utf8')));
});

/** The pids of weftd's `ip` or `bridge` batch process. */
async function batchPids(c: Cluster, n: ClusterNode, tool: 'ip' | 'bridge'): Promise<number[]> {
  const out = (await c.inNode(n, 'ps', ['-o', 'pid=,args=', '--ppid', String(n.weftd!.child.pid)])).stdout;
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, cmd, ...args]) => cmd === tool && args.join(' ') === '-force -batch -')
    .map(([pid]) => Number(pid));
}

test.serial('a killed batch process is replaced, a wedged one is killed and the state repaired from the kernel', async (t) => {
  const { c, n1 } = await startNode(t);
  const a = peer('alpha', 70, '10.229.1.70');
  await c.core.createNode({ body: nodeBody(a) });
  await waitExactly(c, n1, [a], 'alpha programmed');
  const [ip] = await batchPids(c, n1, 'ip');
  const [bridge] = await batchPids(c, n1, 'bridge');
  t.truthy(ip && bridge, 'weftd runs one ip and one bridge batch process');

  process.kill(ip!, 'SIGKILL');
  process.kill(bridge!, 'SIGKILL');
  const b = peer('bravo', 71, '10.229.1.71');
  await c.core.createNode({ body: nodeBody(b) });
  await waitExactly(c, n1, [a, b], 'bravo programmed by new processes');
  t.regex(readFileSync(n1.weftdLog, 'utf8'), /restarted the batch process after: ip -batch was killed by SIGKILL/);

  // A wedged process: weftd gives up on it after 10 s, and the pass after
  // reads the kernel and programs what the wedged one never did.
  const [wedged] = await batchPids(c, n1, 'bridge');
  process.kill(wedged!, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(wedged!, 'SIGKILL');
    } catch {}
  });
  const d = peer('delta', 72, '10.229.1.72');
  await c.core.createNode({ body: nodeBody(d) });
  await waitExactly(c, n1, [a, b, d], 'delta programmed after the wedged process was replaced');
  const log = readFileSync(n1.weftdLog, 'utf8');
  t.regex(log, /reconcile failed, retrying: bridge -batch gave no answer in 10002 ms \(1 line\); killed it/);
  t.false(/\(periodic\)$/m.test(log), 'repaired by the retried pass, not the periodic one');
  t.false((await batchPids(c, n1, 'bridge')).includes(wedged!));
});

test.serial("a deleted CIDR holder's CIDR goes to the next oldest claimant in the same event; a later overlap changes nothing", async (t) => {
  const { c, n1 } = await startNode(t);
  const holder = peer('holder', 80, '10.229.1.80');
  const waiter = peer('waiter', 80, '10.229.1.81');
  const wide = { name: 'wide', cidr: '10.244.80.0/23', ip: '10.229.1.82' };
  await c.core.createNode({ body: nodeBody(holder) });
  await waitExactly(c, n1, [holder], 'the holder programmed');
  await c.core.createNode({ body: nodeBody(waiter) });
  await eventually('the waiter skipped', () =>
    /skipping node waiter: it claims pod CIDR 10\.244\.80\.0\/24, which overlaps pod CIDR 10\.244\.80\.0\/24 that node holder holds/.test(
      readFileSync(n1.weftdLog, 'utf8'),
    ),
  );
  await c.core.createNode({ body: nodeBody(wide) });
  await eventually('the wide one skipped', () => /skipping node wide: it claims pod CIDR 10\.244\.80\.0\/23/.test(readFileSync(n1.weftdLog, 'utf8')));
  t.deepEqual(await overlayEntries(c, n1), expected([holder]), 'later claimants change nothing');

  await c.core.deleteNode({ name: 'holder' });
  await waitExactly(c, n1, [waiter], "the waiter takes the holder's CIDR; the wide one still loses to it");
  t.regex(readFileSync(n1.weftdLog, 'utf8'), /node waiter is no longer skipped/);
  t.false(/\(periodic\)$/m.test(readFileSync(n1.weftdLog, 'utf8')), 'all by event passes');
});
