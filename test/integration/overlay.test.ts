// weftd end to end: a real API server, node namespaces on an underlay bridge,
// one weftd per node, pods wired by the weft plugin. Each test builds its own
// cluster and removes it.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { VTEP_IP, VTEP_MAC } from '../../src/k8s/annotations.ts';
import { parseCidr } from '../../src/net/address.ts';
import { macForName } from '../../src/net/mac.ts';
import { routeMetric } from '../../src/overlay/route-metric.ts';
import { Cluster, type ClusterNode, type Pod } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';

async function readyCluster(nodes: number, podsPerNode: number, extra: string[] = []) {
  const c = await Cluster.start(nodes);
  for (const node of c.nodes) await c.startWeftd(node, extra);
  for (const node of c.nodes) {
    await eventually(`${node.name} ready with ${nodes - 1} peers`, async () => {
      const s = await c.weftdStatus(node);
      return s.readiness === 'ready' && s.peers.length === nodes - 1 ? true : undefined;
    });
  }
  const pods: Pod[] = [];
  for (const node of c.nodes) for (let i = 0; i < podsPerNode; i++) pods.push(await c.addPod(node));
  return { c, pods };
}

const peerCidrs = async (c: Cluster, node: ClusterNode) => (await c.weftdStatus(node)).peers.map((p) => p.podCidr).sort();
const fakePeer = (name: string, podCidr: string, annotations: Record<string, string>) => ({
  metadata: { name, annotations },
  spec: { podCIDR: podCidr, podCIDRs: [podCidr] },
});

test.serial('every pod reaches every other pod across nodes; nodes carry VTEP annotations and NetworkUnavailable=False', async (t) => {
  const { c, pods } = await readyCluster(3, 2);
  t.teardown(() => c.destroy());
  const results = await Promise.all(pods.flatMap((from) => pods.filter((to) => to !== from).map(async (to) => ({ from, to, r: await c.ping(from, to.ip) }))));
  for (const { from, to, r } of results) t.true(r.ok, `${from.name} (${from.ip}) → ${to.name} (${to.ip})`);

  for (const node of c.nodes) {
    const obj = await c.core.readNode({ name: node.name });
    t.is(obj.metadata?.annotations?.[VTEP_IP], node.underlayIp);
    t.regex(obj.metadata?.annotations?.[VTEP_MAC] ?? '', /^0e(:[0-9a-f]{2}){5}$/);
    const cond = obj.status?.conditions?.find((x) => x.type === 'NetworkUnavailable');
    t.is(cond?.status, 'False');
    t.is(cond?.reason, 'WeftIsUp');
    const subnet = JSON.parse(readFileSync(node.subnetFile, 'utf8'));
    t.deepEqual(subnet.subnets, [{ subnet: node.podCidr, gateway: node.podCidr.replace('.0/24', '.1') }]);
    t.is(subnet.mtu, 1450);
  }
  const status = await c.weftdStatus(c.nodes[0]!);
  const node2 = await c.core.readNode({ name: 'node2' });
  t.deepEqual(
    status.peers.find((p) => p.podCidr === '10.244.2.0/24'),
    {
      podCidr: '10.244.2.0/24',
      via: '10.244.2.0',
      dev: 'weft.1',
      vtepMac: node2.metadata!.annotations![VTEP_MAC],
      vtepIp: '10.229.0.12',
    },
  );
  const metrics = await c.weftdHttp(c.nodes[0]!, '/metrics');
  t.is(metrics.status, 200);
  for (const name of [
    'weft_peers_programmed 2',
    'weft_peer_pod_cidrs_programmed{family="4"} 2',
    'weft_peer_pod_cidrs_programmed{family="6"} 0',
    'weft_reconcile_duration_seconds_bucket',
    'weft_entries_added_total',
    'weft_drift_repaired_total',
    'weft_api_errors_total',
  ]) {
    t.true(metrics.body.includes(name), name);
  }
  t.is((await c.weftdHttp(c.nodes[0]!, '/healthz')).status, 200);
  t.is((await c.weftdHttp(c.nodes[0]!, '/readyz')).status, 200);
});

