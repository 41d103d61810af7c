// weftd on a node with a dual-stack underlay, against a real API server: a
// dual-stack peer Node created through the API gets its IPv6 neighbour, FDB
// entry and route on weft6.1 (and its IPv4 ones on weft.1), a peer without an
// IPv6 underlay gets its IPv6 pod CIDR inside IPv4 VXLAN, and all of it goes
// when the Nodes are deleted. When the node loses its IPv6 underlay, weftd
// deletes weft6.1 and unpublishes its IPv6 VTEP.

import { readFileSync } from 'node:fs';
import test from 'ava';
import { VTEP_IP, VTEP_IP6, VTEP_MAC, VTEP_MAC6 } from '../../src/k8s/annotations.ts';
import { vtepMacFor } from '../../src/net/mac.ts';
import { Cluster, type ClusterNode, UNDERLAY_PREFIX_LENGTH } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';

type Status = {
  readiness: string;
  devices: { name: string; exists: boolean; mtu?: number; local?: string }[];
  peers: { podCidr: string; dev: string; vtepIp?: string }[];
};

const status = async (c: Cluster, node: ClusterNode): Promise<Status> => (await c.weftdStatus(node)) as unknown as Status;

const peerNode = (name: string, third: number, vteps: { 4?: string; 6?: string }) => ({
  metadata: {
    name,
    annotations: {
      ...(vteps[4] ? { [VTEP_IP]: vteps[4], [VTEP_MAC]: vtepMacFor(name, 4) } : {}),
      ...(vteps[6] ? { [VTEP_IP6]: vteps[6], [VTEP_MAC6]: vtepMacFor(name, 6) } : {}),
    },
  },
  spec: { podCIDR: `10.244.${third}.0/24`, podCIDRs: [`10.244.${third}.0/24`, `fd00:10:244:${third}::/64`] },
});

