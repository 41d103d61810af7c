// make cluster-test: brings the real cluster up (tools/cluster/cluster.ts,
// with the reference bridge CNI), checks three Ready nodes with pod CIDRs,
// runs a pause pod on every node, and tears it all down, checking that
// nothing is left behind. Slow (a minute or so) and needs root and the
// binaries from make cluster-tools, so it lives outside `make test`'s glob:
// run it with `make cluster-test`.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { apiNodes, BIN, CLUSTER_CIDR, down, isReady, KUBECTL_GLOBAL, NODE_DIRS, STATE, up } from '../../tools/cluster/cluster.ts';
import { PAUSE_IMAGE } from '../../tools/pause/build.ts';
import { ownCluster } from './helpers.ts';

const run = promisify(execFile);
const kubectl = async (args: string[], input?: string): Promise<string> => {
  const p = run(join(BIN, 'kubectl'), [...KUBECTL_GLOBAL, ...args]);
  if (input !== undefined) p.child.stdin?.end(input);
  return (await p).stdout;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sysctl = (name: string) => readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
const WATCHED_SYSCTLS = ['vm.overcommit_memory', 'kernel.panic', 'kernel.panic_on_oops', 'fs.inotify.max_user_instances', 'fs.inotify.max_user_watches'];

/** 10.244.3.0/24 contains 10.244.3.7? (a /24 or wider, as the controller-manager hands out) */
function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/') as [string, string];
  const n = (a: string) => a.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const mask = bits === '0' ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (n(ip) & mask) === (n(net) & mask);
}

test.serial('make cluster: 3 Ready nodes with pod CIDRs, a pod on each, and nothing left after make cluster-down', async (t) => {
  const tookDown = ownCluster(t);
  if (!tookDown) return;
  const hostDirsBefore = Object.fromEntries(NODE_DIRS.map((d) => [d, existsSync(d)]));
  const sysctlsBefore = Object.fromEntries(WATCHED_SYSCTLS.map((s) => [s, sysctl(s)]));

  const started = Date.now();
  const r = await up({ cni: 'reference', nodes: 3, log: (l) => t.log(l) });
  t.false(r.reused);
  t.log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const nodes = await apiNodes();
  t.deepEqual(nodes.map((n) => n.metadata.name).sort(), ['node1', 'node2', 'node3']);
  t.true(nodes.every(isReady), 'every node Ready');
  const cidrs = nodes.map((n) => n.spec.podCIDR ?? '');
  t.true(
    cidrs.every((c) => /\/24$/.test(c) && inCidr(c.split('/')[0]!, CLUSTER_CIDR)),
    `pod CIDRs in ${CLUSTER_CIDR}: ${cidrs.join(' ')}`,
  );
  t.is(new Set(cidrs).size, 3, 'distinct pod CIDRs');

  // kubectl from the repo root with the admin kubeconfig, as a person would.
  t.regex(await kubectl(['get', 'nodes']), /node1\s+Ready/);

  // One pause pod pinned to each node.
  const pods = nodes.map((n) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pause-${n.metadata.name}`, namespace: 'default' },
    spec: { nodeName: n.metadata.name, containers: [{ name: 'pause', image: PAUSE_IMAGE, imagePullPolicy: 'Never' }] },
  }));
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
  type Pod = { metadata: { name: string }; spec: { nodeName: string }; status: { phase?: string; podIP?: string } };
  let running: Pod[] = [];
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    running = (JSON.parse(await kubectl(['get', 'pods', '-o', 'json'])) as { items: Pod[] }).items.filter(
      (p) => p.status.phase === 'Running' && p.status.podIP,
    );
    if (running.length === 3) break;
    await sleep(500);
  }
  t.is(running.length, 3, `3 running pods: ${await kubectl(['get', 'pods', '-o', 'wide'])}`);
  for (const p of running) {
    const cidr = nodes.find((n) => n.metadata.name === p.spec.nodeName)!.spec.podCIDR!;
    t.true(inCidr(p.status.podIP!, cidr), `${p.metadata.name} on ${p.spec.nodeName}: ${p.status.podIP} in ${cidr}`);
  }

  // A second `make cluster` reuses the running one.
  t.true((await up({ cni: 'reference', log: () => undefined })).reused);

  const { leftovers } = await down({ log: (l) => t.log(l) });
  tookDown();
  t.deepEqual(leftovers, []);

  // Nothing left: processes, links, namespaces, mounts, cgroups, dirs, sysctls.
  const links = readdirSync('/sys/class/net').filter((l) => l.startsWith('weftc-'));
  t.deepEqual(links, [], 'no underlay bridge or node veths');
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('weft-cluster-')) : [];
  t.deepEqual(netns, [], 'no node netns');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes('/weft-cluster') || l.includes(`${STATE}`));
  t.deepEqual(mounts, [], 'no mounts');
  const cgroups = readdirSync('/sys/fs/cgroup').flatMap((h) => {
    try {
      return readdirSync(join('/sys/fs/cgroup', h))
        .filter((e) => e.startsWith('weft-cluster-'))
        .map((e) => `${h}/${e}`);
    } catch {
      return [];
    }
  });
  t.deepEqual(cgroups, [], 'no cgroups in any hierarchy, unified included');
  t.false(existsSync(STATE), 'state dir removed');
  t.deepEqual(Object.fromEntries(NODE_DIRS.map((d) => [d, existsSync(d)])), hostDirsBefore, 'host mount points as before');
  t.deepEqual(Object.fromEntries(WATCHED_SYSCTLS.map((s) => [s, sysctl(s)])), sysctlsBefore, 'host sysctls restored');
  const ours = (await run('ps', ['-eo', 'stat=,args='])).stdout
    .split('\n')
    .filter((l) => !l.startsWith('Z') && (l.includes(`${STATE}/`) || (/\/run\/containerd\/containerd\.sock/.test(l) && l.includes('weft-cluster'))));
  t.deepEqual(ours, [], 'no cluster processes');
});