test.serial("a deleted Node's routes, neighbours and FDB entries vanish from the others, also when deleted while weftd was down", async (t) => {
  const { c } = await readyCluster(3, 0);
  t.teardown(() => c.destroy());
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  await c.core.deleteNode({ name: 'node3' });
  for (const node of [n1, n2]) {
    await eventually(`${node.name} forgets node3`, async () => {
      const s = await c.weftdStatus(node);
      return s.peers.length === 1 ? s : undefined;
    });
    const neigh = await c.inNode(node, 'ip', ['neigh', 'show', 'dev', 'weft.1']);
    t.notRegex(neigh.stdout, /10\.244\.3\.0/);
    const fdb = await c.inNode(node, 'bridge', ['fdb', 'show', 'dev', 'weft.1']);
    t.notRegex(fdb.stdout, /10\.229\.0\.13/);
  }

  // A peer deleted while node1's weftd is stopped is removed when it starts.
  await c.core.createNode({ body: fakePeer('node9', '10.244.9.0/24', { [VTEP_IP]: '10.229.0.99', [VTEP_MAC]: macForName('node9') }) });
  await eventually('node1 programs node9', async () => ((await peerCidrs(c, n1)).includes('10.244.9.0/24') ? true : undefined));
  await c.stopWeftd(n1);
  t.true((await peerCidrs(c, n1)).includes('10.244.9.0/24'), 'weftd leaves kernel state in place when it stops');
  await c.core.deleteNode({ name: 'node9' });
  await c.startWeftd(n1);
  await eventually('node1 removes node9 after restart', async () => ((await peerCidrs(c, n1)).includes('10.244.9.0/24') ? undefined : true));
  t.deepEqual(await peerCidrs(c, n1), ['10.244.2.0/24']);
});

test.serial('restarting a weftd loses no ping, and a node whose VTEP address changes is re-programmed on its peers', async (t) => {
  const { c, pods } = await readyCluster(3, 1);
  t.teardown(() => c.destroy());
  const [p1, p2, p3] = pods as [Pod, Pod, Pod];
  const [n1, , n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];

  const during = Promise.all([c.ping(p2, p3.ip, 40, 0.05), c.ping(p2, p1.ip, 40, 0.05), c.ping(p3, p1.ip, 40, 0.05)]);
  await c.stopWeftd(n1);
  await c.startWeftd(n1);
  const [a, b, d] = await during;
  t.is(a.received, 40, 'pod2 → pod3 lost nothing');
  t.is(b.received, 40, "pod2 → pod1 lost nothing while node1's weftd restarted");
  t.is(d.received, 40, 'pod3 → pod1 lost nothing');
  await eventually('node1 ready again', async () => ((await c.weftdStatus(n1)).readiness === 'ready' ? true : undefined));

  // node3 moves to a new underlay address; its weftd restarts and republishes.
  await c.stopWeftd(n3);
  await c.inNode(n3, 'ip', ['addr', 'del', `${n3.underlayIp}/24`, 'dev', 'eth0']);
  await c.inNode(n3, 'ip', ['addr', 'add', '10.229.0.50/24', 'dev', 'eth0']);
  await c.startWeftd(n3);
  await eventually("node1 learns node3's new VTEP address", async () => {
    const s = await c.weftdStatus(n1);
    return s.peers.find((p) => p.podCidr === '10.244.3.0/24')?.vtepIp === '10.229.0.50' ? true : undefined;
  });
  const fdb = await c.inNode(n1, 'bridge', ['fdb', 'show', 'dev', 'weft.1']);
  t.notRegex(fdb.stdout, new RegExp(`dst ${n3.underlayIp.replace(/\./g, '\\.')} `), 'the old FDB entry is gone');
  await eventually('node3 re-programmed after its restart', async () => ((await c.weftdStatus(n3)).peers.length === 2 ? true : undefined));
  t.true((await c.ping(p1, p3.ip)).ok, "pod1 reaches pod3 at node3's new address");
});