test.serial('IPv6 neighbour, FDB and route entries appear for a dual-stack peer and go with its Node; a lost IPv6 underlay takes weft6.1 along', async (t) => {
  const c = await Cluster.start(1, undefined, { stack: 'dual' });
  t.teardown(() => c.destroy());
  const [n1] = c.nodes as [ClusterNode];
  await c.startWeftd(n1);
  await eventually('weftd ready', async () => ((await status(c, n1)).readiness === 'ready' ? true : undefined));

  const own = await c.core.readNode({ name: 'node1' });
  t.like(own.metadata?.annotations, {
    [VTEP_IP]: '10.229.0.11',
    [VTEP_MAC]: vtepMacFor('node1', 4),
    [VTEP_IP6]: 'fd00:229::11',
    [VTEP_MAC6]: vtepMacFor('node1', 6),
  });
  const devices = (await status(c, n1)).devices;
  t.like(
    devices.find((d) => d.name === 'weft.1'),
    { exists: true, mtu: 1450, local: '10.229.0.11' },
  );
  t.like(
    devices.find((d) => d.name === 'weft6.1'),
    { exists: true, mtu: 1430, local: 'fd00:229::11' },
    '70 bytes of VXLAN over IPv6',
  );
  const subnet = JSON.parse(readFileSync(n1.subnetFile, 'utf8'));
  t.deepEqual(subnet.subnets, [
    { subnet: '10.244.1.0/24', gateway: '10.244.1.1' },
    { subnet: 'fd00:10:244:1::/64', gateway: 'fd00:10:244:1::1' },
  ]);
  t.is(subnet.mtu, 1430, "the pods' MTU is the smallest device's");

  // dual has both underlays; four has only an IPv4 one, so its IPv6 pods ride weft.1.
  await c.core.createNode({ body: peerNode('dual', 9, { 4: '10.229.0.99', 6: 'fd00:229::99' }) });
  await c.core.createNode({ body: peerNode('four', 8, { 4: '10.229.0.88' }) });
  const [m4, m6, f4] = [vtepMacFor('dual', 4), vtepMacFor('dual', 6), vtepMacFor('four', 4)];
  const bothPeers = [
    'route 10.244.9.0/24 via 10.244.9.0 dev weft.1',
    'route fd00:10:244:9::/64 via fd00:10:244:9:: dev weft6.1',
    `neigh weft.1 10.244.9.0 ${m4}`,
    `neigh weft6.1 fd00:10:244:9:: ${m6}`,
    `fdb weft.1 ${m4} 10.229.0.99`,
    `fdb weft6.1 ${m6} fd00:229::99`,
    'route 10.244.8.0/24 via 10.244.8.0 dev weft.1',
    'route fd00:10:244:8::/64 via fd00:10:244:8:: dev weft.1',
    `neigh weft.1 10.244.8.0 ${f4}`,
    `neigh weft.1 fd00:10:244:8:: ${f4}`,
    `fdb weft.1 ${f4} 10.229.0.88`,
  ];
  await c.waitForOverlayEntries(n1, bothPeers, 'both peers programmed over both families');
  await eventually('the routed pod CIDRs counted per family', async () => {
    const body = (await c.weftdHttp(n1, '/metrics')).body;
    return body.includes('weft_peer_pod_cidrs_programmed{family="6"} 2') && body.includes('weft_peer_pod_cidrs_programmed{family="4"} 2') ? true : undefined;
  });
  const rows = (await status(c, n1)).peers;
  t.like(
    rows.find((r) => r.podCidr === 'fd00:10:244:9::/64'),
    { dev: 'weft6.1', vtepIp: 'fd00:229::99' },
    'weftd status shows the IPv6 row',
  );

  // Drift in the IPv6 entries is repaired by the periodic pass (every 2 s here).
  await c.inNode(n1, 'ip', ['-6', 'route', 'del', 'fd00:10:244:9::/64']);
  await c.inNode(n1, 'ip', ['neigh', 'del', 'fd00:10:244:8::', 'dev', 'weft.1']);
  await c.waitForOverlayEntries(n1, bothPeers, 'IPv6 drift repaired');

  await c.core.deleteNode({ name: 'dual' });
  await c.core.deleteNode({ name: 'four' });
  await c.waitForOverlayEntries(n1, [], "the deleted Nodes' entries gone, both families");

  // The node loses its IPv6 underlay: the restarted weftd deletes weft6.1 and
  // removes the IPv6 VTEP pair from its Node; a dual-stack peer's IPv6 pods
  // now ride weft.1.
  await c.stopWeftd(n1);
  await c.inNode(n1, 'ip', ['addr', 'del', `${n1.underlay[6]}/${UNDERLAY_PREFIX_LENGTH[6]}`, 'dev', 'eth0']);
  await c.core.createNode({ body: peerNode('dual', 9, { 4: '10.229.0.99', 6: 'fd00:229::99' }) });
  await c.startWeftd(n1);
  await c.waitForOverlayEntries(
    n1,
    [
      'route 10.244.9.0/24 via 10.244.9.0 dev weft.1',
      'route fd00:10:244:9::/64 via fd00:10:244:9:: dev weft.1',
      `neigh weft.1 10.244.9.0 ${m4}`,
      `neigh weft.1 fd00:10:244:9:: ${m4}`,
      `fdb weft.1 ${m4} 10.229.0.99`,
    ],
    'IPv6 pods inside IPv4 VXLAN once the IPv6 underlay is gone',
  );
  t.is((await c.inNode(n1, 'ip', ['link', 'show', 'weft6.1'])).exitCode, 1, 'weft6.1 deleted');
  t.regex(readFileSync(n1.weftdLog, 'utf8'), /deleted VXLAN device weft6\.1: this node has no IPv6 underlay now/);
  await eventually('the IPv6 VTEP pair unpublished', async () => {
    const a = (await c.core.readNode({ name: 'node1' })).metadata?.annotations ?? {};
    return a[VTEP_IP6] === undefined && a[VTEP_MAC6] === undefined && a[VTEP_IP] === '10.229.0.11' ? true : undefined;
  });
  t.is(JSON.parse(readFileSync(n1.subnetFile, 'utf8')).mtu, 1450);
});
