// make demo: weft on one machine, the way a person would want to see it — a
// real API server, three nodes (network namespaces on an underlay bridge), a
// weftd on each, two pods per node wired by the weft plugin, pods pinging
// across nodes, and one node's VXLAN tables. Everything is removed at the
// end, also on Ctrl-C.
import { Cluster, type ClusterNode, type Pod } from '../testbed/cluster.ts';
import { eventually } from '../testbed/eventually.ts';
import { DIST } from '../testbed/paths.ts';
import { runScript } from '../testbed/teardown.ts';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`== ${s}`)}`);

async function show(c: Cluster, node: ClusterNode, title: string, cmd: string, args: string[]) {
  console.log(`${node.name}$ ${title}`);
  const r = await c.inNode(node, cmd, args);
  console.log(r.stdout.trimEnd().replace(/^/gm, '    ') || '    (empty)');
}

await runScript('demo', async (teardown) => {
  step('starting etcd + kube-apiserver and three node namespaces on an underlay bridge');
  const c = await Cluster.start(3, teardown);
  teardown.add('a word', () => step('removing the cluster: weftd processes, namespaces, bridge, API server'));
  for (const node of c.nodes)
    console.log(`  ${node.name}: underlay ${node.underlayIp}, pod CIDR ${node.podCidr} (spec.podCIDR, as kube-controller-manager sets it)`);

  step('starting weftd on every node (inside its namespace)');
  for (const node of c.nodes) await c.startWeftd(node);
  for (const node of c.nodes) {
    await eventually(`${node.name} ready`, async () => {
      const s = await c.weftdStatus(node);
      return s.readiness === 'ready' && s.peers.length === c.nodes.length - 1 ? true : undefined;
    });
  }
  for (const node of c.nodes) {
    const obj = await c.core.readNode({ name: node.name });
    const a = obj.metadata?.annotations ?? {};
    const cond = obj.status?.conditions?.find((x) => x.type === 'NetworkUnavailable');
    console.log(`  ${node.name}: VTEP ${a['weft.dev/vtep-ip']} ${a['weft.dev/vtep-mac']}, NetworkUnavailable=${cond?.status} (${cond?.reason})`);
  }

  step("creating two pods per node with the weft CNI plugin (cnitool, in the node's namespace)");
  const pods: Pod[] = [];
  for (const node of c.nodes) for (let i = 0; i < 2; i++) pods.push(await c.addPod(node));
  for (const pod of pods) console.log(`  ${pod.node.name}  ${pod.name.padEnd(30)} ${pod.ip}`);

  step('every pod pings every other pod (same node over the bridge, other nodes over VXLAN)');
  let failures = 0;
  for (const from of pods) {
    const results = await Promise.all(pods.filter((to) => to !== from).map(async (to) => ({ to, r: await c.ping(from, to.ip) })));
    const line = results.map(({ to, r }) => `${to.ip} ${r.ok ? 'ok' : 'FAIL'}`).join('  ');
    failures += results.filter(({ r }) => !r.ok).length;
    console.log(`  ${from.ip.padEnd(12)} → ${line}`);
  }
  console.log(failures === 0 ? '  all 30 pairs reach each other' : `  ${failures} pairs failed`);

  const n1 = c.nodes[0]!;
  step(`${n1.name}'s overlay, as in the seed walkthrough: FDB, neighbours, routes`);
  await show(c, n1, 'bridge fdb show dev weft.1', 'bridge', ['fdb', 'show', 'dev', 'weft.1']);
  await show(c, n1, 'ip neigh show dev weft.1', 'ip', ['neigh', 'show', 'dev', 'weft.1']);
  await show(c, n1, "ip route show proto 119   (weft's routes)", 'ip', ['route', 'show', 'proto', '119']);
  await show(c, n1, 'ip -d link show weft.1', 'ip', ['-d', 'link', 'show', 'weft.1']);
  console.log(`${n1.name}$ weftd status`);
  const status = await c.inNode(n1, `${DIST}/weftd`, ['status', '--subnet-file', n1.subnetFile, '--health-addr', '127.0.0.1:9402']);
  console.log(status.stdout.trimEnd().replace(/^/gm, '    '));
  if (failures > 0) process.exitCode = 1;
});