test.serial('routes an older weft left with metric 0 are swapped for their own metric at start: the new route is in before the old goes', async (t) => {
  const { c, pods } = await readyCluster(2, 1);
  t.teardown(() => c.destroy());
  const [p1, p2] = pods as [Pod, Pod];
  const [n1] = c.nodes as [ClusterNode];
  const dst = '10.244.2.0/24';
  const metric = routeMetric(parseCidr(dst)!);
  const routes = async () => JSON.parse((await c.inNode(n1, 'ip', ['-j', 'route', 'show', dst, 'proto', '119'])).stdout || '[]') as { metric?: number }[];

  // As a weft before per-route metrics left it: the same route, metric 0.
  await c.stopWeftd(n1);
  await c.inNode(n1, 'ip', ['route', 'del', dst, 'proto', '119']);
  await c.inNode(n1, 'ip', ['route', 'add', dst, 'via', '10.244.2.0', 'dev', 'weft.1', 'onlink', 'proto', '119']);
  t.deepEqual(
    (await routes()).map((r) => r.metric ?? 0),
    [0],
  );
  const monitor = spawn('ip', ['-n', n1.netns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => monitor.kill());
  let seen = '';
  monitor.stdout.on('data', (d: Buffer) => (seen += d.toString()));
  await new Promise((r) => setTimeout(r, 200));

  const during = c.ping(p1, p2.ip, 40, 0.05);
  await c.startWeftd(n1);
  t.is((await during).received, 40, 'pod1 → pod2 lost nothing while the route was swapped');
  await eventually('one route, with its own metric', async () => ((await routes()).map((r) => r.metric ?? 0).join() === String(metric) ? true : undefined));
  const lines = seen.split('\n').filter((l) => l.includes(dst));
  const added = lines.findIndex((l) => !l.startsWith('Deleted') && l.includes(`metric ${metric}`));
  const removed = lines.findIndex((l) => l.startsWith('Deleted') && !l.includes('metric'));
  t.true(added >= 0 && removed > added, `the kernel saw the new route added before the old one deleted:\n${lines.join('\n')}`);
});

test.serial('a 30 s API server outage keeps connectivity; a change made after it returns is applied', async (t) => {
  t.timeout(120_000);
  const { c, pods } = await readyCluster(2, 1);
  t.teardown(() => c.destroy());
  const [p1, p2] = pods as [Pod, Pod];
  const [n1] = c.nodes as [ClusterNode, ClusterNode];
  await c.cp.stopApiServer();
  const pings = await c.ping(p1, p2.ip, 60, 0.5);
  t.is(pings.received, 60, 'no ping lost during the 30 s outage');
  t.is((await c.weftdHttp(n1, '/healthz')).status, 200, 'weftd stays alive');
  await c.cp.startApiServer();
  await c.core.createNode({ body: fakePeer('node7', '10.244.7.0/24', { [VTEP_IP]: '10.229.0.77', [VTEP_MAC]: macForName('node7') }) });
  await eventually('node1 programs node7 after the outage', async () => ((await peerCidrs(c, n1)).includes('10.244.7.0/24') ? true : undefined), 60_000);
  const metrics = await c.weftdHttp(n1, '/metrics');
  t.regex(metrics.body, /weft_watch_restarts_total\{reason="[a-z]+"\} [1-9]/);
  t.true((await c.ping(p1, p2.ip)).ok);
});

test.serial('garbage weft.dev annotations or a copied VTEP MAC on one node disturb no other; drift and a deleted device are repaired', async (t) => {
  const { c, pods } = await readyCluster(2, 1);
  t.teardown(() => c.destroy());
  const [p1, p2] = pods as [Pod, Pod];
  const [n1] = c.nodes as [ClusterNode, ClusterNode];
  await c.core.createNode({ body: fakePeer('badnode', '10.244.8.0/24', { [VTEP_IP]: 'not-an-ip', [VTEP_MAC]: 'zz' }) });
  // A Node announcing node2's MAC, to take node2's FDB entry and neighbour.
  const node2Mac = (await c.core.readNode({ name: 'node2' })).metadata?.annotations?.[VTEP_MAC] ?? '';
  t.is(node2Mac, macForName('node2'));
  await c.core.createNode({ body: fakePeer('copycat', '10.244.5.0/24', { [VTEP_IP]: '10.229.0.55', [VTEP_MAC]: node2Mac }) });
  await c.core.createNode({ body: fakePeer('goodnode', '10.244.6.0/24', { [VTEP_IP]: '10.229.0.66', [VTEP_MAC]: macForName('goodnode') }) });
  await eventually('node1 programs goodnode', async () => ((await peerCidrs(c, n1)).includes('10.244.6.0/24') ? true : undefined));
  t.deepEqual(await peerCidrs(c, n1), ['10.244.2.0/24', '10.244.6.0/24']);
  t.true((await c.ping(p1, p2.ip)).ok);
  const log = readFileSync(n1.weftdLog, 'utf8');
  t.regex(log, /skipping node badnode: it has an invalid weft\.dev\/vtep-ip annotation "not-an-ip"/);
  t.true(
    log.includes(
      `skipping node copycat: it has VTEP MAC ${node2Mac} (weft.dev/vtep-mac), which is not ${macForName('copycat')}, the MAC weftd derives from the node name copycat [malformed]`,
    ),
    log,
  );
  t.regex(
    (await c.inNode(n1, 'bridge', ['fdb', 'show', 'dev', 'weft.1'])).stdout,
    new RegExp(`^${node2Mac} dst 10\\.229\\.0\\.12 `, 'm'),
    "node2's FDB entry stays node2's",
  );
  t.regex((await c.weftdHttp(n1, '/metrics')).body, /weft_nodes_skipped\{reason="malformed"\} 2/);

  // Drift: a route removed behind weftd's back comes back on the periodic resync.
  await c.inNode(n1, 'ip', ['route', 'del', '10.244.2.0/24']);
  await eventually('route repaired', async () => ((await peerCidrs(c, n1)).includes('10.244.2.0/24') ? true : undefined));
  // The metrics page is rendered at most once a second: wait for a fresh one.
  await eventually('drift counted', async () => (/weft_drift_repaired_total [1-9]/.test((await c.weftdHttp(n1, '/metrics')).body) ? true : undefined));

  // The device itself deleted: recreated and fully re-programmed.
  await c.inNode(n1, 'ip', ['link', 'del', 'weft.1']);
  await eventually('device re-programmed', async () => ((await peerCidrs(c, n1)).length === 2 ? true : undefined));
  t.true((await c.ping(p1, p2.ip)).ok, 'pods reach each other again');
});

test.serial("--ip-masq installs weft's own chains once, keeps them through resyncs, and leaves other rules alone", async (t) => {
  const c = await Cluster.start(1);
  t.teardown(() => c.destroy());
  const [n1] = c.nodes as [ClusterNode];
  await c.inNode(n1, 'iptables', ['-w', '-t', 'nat', '-A', 'POSTROUTING', '-s', '192.0.2.0/24', '-j', 'RETURN']);
  await c.startWeftd(n1, ['--ip-masq']);
  await eventually('ready', async () => ((await c.weftdStatus(n1)).readiness === 'ready' ? true : undefined));
  await new Promise((r) => setTimeout(r, 4500)); // two periodic resyncs re-check the rules
  const nat = (await c.inNode(n1, 'iptables', ['-w', '-t', 'nat', '-S'])).stdout;
  t.is(nat.match(/-A POSTROUTING .*-j WEFT-POSTROUTING/g)?.length, 1, 'one jump, however often the rules are re-checked');
  t.regex(nat, /-A POSTROUTING -s 192\.0\.2\.0\/24 -j RETURN/, "another program's rule stays");
  t.regex(nat, /-A WEFT-POSTROUTING -s 10\.244\.0\.0\/16 -d 10\.244\.0\.0\/16 .*-j RETURN/);
  t.regex(nat, /-A WEFT-POSTROUTING -s 10\.244\.0\.0\/16 ! -d 224\.0\.0\.0\/4 .*-j MASQUERADE --random-fully/);
  t.is(nat.match(/-A WEFT-POSTROUTING/g)?.length, 2);
  const filter = (await c.inNode(n1, 'iptables', ['-w', '-t', 'filter', '-S'])).stdout;
  t.regex(filter, /-A FORWARD .*-j WEFT-FORWARD/);
  t.is(JSON.parse(readFileSync(n1.subnetFile, 'utf8')).ipMasq, true);
});

test.serial('direct routing: peers on the same underlay subnet are routed over it without VXLAN and still reach each other', async (t) => {
  const { c, pods } = await readyCluster(2, 1, ['--direct-routing']);
  t.teardown(() => c.destroy());
  const [p1, p2] = pods as [Pod, Pod];
  const [n1] = c.nodes as [ClusterNode, ClusterNode];
  const routes = (await c.inNode(n1, 'ip', ['route', 'show', 'proto', '119'])).stdout;
  t.regex(routes, /10\.244\.2\.0\/24 via 10\.229\.0\.12 dev eth0/);
  t.is((await c.inNode(n1, 'bridge', ['fdb', 'show', 'dev', 'weft.1'])).stdout.trim(), '', 'no FDB entry for a direct peer');
  t.true((await c.ping(p1, p2.ip)).ok);
});

test.serial('weftd refuses a pod CIDR outside the cluster network, with settings taken from WEFTD_* variables', async (t) => {
  const c = await Cluster.start(1);
  t.teardown(() => c.destroy());
  const [n1] = c.nodes as [ClusterNode];
  await c.startWeftd(n1, [], { WEFTD_CLUSTER_CIDR: '10.99.0.0/16', WEFTD_VNI: '7' });
  const weftd = n1.weftd!;
  const code = await eventually('weftd exits', async () => weftd.child.exitCode ?? undefined);
  t.is(code, 1);
  t.regex(
    readFileSync(n1.weftdLog, 'utf8'),
    /node node1 has pod CIDR 10\.244\.1\.0\/24 outside the cluster network \(--cluster-cidr\): make kube-controller-manager's --cluster-cidr and weft's agree/,
  );
  t.is((await c.inNode(n1, 'ip', ['link', 'show', 'weft.7'])).exitCode, 1, 'no device was created');
});
