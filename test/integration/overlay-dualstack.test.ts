// Dual stack and IPv6 only end to end (issue 12): three node namespaces on an
// underlay bridge, a real API server, one weftd per node, pods wired by the
// plugin. Each shape is the pods' families over the underlay's: dual over
// dual (each pod family rides its own VXLAN device), IPv6 over IPv6, and dual
// over IPv4 (IPv6 inside IPv4 VXLAN, which flannel cannot do). Each test
// builds its own cluster and removes it; one cluster at a time on this machine.

import { readFileSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { WEFTD_DEFAULTS } from '../../src/daemon/config.ts';
import { VTEP_KEYS } from '../../src/k8s/annotations.ts';
import { cidrContains, FAMILIES, type Family, formatAddress, parseAddress, parseCidr } from '../../src/net/address.ts';
import { vtepMacFor } from '../../src/net/mac.ts';
import { Cluster, type ClusterNode, type ClusterShape, type Pod } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';

type Shape = ClusterShape & { title: string };

const SHAPES: Shape[] = [
  { title: 'dual-stack pods over a dual-stack underlay', stack: 'dual', underlay: 'dual' },
  { title: 'IPv6-only pods over an IPv6-only underlay', stack: 'ipv6', underlay: 'ipv6' },
];
const IPV6_IN_IPV4: Shape = { title: 'dual-stack pods over an IPv4-only underlay', stack: 'dual', underlay: 'ipv4' };

const DEVICE: Record<Family, string> = { 4: `weft.${WEFTD_DEFAULTS.vni}`, 6: `weft6.${WEFTD_DEFAULTS.vni}` };
/** The underlay's MTU less the VXLAN overhead of each underlay family. */
const DEVICE_MTU: Record<Family, number> = { 4: 1500 - 50, 6: 1500 - 70 };
/** A drifted entry must be back within a couple of 2 s resyncs. */
const REPAIR_MS = 10_000;

const familyOf = (cidr: string): Family => parseCidr(cidr)!.family;

/** A pod CIDR's gateway: its first address after the network's. */
function gateway(cidr: string): string {
  const { family, network } = parseCidr(cidr)!;
  return formatAddress({ family, value: network + 1n });
}

/** The underlay family a pod family rides: its own when the underlay has it, else the underlay's other one. */
const carrier = (c: Cluster, podFamily: Family): Family => (c.underlayFamilies.includes(podFamily) ? podFamily : c.underlayFamilies[0]!);

/** The entries ds-design.md calls for on a node whose peers are `peers`, in Cluster.overlayEntries' form. */
function expectedEntries(c: Cluster, peers: ClusterNode[]): string[] {
  const lines = new Set<string>();
  for (const peer of peers) {
    for (const cidr of peer.podCidrs) {
      const u = carrier(c, familyOf(cidr));
      const via = cidr.split('/')[0]!;
      const mac = vtepMacFor(peer.name, u);
      lines.add(`route ${cidr} via ${via} dev ${DEVICE[u]}`);
      lines.add(`neigh ${DEVICE[u]} ${via} ${mac}`);
      lines.add(`fdb ${DEVICE[u]} ${mac} ${peer.underlay[u]}`);
    }
  }
  return [...lines].sort();
}

const othersOf = (c: Cluster, node: ClusterNode, gone: ClusterNode[] = []) => c.nodes.filter((n) => n !== node && !gone.includes(n));

async function allEntriesProgrammed(c: Cluster, nodes: ClusterNode[], what: string, gone: ClusterNode[] = []): Promise<void> {
  await Promise.all(nodes.map((n) => c.waitForOverlayEntries(n, expectedEntries(c, othersOf(c, n, gone)), `${what} on ${n.name}`)));
}

async function readyCluster(t: ExecutionContext, shape: Shape, podsPerNode: number[]): Promise<{ c: Cluster; pods: Pod[] }> {
  t.timeout(180_000);
  const c = await Cluster.start(3, undefined, shape);
  t.teardown(() => c.destroy());
  for (const node of c.nodes) await c.startWeftd(node);
  for (const node of c.nodes)
    await eventually(`${node.name} ready`, async () => ((await c.weftdStatus(node)).readiness === 'ready' ? true : undefined), 40_000);
  await allEntriesProgrammed(c, c.nodes, 'every peer programmed');
  const pods: Pod[] = [];
  for (const [i, node] of c.nodes.entries()) for (let k = 0; k < (podsPerNode[i] ?? 1); k++) pods.push(await c.addPod(node));
  return { c, pods };
}

/** Every ordered pair of pods over every family the pods have; returns what failed. */
async function unreachable(c: Cluster, pods: Pod[], families = c.podFamilies): Promise<string[]> {
  const pairs = pods.flatMap((from) => pods.filter((to) => to !== from).flatMap((to) => families.map((f) => ({ from, to, ip: to.ips[f]! }))));
  const results = await Promise.all(pairs.map(async (p) => ({ ...p, r: await c.ping(p.from, p.ip, 3) })));
  return results.filter(({ r }) => !r.ok).map(({ from, to, ip }) => `${from.name} → ${to.name} (${ip})`);
}

for (const shape of [...SHAPES, IPV6_IN_IPV4]) {
  test.serial(`${shape.title}: every pod reaches every other over each family; the kernel holds the entries; drifted IPv6 entries are repaired`, async (t) => {
    const { c, pods } = await readyCluster(t, shape, [2, 1, 1]);
    for (const node of c.nodes) {
      const annotations = (await c.core.readNode({ name: node.name })).metadata?.annotations ?? {};
      for (const f of FAMILIES) {
        const published = { ip: annotations[VTEP_KEYS[f].ip], mac: annotations[VTEP_KEYS[f].mac] };
        const want = { ip: node.underlay[f], mac: node.underlay[f] === undefined ? undefined : vtepMacFor(node.name, f) };
        t.deepEqual(published, want, `${node.name}'s IPv${f} VTEP annotations`);
      }
      const subnet = JSON.parse(readFileSync(node.subnetFile, 'utf8'));
      t.deepEqual(
        subnet.subnets,
        node.podCidrs.map((cidr) => ({ subnet: cidr, gateway: gateway(cidr) })),
        `${node.name}'s subnet file has every pod CIDR`,
      );
      t.is(subnet.mtu, Math.min(...c.underlayFamilies.map((f) => DEVICE_MTU[f])), "the pods' MTU fits the smallest device MTU");
    }
    for (const pod of pods) {
      t.deepEqual(Object.keys(pod.ips).map(Number), c.podFamilies, `${pod.name} has one address per family`);
      for (const cidr of pod.node.podCidrs) {
        const ip = pod.ips[familyOf(cidr)]!;
        t.true(cidrContains(parseCidr(cidr)!, parseAddress(ip)!), `${pod.name}'s ${ip} is inside ${cidr}`);
      }
    }
    t.deepEqual(await unreachable(c, pods), [], 'every pod pings every other pod over each family');

    // Drift on node1: its IPv6 route, neighbour and FDB entry for node2 removed by hand.
    const [n1, n2] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const cidr6 = n2.podCidrs.find((p) => familyOf(p) === 6)!;
    const u = carrier(c, 6);
    const dev = DEVICE[u];
    const mac = vtepMacFor(n2.name, u);
    for (const args of [
      ['ip', '-6', 'route', 'del', cidr6],
      ['ip', 'neigh', 'del', cidr6.split('/')[0]!, 'dev', dev],
      ['bridge', 'fdb', 'del', mac, 'dev', dev, 'dst', n2.underlay[u]!],
    ]) {
      const r = await c.inNode(n1, args[0]!, args.slice(1));
      t.is(r.exitCode, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    await c.waitForOverlayEntries(n1, expectedEntries(c, othersOf(c, n1)), 'the drifted entries repaired', REPAIR_MS);
    const p2 = pods.find((p) => p.node === n2)!;
    t.true((await c.ping(pods[0]!, p2.ips[6]!, 3)).ok, 'node1 reaches node2 over IPv6 again');
  });
}

for (const shape of SHAPES) {
  test.serial(`${shape.title}: a node whose IPv6 VTEP moves is followed, and a deleted Node's entries go in both families`, async (t) => {
    const { c, pods } = await readyCluster(t, shape, [1, 1, 1]);
    const [n1, n2, n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const [p1, p2, p3] = pods as [Pod, Pod, Pod];

    // node3 is given a new IPv6 underlay address; its weftd restarts and republishes.
    await c.stopWeftd(n3);
    await c.moveUnderlay(n3, 6, 'fd00:229::50');
    await c.startWeftd(n3);
    await allEntriesProgrammed(c, [n1, n2], "node3's new IPv6 VTEP programmed");
    await allEntriesProgrammed(c, [n3], 'node3 re-programmed after its restart');
    t.deepEqual(await unreachable(c, [p1, p3]), [], "pods reach node3's pod at its new address over each family");

    await c.core.deleteNode({ name: n3.name });
    await allEntriesProgrammed(c, [n1, n2], 'node3 forgotten', [n3]);
    t.deepEqual(await unreachable(c, [p1, p2]), [], 'the other pods still reach each other');
  });
}

test.serial('direct routing per family: dual-stack peers on the same underlay subnets are routed over it, unencapsulated, in both families', async (t) => {
  t.timeout(180_000);
  const c = await Cluster.start(3, undefined, { stack: 'dual', underlay: 'dual' });
  t.teardown(() => c.destroy());
  for (const node of c.nodes) await c.startWeftd(node, ['--direct-routing']);
  // Each pod CIDR goes via the peer's underlay address of its own family on eth0: no VXLAN entry at all.
  const direct = (n: ClusterNode) =>
    othersOf(c, n)
      .flatMap((peer) => peer.podCidrs.map((cidr) => `route ${cidr} via ${peer.underlay[familyOf(cidr)]} dev eth0`))
      .sort();
  await Promise.all(c.nodes.map((n) => c.waitForOverlayEntries(n, direct(n), `direct routes on ${n.name}`)));
  const pods: Pod[] = [];
  for (const node of c.nodes) pods.push(await c.addPod(node));
  t.deepEqual(await unreachable(c, pods), [], 'every pod pings every other pod over each family');
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  const p2 = pods.find((p) => p.node === n2)!;
  for (const f of c.podFamilies) {
    const r = await c.inNode(n1, 'ip', ['-j', 'route', 'get', p2.ips[f]!]);
    const [route] = JSON.parse(r.stdout) as { gateway?: string; dev?: string }[];
    t.deepEqual({ gateway: route?.gateway, dev: route?.dev }, { gateway: n2.underlay[f], dev: 'eth0' }, `node1 sends IPv${f} to node2's pod over the underlay`);
  }
});
