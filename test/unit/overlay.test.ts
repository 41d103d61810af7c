import test from 'ava';
import fc from 'fast-check';
import { peerRows, renderStatus } from '../../cmd/weftd/status.ts';
import { parseVteps, vtepAnnotations, vtepsPublished } from '../../src/k8s/annotations.ts';
import { type IpCommand, IpCommandError, parseBatchErrors } from '../../src/linux/ip.ts';
import { cidrsOverlap, formatCidr, parseAddress, parseCidr } from '../../src/net/address.ts';
import { macForName, vtepMacFor } from '../../src/net/mac.ts';
import { runForced } from '../../src/overlay/batch.ts';
import { resolveClaims } from '../../src/overlay/claims.ts';
import { desiredState } from '../../src/overlay/desired.ts';
import { inPlaceFixes, recreateReasons, type VxlanSpec } from '../../src/overlay/device.ts';
import { changeCommands, diffOverlay, isEmpty, type PlannedCommand, removalCommands } from '../../src/overlay/diff.ts';
import { parseOverlayState } from '../../src/overlay/kernel-state.ts';
import { type NodeView, peersFromNodes, type SelfView } from '../../src/overlay/peers.ts';
import { chargeFailures, reconcileOverlay } from '../../src/overlay/reconcile.ts';
import { holdRefused, nextRefusals } from '../../src/overlay/refusals.ts';
import { carrierFamily, type DirectRoute, type LocalView } from '../../src/overlay/route-choice.ts';
import { IPV6_DEFAULT_METRIC, routeMetric } from '../../src/overlay/route-metric.ts';
import type { Peer } from '../../src/overlay/types.ts';
import { unicastProblem, vtepIpProblem, vtepMacOwnerProblem, vtepMacProblem } from '../../src/overlay/vtep-checks.ts';

const words = (cmds: readonly PlannedCommand[]) => cmds.map((c) => c.words.join(' '));
const lines = (c: ReturnType<typeof changeCommands>) => ({ ip: words(c.ip), bridge: words(c.bridge), ipAdds: words(c.ipAdds) });

const cluster = [parseCidr('10.244.0.0/16')!];
const local = (direct?: DirectRoute): LocalView => ({ devices: { 4: 'weft.1' }, direct: direct ? { 4: direct } : undefined });
const T0 = Date.parse('2025-01-01T00:00:00Z');
const peer = (n: number, mac = `0e:00:00:00:00:0${n}`): Peer => ({
  node: `node${n}`,
  created: T0 + n * 1000,
  podCidrs: [`10.244.${n}.0/24`],
  vteps: { 4: { ip: `192.0.2.${n}`, mac } },
});
/** The peer with another IPv4 VTEP (address, MAC or both). */
const withVtep = (p: Peer, vtep: Partial<{ ip: string; mac: string }>): Peer => ({ ...p, vteps: { 4: { ...p.vteps[4]!, ...vtep } } });
const own = { node: 'node1', podCidrs: ['10.244.1.0/24'], vtepMacs: ['0e:00:00:00:00:01'] };
const underlay4 = { ownIp: parseAddress('192.0.2.1')!, underlay: parseCidr('192.0.2.0/24')! };
const self: SelfView = { node: 'node1', clusterCidrs: cluster, underlays: { 4: underlay4 } };

test("desired state is flannel's L3 scheme: route via the network address, neighbour to the VTEP MAC, FDB to the VTEP IP", (t) => {
  const { state, owners } = desiredState([peer(2), peer(3)], local());
  t.deepEqual(state.routes, [
    { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', metric: 62467 },
    { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1', metric: 62468 },
  ]);
  t.deepEqual(state.neighbors, [
    { ip: '10.244.2.0', mac: '0e:00:00:00:00:02', dev: 'weft.1' },
    { ip: '10.244.3.0', mac: '0e:00:00:00:00:03', dev: 'weft.1' },
  ]);
  t.deepEqual(state.fdb, [
    { mac: '0e:00:00:00:00:02', dst: '192.0.2.2', dev: 'weft.1' },
    { mac: '0e:00:00:00:00:03', dst: '192.0.2.3', dev: 'weft.1' },
  ]);
  t.deepEqual(
    [...owners],
    [
      ['neigh weft.1 10.244.2.0', 'node2'],
      ['fdb weft.1 0e:00:00:00:00:02', 'node2'],
      ['route 10.244.2.0/24 metric 62467', 'node2'],
      ['neigh weft.1 10.244.3.0', 'node3'],
      ['fdb weft.1 0e:00:00:00:00:03', 'node3'],
      ['route 10.244.3.0/24 metric 62468', 'node3'],
    ],
    'every entry belongs to one peer',
  );
});

test('overlapping pod CIDRs conflict whether equal, inside or around another; the older Node keeps the CIDR', (t) => {
  const inside = { ...peer(4), podCidrs: ['10.244.2.128/25'] };
  const around = { ...peer(5), podCidrs: ['10.244.2.0/23'] };
  const equal = { ...peer(6), podCidrs: ['10.244.3.0/24'] };
  const apart = { ...peer(7), podCidrs: ['10.244.7.0/25'] };
  const a = resolveClaims([equal, around, inside, peer(3), peer(2), apart], own);
  const b = resolveClaims([peer(2), apart, inside, peer(3), equal, around], own);
  t.deepEqual(a, b, 'input order does not matter');
  t.deepEqual(
    a.accepted.map((p) => p.node),
    ['node2', 'node3', 'node7'],
  );
  t.deepEqual(
    a.conflicts.map((c) => [c.node, c.reason]),
    [
      ['node4', 'conflict'],
      ['node5', 'conflict'],
      ['node6', 'conflict'],
    ],
  );
  t.is(a.conflicts[0]!.problem, 'claims pod CIDR 10.244.2.128/25, which overlaps pod CIDR 10.244.2.0/24 that node node2 holds (it is the older Node)');
  t.regex(a.conflicts[1]!.problem, /claims pod CIDR 10\.244\.2\.0\/23, which overlaps pod CIDR 10\.244\.(2|3)\.0\/24 that node node(2|3) holds/);
  t.regex(a.conflicts[2]!.problem, /claims pod CIDR 10\.244\.3\.0\/24, which overlaps pod CIDR 10\.244\.3\.0\/24 that node node3 holds/);
});

// The claims tests below give peers arbitrary MACs on purpose: peersFromNodes
// admits only the MAC derived from a Node's own name, so two peers can share
// one only if their names hash alike, and the MAC rule is tested here, on the
// claims function itself.
test("this node's own pod CIDR and VTEP MAC always win, even against an older Node", (t) => {
  const ancient = { ...peer(8), created: 0, podCidrs: ['10.244.1.64/26'] };
  const wide = { ...peer(9), created: 0, podCidrs: ['10.244.0.0/16'] };
  const sameMac = { ...peer(5, own.vtepMacs[0]), created: 0 };
  const { accepted, conflicts } = resolveClaims([ancient, wide, sameMac], own);
  t.deepEqual(accepted, []);
  t.deepEqual(
    conflicts.map((c) => c.problem),
    [
      "uses VTEP MAC 0e:00:00:00:00:01, which is this node's own",
      "claims pod CIDR 10.244.1.64/26, which overlaps this node's own pod CIDR 10.244.1.0/24",
      "claims pod CIDR 10.244.0.0/16, which overlaps this node's own pod CIDR 10.244.1.0/24",
    ],
  );
});

test("a later Node cannot take an existing node's CIDR or MAC by a name that sorts first", (t) => {
  const victim = peer(2);
  const hijackCidr = { ...withVtep(victim, { mac: '0e:aa:00:00:00:01', ip: '192.0.2.66' }), node: 'aaa-hijack', created: victim.created + 60_000 };
  const hijackMac = { ...withVtep(hijackCidr, { mac: victim.vteps[4]!.mac }), node: 'aaa-mac', podCidrs: ['10.244.66.0/24'] };
  const { accepted, conflicts } = resolveClaims([hijackCidr, hijackMac, victim], own);
  t.deepEqual(accepted, [victim]);
  t.deepEqual(
    conflicts.map((c) => c.node),
    ['aaa-hijack', 'aaa-mac'],
  );
  t.is(conflicts[1]!.problem, 'uses VTEP MAC 0e:00:00:00:00:02, which node node2 holds (it is the older Node)');
  // Created in the same second: the name decides, the same way on every node.
  const twin = { ...withVtep(victim, { mac: '0e:00:00:00:00:f0' }), node: 'node0' };
  const tie = resolveClaims([victim, twin], own);
  t.deepEqual(
    tie.accepted.map((p) => p.node),
    ['node0'],
  );
  t.is(
    tie.conflicts[0]!.problem,
    'claims pod CIDR 10.244.2.0/24, which overlaps pod CIDR 10.244.2.0/24 that node node0 holds (the same age, and its name sorts first)',
  );
});

test('the claims check stays fast at 5000 nodes', (t) => {
  const peers = Array.from({ length: 5000 }, (_, i) => ({
    ...peer(0),
    node: `n${i}`,
    created: T0 + i,
    podCidrs: [`10.${100 + (i >> 8)}.${i & 255}.0/24`],
    vteps: { 4: { ip: '192.0.2.9', mac: `0e:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` } },
  }));
  const started = performance.now();
  const { accepted } = resolveClaims(peers, { ...own, podCidrs: ['10.99.0.0/24'], vtepMacs: ['0e:ff:ff:ff:ff:ff'] });
  const ms = performance.now() - started;
  t.is(accepted.length, 5000);
  t.true(ms < 1000, `${ms} ms`);
});

test('direct routing sends peers on the same underlay subnet straight over it, the rest through VXLAN', (t) => {
  const direct = { subnet: parseCidr('192.0.2.0/24')!, dev: 'eth0' };
  const far = withVtep(peer(3), { ip: '198.51.100.3' });
  const { state } = desiredState([peer(2), far], local(direct));
  t.deepEqual(state.routes, [
    { dst: '10.244.2.0/24', via: '192.0.2.2', dev: 'eth0', metric: 62467 },
    { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1', metric: 62468 },
  ]);
  t.deepEqual(state.fdb, [{ mac: '0e:00:00:00:00:03', dst: '198.51.100.3', dev: 'weft.1' }], 'no FDB or neighbour entry for a directly routed peer');
  t.deepEqual(
    state.neighbors.map((n) => n.ip),
    ['10.244.3.0'],
  );
  const cmds = lines(changeCommands(diffOverlay(state, { neighbors: [], fdb: [], routes: [] }), ['weft.1'], 119));
  t.true(cmds.ipAdds.includes('route replace 10.244.2.0/24 via 192.0.2.2 dev eth0 proto 119 metric 62467'));
  t.true(cmds.ipAdds.includes('route replace 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink proto 119 metric 62468'));
});

test('the diff adds what is missing or changed, removes what no peer wants, and is empty when converged', (t) => {
  const desired = desiredState([peer(2), peer(3)], local()).state;
  t.true(isEmpty(diffOverlay(desired, desired)));
  const actual = desiredState([withVtep(peer(2), { ip: '192.0.2.200' }), peer(9)], local()).state;
  const changes = diffOverlay(desired, actual);
  t.deepEqual(changes.add.fdb, [
    { mac: '0e:00:00:00:00:02', dst: '192.0.2.2', dev: 'weft.1' },
    { mac: '0e:00:00:00:00:03', dst: '192.0.2.3', dev: 'weft.1' },
  ]);
  t.deepEqual(changes.remove.routes, [{ dst: '10.244.9.0/24', via: '10.244.9.0', dev: 'weft.1', metric: 62474 }]);
  t.deepEqual(changes.add.routes, [{ dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1', metric: 62468 }]);
  const plan = changeCommands(changes, ['weft.1'], 119);
  const cmds = lines(plan);
  t.deepEqual(cmds.ip, ['route del 10.244.9.0/24 via 10.244.9.0 dev weft.1 proto 119 metric 62474', 'neigh del 10.244.9.0 dev weft.1']);
  t.is(cmds.bridge[0], 'fdb del 0e:00:00:00:00:09 dev weft.1 dst 192.0.2.9 self');
  t.true(cmds.bridge.includes('fdb replace 0e:00:00:00:00:02 dev weft.1 dst 192.0.2.2 self permanent'));
  t.deepEqual(cmds.ipAdds, [
    'neigh replace 10.244.3.0 lladdr 0e:00:00:00:00:03 dev weft.1 nud permanent',
    'route replace 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink proto 119 metric 62468',
  ]);
  t.deepEqual(
    plan.ipAdds.map((c) => [c.key, c.op]),
    [
      ['neigh weft.1 10.244.3.0', 'add'],
      ['route 10.244.3.0/24 metric 62468', 'add'],
    ],
  );
  const undo = removalCommands(desiredState([peer(3)], local()).state, 119);
  t.deepEqual(words(undo.ip), ['route del 10.244.3.0/24 proto 119', 'neigh del 10.244.3.0 dev weft.1']);
  t.deepEqual(words(undo.bridge), ['fdb del 0e:00:00:00:00:03 dev weft.1 self'], 'a refused peer comes out whatever its entries hold');
});

test("only permanent entries with a destination are weft's when reading the kernel", (t) => {
  const state = parseOverlayState(
    ['weft.1', 'weft6.1'],
    [
      [
        { dst: '10.244.2.0', lladdr: '0E:00:00:00:00:02', state: ['PERMANENT'] },
        { dst: '10.244.5.9', lladdr: '0e:00:00:00:00:05', state: ['REACHABLE'] },
        { dst: '10.244.6.0', state: ['FAILED'] },
        { dst: 'fd00:10:244:7::', lladdr: '0e:00:00:00:00:07', state: ['PERMANENT'] },
      ],
      [{ dst: 'fd00:10:244:2::', lladdr: '0e:00:00:00:06:02', state: ['PERMANENT'] }],
    ],
    [
      [
        { mac: '0e:00:00:00:00:02', dst: '192.0.2.2', state: 'permanent' },
        { mac: '00:00:00:00:00:00', dst: '192.0.2.9', state: 'permanent' },
        { mac: '0e:11:11:11:11:11' },
      ],
      [{ mac: '0e:00:00:00:06:02', dst: '2001:db8::2', state: 'permanent' }],
    ],
    [
      { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'weft.1', table: 'main', metric: 62467 },
      // No metric printed: an IPv4 route's metric is 0 (as an older weft left them).
      { dst: '10.244.3.7', gateway: '10.244.3.0', dev: 'weft.1' },
      { dst: '10.244.4.0/24', dev: 'weft.1' },
      { dst: '10.244.8.0/24', gateway: '10.244.8.0', dev: 'weft.1', table: '100' },
      { dst: 'fd00:10:244:2::/64', gateway: 'fd00:10:244:2::', dev: 'weft6.1', table: 'main', metric: 1024 },
      { dst: 'fd00:10:244:7::5', gateway: 'fd00:10:244:7::', dev: 'weft.1', table: 'main', metric: 1024 },
    ],
  );
  t.deepEqual(state.neighbors, [
    { ip: '10.244.2.0', mac: '0e:00:00:00:00:02', dev: 'weft.1' },
    { ip: 'fd00:10:244:7::', mac: '0e:00:00:00:00:07', dev: 'weft.1' },
    { ip: 'fd00:10:244:2::', mac: '0e:00:00:00:06:02', dev: 'weft6.1' },
  ]);
  t.deepEqual(state.fdb, [
    { mac: '0e:00:00:00:00:02', dst: '192.0.2.2', dev: 'weft.1' },
    { mac: '0e:00:00:00:06:02', dst: '2001:db8::2', dev: 'weft6.1' },
  ]);
  t.deepEqual(
    state.routes,
    [
      { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', metric: 62467 },
      { dst: '10.244.3.7/32', via: '10.244.3.0', dev: 'weft.1', metric: 0 },
      { dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'weft6.1', metric: 1024 },
      { dst: 'fd00:10:244:7::5/128', via: 'fd00:10:244:7::', dev: 'weft.1', metric: 1024 },
    ],
    "routes of both families, main table only; a host route's length is its family's",
  );
});

test('every IPv4 pod CIDR of one size gets a metric of its own, never 0; IPv6 routes keep the kernel default', (t) => {
  // Up to 65536 subnets of one size: the /24s of a /8, the /64s would be IPv6's.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 16, max: 32 }), (a, b, prefix) => {
      const cidr = (i: number) => ({ family: 4 as const, network: (10n << 24n) | ((BigInt(i) << BigInt(32 - prefix)) & 0xffffffn), prefix });
      const [ma, mb] = [routeMetric(cidr(a)), routeMetric(cidr(b))];
      const distinct = ((a ^ b) & ((1 << (prefix - 8)) - 1)) !== 0;
      return ma >= 1 && ma <= 65536 && (!distinct || ma !== mb);
    }),
  );
  t.is(routeMetric(parseCidr('10.244.2.0/24')!), 62467);
  t.is(routeMetric(parseCidr('fd00:10:244:2::/64')!), IPV6_DEFAULT_METRIC);
});

test('a route an older weft left with metric 0 is replaced without a gap: the new one goes in before the old one comes out', async (t) => {
  const desired = desiredState([peer(2)], local()).state;
  const old = { ...desired.routes[0]!, metric: 0 };
  const known = { ...desired, routes: [old] };
  const ran: string[] = [];
  const record = async (cmds: IpCommand[]) => {
    for (const w of cmds) ran.push(w.join(' '));
  };
  const spec: VxlanSpec = { name: 'weft.1', family: 4, vni: 1, port: 4789, localIp: '192.0.2.1', underlay: 'eth0', mtu: 1450, mac: '0e:00:00:00:00:01' };
  const result = await reconcileOverlay([spec], [peer(2)], local(), () => {}, { ip: record, bridge: record, renew: () => {} }, known);
  t.deepEqual(ran, [
    'route replace 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink proto 119 metric 62467',
    // An IPv4 deletion reads metric 0 as "any", and takes the lowest first: the old one.
    'route del 10.244.2.0/24 via 10.244.2.0 dev weft.1 proto 119 metric 0',
  ]);
  t.deepEqual([result.added, result.removed, result.exact], [1, 1, true]);
});

const ann = (ip: string, mac: string) => ({ 'weft.dev/vtep-ip': ip, 'weft.dev/vtep-mac': mac });
const node = (name: string, podCidrs: string[], annotations: Record<string, string>): NodeView => ({ name, podCidrs, annotations, created: T0 });

test('in an IPv4 cluster, nodes become peers only with an IPv4 pod CIDR inside the cluster network and valid VTEP annotations, in canonical form', (t) => {
  const { peers, skipped } = peersFromNodes(
    [
      node('node1', ['10.244.1.0/24'], ann('192.0.2.1', macForName('node1'))),
      node('ok', ['10.244.2.7/24', 'fd00::/64'], ann('192.0.2.2', macForName('ok').toUpperCase())),
      node('fresh', [], {}),
      node('unannotated', ['10.244.3.0/24'], {}),
      node('outside', ['10.99.0.0/24'], ann('192.0.2.4', macForName('outside'))),
      node('badip', ['10.244.5.0/24'], ann('999.1.1.1', macForName('badip'))),
      node('badmac', ['10.244.6.0/24'], ann('192.0.2.6', `${macForName('badmac')} dev lo`)),
      node('notacidr', ['10.244.7.0/24 via 1.2.3.4'], ann('192.0.2.7', macForName('notacidr'))),
      { name: 'ageless', podCidrs: ['10.244.8.0/24'], annotations: ann('192.0.2.8', macForName('ageless')) },
    ],
    self,
  );
  t.deepEqual(
    peers,
    [
      { node: 'ok', created: T0, podCidrs: ['10.244.2.0/24'], vteps: { 4: { ip: '192.0.2.2', mac: macForName('ok') } } },
      { node: 'ageless', created: Number.MAX_SAFE_INTEGER, podCidrs: ['10.244.8.0/24'], vteps: { 4: { ip: '192.0.2.8', mac: macForName('ageless') } } },
    ],
    'this node is no peer; values come out canonical; a node without a creation time claims last',
  );
  t.deepEqual(
    skipped.map((s) => [s.node, s.reason]),
    [
      ['fresh', 'not-ready'],
      ['unannotated', 'not-ready'],
      ['outside', 'malformed'],
      ['badip', 'malformed'],
      ['badmac', 'malformed'],
      ['notacidr', 'malformed'],
    ],
  );
  t.is(skipped[3]!.problem, 'has an invalid weft.dev/vtep-ip annotation "999.1.1.1": expected an IPv4 address');
  t.is(skipped[5]!.problem, 'has pod CIDR "10.244.7.0/24 via 1.2.3.4", which is not a CIDR');
});

test('a VTEP that parses but is no unicast address of another host is refused before the kernel sees it', (t) => {
  const cases: [string, string, RegExp][] = [
    ['192.0.2.9', '00:00:00:00:00:00', /VTEP MAC 00:00:00:00:00:00 .* is all zeros/],
    ['192.0.2.9', '01:00:5e:00:00:09', /VTEP MAC 01:00:5e:00:00:09 .* is a multicast MAC/],
    ['192.0.2.9', 'ff:ff:ff:ff:ff:ff', /is the broadcast MAC/],
    ['224.0.0.1', macForName('bad'), /VTEP address 224\.0\.0\.1 .* is a multicast address/],
    ['255.255.255.255', macForName('bad'), /is the limited broadcast address/],
    ['0.0.0.0', macForName('bad'), /is the unspecified address/],
    ['127.0.0.1', macForName('bad'), /is a loopback address/],
    ['169.254.1.1', macForName('bad'), /is a link-local address/],
    ['192.0.2.1', macForName('bad'), /is this node's own VTEP address/],
    ['192.0.2.0', macForName('bad'), /is the network address of the underlay subnet 192\.0\.2\.0\/24/],
    ['192.0.2.255', macForName('bad'), /is the broadcast address of the underlay subnet 192\.0\.2\.0\/24/],
    ['192.0.2.9', macForName('good'), /VTEP MAC 0e:.* is not 0e:.*, the MAC weftd derives from the node name bad$/],
  ];
  for (const [ip, mac, problem] of cases) {
    const { peers, skipped } = peersFromNodes(
      [node('bad', ['10.244.9.0/24'], ann(ip, mac)), node('good', ['10.244.2.0/24'], ann('198.51.100.2', macForName('good')))],
      self,
    );
    t.deepEqual(
      peers.map((p) => p.node),
      ['good'],
      `${ip} ${mac}`,
    );
    t.is(skipped[0]?.reason, 'malformed');
    t.regex(skipped[0]?.problem ?? '', problem);
  }
  t.is(vtepIpProblem(parseAddress('198.51.100.255')!, underlay4), undefined, 'a broadcast address of another subnet is just an address');
  t.is(
    vtepIpProblem(parseAddress('192.0.2.0')!, { ...underlay4, underlay: parseCidr('192.0.2.0/31')! }),
    undefined,
    'a /31 has no network or broadcast address',
  );
  for (const [v6, what] of [
    ['ff02::1', /multicast/],
    ['fe80::1', /link-local/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['::ffff:192.0.2.9', /IPv4-mapped/],
  ] as const) {
    t.regex(unicastProblem(parseAddress(v6)!) ?? '', what, v6);
  }
  t.is(unicastProblem(parseAddress('2001:db8::1')!), undefined);
  t.is(vtepMacProblem('0e:00:00:00:00:09'), undefined);
});

test("a Node that copies another's VTEP MAC is skipped as malformed, and the one it copied stays a peer", (t) => {
  // node3 has been around for an hour; copycat, created now, announces
  // node3's MAC (and another one announces this node's own) to take over
  // its FDB entry. Both are refused before any claim is weighed, whatever
  // their age or name.
  const victim = node('node3', ['10.244.3.0/24'], ann('192.0.2.3', macForName('node3')));
  const copycat = { ...node('aaa-copycat', ['10.244.4.0/24'], ann('192.0.2.4', macForName('node3'))), created: 0 };
  const mimic = node('mimic', ['10.244.5.0/24'], ann('192.0.2.5', macForName('node1').toUpperCase()));
  const { peers, skipped } = peersFromNodes([copycat, victim, mimic], self);
  t.deepEqual(
    peers.map((p) => [p.node, p.vteps[4]?.mac]),
    [['node3', macForName('node3')]],
  );
  t.deepEqual(skipped, [
    {
      node: 'aaa-copycat',
      reason: 'malformed',
      problem: `has VTEP MAC ${macForName('node3')} (weft.dev/vtep-mac), which is not ${macForName('aaa-copycat')}, the MAC weftd derives from the node name aaa-copycat`,
    },
    {
      node: 'mimic',
      reason: 'malformed',
      problem: `has VTEP MAC ${macForName('node1')} (weft.dev/vtep-mac), which is not ${macForName('mimic')}, the MAC weftd derives from the node name mimic`,
    },
  ]);
  t.is(resolveClaims(peers, own).accepted.length, 1, 'node3 loses nothing to the copy');
  t.is(vtepMacOwnerProblem(macForName('node3'), 'node3', 4), undefined);
});

test('VTEP annotations round-trip, and come back canonical', (t) => {
  const vtep = { ip: '192.0.2.1', mac: '0e:01:02:03:04:05' };
  t.deepEqual(parseVteps(merged({}, vtepAnnotations({ 4: vtep }))), { vteps: { 4: vtep } });
  t.deepEqual(parseVteps({ 'weft.dev/vtep-ip': '192.0.2.1', 'weft.dev/vtep-mac': '0E:01:02:03:04:05' }), { vteps: { 4: vtep } });
  t.regex(
    (parseVteps({ 'weft.dev/vtep-ip': `1${'0'.repeat(5000)}`, 'weft.dev/vtep-mac': vtep.mac }) as { problem: string }).problem,
    /…" \(5001 characters\)/,
    'a huge value is cut short in the message',
  );
});

/**
 * iproute2 as it behaves: `-force` names each failed line, except a failed
 * `ip neigh` line, which ends the process unnamed (exit 2). `neighbors` is
 * the kernel's neighbour table; `refuse` says why a line fails, if it does;
 * `ran` holds the lines each call reached.
 */
function fakeIp(neighbors: Map<string, string>, refuse: (w: IpCommand) => string | undefined) {
  const ran: string[][] = [];
  // Neighbours are keyed by device and address, as the kernel (and heldKey) does.
  const key = (w: IpCommand) => `${w[w.indexOf('dev') + 1]} ${w[2]}`;
  const run = async (cmds: IpCommand[]): Promise<void> => {
    const done: string[] = [];
    ran.push(done);
    let stderr = '';
    for (const [i, w] of cmds.entries()) {
      done.push(w.join(' '));
      const reason = refuse(w) ?? (w[0] === 'neigh' && w[1] === 'del' && !neighbors.has(key(w)) ? 'RTNETLINK answers: No such file or directory' : undefined);
      if (reason) {
        stderr += `${reason}\n`;
        if (w[0] === 'neigh') throw new IpCommandError('ip -batch', stderr, parseBatchErrors(stderr));
        stderr += `Command failed -:${i + 1}\n`;
      } else if (w[0] === 'neigh') {
        if (w[1] === 'replace') neighbors.set(key(w), w[4]!);
        else neighbors.delete(key(w));
      }
    }
    if (stderr) throw new IpCommandError('ip -batch', stderr, parseBatchErrors(stderr));
  };
  return { run, ran };
}

const addPlan = (...peers: Peer[]) =>
  changeCommands(diffOverlay(desiredState(peers, local()).state, { neighbors: [], fdb: [], routes: [] }), ['weft.1'], 119).ipAdds;

test('a refused route line costs only that line; every other line runs in the same batch', async (t) => {
  const kernel = new Map<string, string>();
  const ip = fakeIp(kernel, (w) => (w[2] === '10.244.3.0/24' ? 'Error: Nexthop has invalid gateway.' : undefined));
  const failures = await runForced(ip.run, addPlan(peer(2), peer(3), peer(4)), () => kernel);
  t.deepEqual(
    failures.map((f) => [f.command.key, f.reason]),
    [['route 10.244.3.0/24 metric 62468', 'Error: Nexthop has invalid gateway.']],
  );
  t.is(ip.ran.length, 1);
  t.is(kernel.size, 3);
});

test("a refused neighbour line, which ends iproute2's batch unnamed, costs only that line; the batch goes on after it", async (t) => {
  const kernel = new Map<string, string>();
  const ip = fakeIp(kernel, (w) => (w[0] === 'neigh' && w[2] === '10.244.3.0' ? 'RTNETLINK answers: Invalid argument' : undefined));
  const plan = addPlan(peer(2), peer(3), peer(4));
  const failures = await runForced(ip.run, plan, () => kernel);
  t.deepEqual(
    failures.map((f) => [f.command.key, f.reason]),
    [['neigh weft.1 10.244.3.0', 'RTNETLINK answers: Invalid argument']],
  );
  t.deepEqual([...kernel.keys()].sort(), ['weft.1 10.244.2.0', 'weft.1 10.244.4.0']);
  t.deepEqual(
    ip.ran.flat().filter((l) => l.startsWith('route')),
    plan.filter((c) => c.words[0] === 'route').map((c) => c.words.join(' ')),
    'every route line ran once',
  );
});

test('a removal of a neighbour already gone does not stop the removals after it', async (t) => {
  const kernel = new Map([
    ['weft.1 10.244.3.0', '0e:00:00:00:00:03'],
    ['weft.1 10.244.4.0', '0e:00:00:00:00:04'],
  ]);
  const ip = fakeIp(kernel, () => undefined);
  const undo = removalCommands(desiredState([peer(2), peer(3), peer(4)], local()).state, 119).ip.filter((c) => c.neighbor);
  const failures = await runForced(ip.run, undo, () => kernel);
  t.deepEqual(failures, [], 'an entry that is already gone is what a removal wants');
  t.is(kernel.size, 0);
  // A neighbour that cannot be removed is reported after one more try.
  const stuck = new Map([
    ['weft.1 10.244.2.0', 'x'],
    ['weft.1 10.244.3.0', 'y'],
  ]);
  const refusing = fakeIp(stuck, (w) => (w[2] === '10.244.2.0' ? 'RTNETLINK answers: Operation not permitted' : undefined));
  const second = await runForced(refusing.run, undo, () => stuck);
  t.deepEqual(
    second.map((f) => f.command.key),
    ['neigh weft.1 10.244.2.0'],
  );
  t.deepEqual([...stuck.keys()], ['weft.1 10.244.2.0']);
});

test("what is no line's failure is thrown, not charged to a peer", async (t) => {
  const plan = addPlan(peer(2));
  await t.throwsAsync(
    () =>
      runForced(
        async () => {
          throw new IpCommandError('cannot run ip', '');
        },
        plan,
        () => new Map(),
      ),
    { message: /cannot run ip/ },
  );
  const routesOnly = plan.filter((c) => c.words[0] === 'route');
  await t.throwsAsync(
    () =>
      runForced(
        async () => {
          throw new IpCommandError('ip', 'Cannot open netlink socket\n');
        },
        routesOnly,
        () => new Map(),
      ),
    { message: 'ip' },
  );
  t.is(parseBatchErrors('Error: x\nCommand failed -:1\nRTNETLINK answers: y\n').unnamed, 'RTNETLINK answers: y');
  t.is(parseBatchErrors('Error: x\nCommand failed -:1\n').unnamed, undefined);
});

test("failed lines are charged to the peer whose entry they carry; a removal or a missing device is no peer's", (t) => {
  const { owners } = desiredState([peer(2), peer(3)], local());
  const plan = changeCommands(diffOverlay(desiredState([peer(2), peer(3)], local()).state, desiredState([peer(9)], local()).state), ['weft.1'], 119);
  const route3 = plan.ipAdds.find((c) => c.key === 'route 10.244.3.0/24 metric 62468')!;
  const fdb2 = plan.bridge.find((c) => c.key === 'fdb weft.1 0e:00:00:00:00:02')!;
  const removal = plan.ip[0]!;
  const charged = chargeFailures(
    [
      { command: route3, reason: 'Error: Nexthop has invalid gateway.' },
      { command: fdb2, reason: 'RTNETLINK answers: Operation not supported' },
      { command: removal, reason: 'RTNETLINK answers: No such process' },
    ],
    owners,
  );
  t.deepEqual(
    [...charged.refused],
    [
      ['node3', 'route replace 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink proto 119 metric 62468: Error: Nexthop has invalid gateway.'],
      ['node2', 'fdb replace 0e:00:00:00:00:02 dev weft.1 dst 192.0.2.2 self permanent: RTNETLINK answers: Operation not supported'],
    ],
  );
  t.true(charged.removalFailed);
  t.throws(() => chargeFailures([{ command: route3, reason: 'Cannot find device "weft.1"' }], owners), { message: /a device weftd programs is gone/ });
  t.throws(() => chargeFailures([{ command: route3, reason: 'RTNETLINK answers: Operation not permitted' }], owners), {
    message: /run it as root or with CAP_NET_ADMIN/,
  });
});

test('a peer the kernel refused waits for a change of its Node or a periodic pass, not every event', (t) => {
  const refusals = nextRefusals(new Map(), [], [{ node: 'node3', reason: 'route replace …: Error: Nexthop has invalid gateway.' }], [peer(2), peer(3)]);
  const event = holdRefused([peer(2), peer(3)], refusals, false);
  t.deepEqual(
    event.attempt.map((p) => p.node),
    ['node2'],
  );
  t.deepEqual(
    event.held.map((s) => [s.node, s.reason]),
    [['node3', 'kernel-refused']],
  );
  t.regex(event.held[0]!.problem, /was refused by the kernel \(route replace …: Error: Nexthop has invalid gateway\.\)/);
  t.deepEqual(holdRefused([peer(2), withVtep(peer(3), { ip: '192.0.2.33' })], refusals, false).held, [], 'a changed Node is tried again');
  t.deepEqual(holdRefused([peer(2), peer(3)], refusals, true).held, [], 'the periodic pass tries every peer');
  t.deepEqual([...nextRefusals(refusals, event.held, [], event.attempt).keys()], ['node3'], 'a held peer stays refused');
  t.deepEqual([...nextRefusals(refusals, [], [], [peer(2), peer(3)]).keys()], [], 'accepted on a retry, it is forgotten');
});

test('a VXLAN device with other settings is recreated; MTU, MAC and state are fixed in place', (t) => {
  const spec: VxlanSpec = { name: 'weft.1', family: 4, vni: 1, port: 4789, localIp: '192.0.2.1', underlay: 'eth0', mtu: 1450, mac: '0e:00:00:00:00:01' };
  const link = {
    ifindex: 5,
    ifname: 'weft.1',
    mtu: 1450,
    address: '0e:00:00:00:00:01',
    flags: ['UP'],
    linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '192.0.2.1', link: 'eth0', port: 4789, learning: false } },
  };
  t.deepEqual(recreateReasons(link, spec), []);
  t.deepEqual(inPlaceFixes(link, spec), []);
  t.deepEqual(recreateReasons({ ...link, linkinfo: { info_kind: 'vxlan', info_data: { ...link.linkinfo.info_data, id: 2, port: 8472 } } }, spec), [
    'VNI 2 is not 1',
    'UDP port 8472 is not 4789',
  ]);
  t.deepEqual(recreateReasons({ ...link, linkinfo: { info_kind: 'bridge' } }, spec), ['it is a bridge link']);
  t.deepEqual(inPlaceFixes({ ...link, mtu: 1500, flags: [] }, spec), [
    ['link', 'set', 'dev', 'weft.1', 'mtu', '1450'],
    ['link', 'set', 'dev', 'weft.1', 'up'],
  ]);
});

test('status joins route, neighbour and FDB per remote pod CIDR and shows what is missing', (t) => {
  const rows = peerRows({
    routes: [
      { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1', metric: 62468 },
      { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', metric: 62467 },
    ],
    neighbors: [{ ip: '10.244.2.0', mac: '0e:00:00:00:00:02', dev: 'weft.1' }],
    fdb: [{ mac: '0e:00:00:00:00:02', dst: '192.0.2.2', dev: 'weft.1' }],
  });
  t.deepEqual(rows, [
    { podCidr: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', vtepMac: '0e:00:00:00:00:02', vtepIp: '192.0.2.2' },
    { podCidr: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1', vtepMac: undefined, vtepIp: undefined },
  ]);
});

test('status lists the skipped nodes with their reason, or says the daemon could not be asked', (t) => {
  const base = {
    devices: [{ name: 'weft.1', exists: false }],
    subnetFile: { path: '/run/weft/subnet.json', problem: 'missing' },
    readiness: 'ready',
    peers: [],
  };
  const text = renderStatus({ ...base, skipped: [{ node: 'aaa-hijack', reason: 'conflict', problem: 'claims pod CIDR 10.244.2.0/24, which overlaps …' }] });
  t.regex(text, /^skipped: {5}1\n {2}NODE {7}REASON {9}PROBLEM\n {2}aaa-hijack conflict {7}it claims pod CIDR 10\.244\.2\.0\/24/m);
  t.regex(renderStatus(base), /^skipped: {5}unknown \(weftd not reachable\)$/m);
});

/** A JSON merge patch applied to annotations, as the API server does: null removes. */
function merged(annotations: Record<string, string>, patch: Record<string, string | null>): Record<string, string> {
  const out = { ...annotations };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

// Dual stack: the same model over both families.
const cluster46 = [parseCidr('10.244.0.0/16')!, parseCidr('fd00:10:244::/56')!];
const underlay6 = { ownIp: parseAddress('2001:db8::1')!, underlay: parseCidr('2001:db8::/64')! };
const self46: SelfView = { node: 'node1', clusterCidrs: cluster46, underlays: { 4: underlay4, 6: underlay6 } };
const both: LocalView = { devices: { 4: 'weft.1', 6: 'weft6.1' } };
const only4: LocalView = { devices: { 4: 'weft.1' } };
const only6: LocalView = { devices: { 6: 'weft6.1' } };
const ann6 = (ip: string, mac: string) => ({ 'weft.dev/vtep-ip6': ip, 'weft.dev/vtep-mac6': mac });
/** Peer n with pod CIDRs and VTEPs of the given families. */
const peer46 = (n: number, pods: (4 | 6)[], vteps: (4 | 6)[]): Peer => ({
  node: `node${n}`,
  created: T0 + n * 1000,
  podCidrs: pods.map((f) => (f === 4 ? `10.244.${n}.0/24` : `fd00:10:244:${n}::/64`)),
  vteps: {
    ...(vteps.includes(4) ? { 4: { ip: `192.0.2.${n}`, mac: vtepMacFor(`node${n}`, 4) } } : {}),
    ...(vteps.includes(6) ? { 6: { ip: `2001:db8::${n}`, mac: vtepMacFor(`node${n}`, 6) } } : {}),
  },
});

test("a VTEP's MAC per family: IPv4's is the name's MAC weft always used, IPv6's another locally administered unicast MAC", (t) => {
  for (const name of ['node1', 'worker-a.example.com', '']) {
    t.is(vtepMacFor(name, 4), macForName(name), 'an upgraded node keeps its MAC');
    t.not(vtepMacFor(name, 6), vtepMacFor(name, 4));
    t.regex(vtepMacFor(name, 6), /^0e(:[0-9a-f]{2}){5}$/);
    t.is(vtepMacProblem(vtepMacFor(name, 6)), undefined);
  }
  t.is(vtepMacFor('node1', 6), vtepMacFor('node1', 6), 'stable');
  t.not(vtepMacFor('node1', 6), vtepMacFor('node2', 6));
});

test('each pod family rides the underlay of its own family when both nodes have it, else the other one', (t) => {
  t.is(carrierFamily(6, both.devices, peer46(2, [6], [4, 6]).vteps), 6);
  t.is(carrierFamily(4, both.devices, peer46(2, [4], [4, 6]).vteps), 4);
  t.is(carrierFamily(6, only4.devices, peer46(2, [6], [4, 6]).vteps), 4, 'IPv6 pods inside IPv4 VXLAN');
  t.is(carrierFamily(6, both.devices, peer46(2, [6], [4]).vteps), 4, 'the peer has no IPv6 underlay');
  t.is(carrierFamily(4, only6.devices, peer46(2, [4], [6]).vteps), 6, 'IPv4 pods inside IPv6 VXLAN');
  t.is(carrierFamily(4, only6.devices, peer46(2, [4], [4]).vteps), undefined, 'no shared underlay family');

  const dual = desiredState([peer46(2, [4, 6], [4, 6])], both).state;
  t.deepEqual(dual.routes, [
    { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', metric: 62467 },
    { dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'weft6.1', metric: 1024 },
  ]);
  t.deepEqual(dual.neighbors, [
    { ip: '10.244.2.0', mac: vtepMacFor('node2', 4), dev: 'weft.1' },
    { ip: 'fd00:10:244:2::', mac: vtepMacFor('node2', 6), dev: 'weft6.1' },
  ]);
  t.deepEqual(dual.fdb, [
    { mac: vtepMacFor('node2', 4), dst: '192.0.2.2', dev: 'weft.1' },
    { mac: vtepMacFor('node2', 6), dst: '2001:db8::2', dev: 'weft6.1' },
  ]);

  const inside4 = desiredState([peer46(2, [4, 6], [4, 6])], only4).state;
  t.deepEqual(inside4.routes, [
    { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', metric: 62467 },
    { dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'weft.1', metric: 1024 },
  ]);
  t.deepEqual(inside4.fdb, [{ mac: vtepMacFor('node2', 4), dst: '192.0.2.2', dev: 'weft.1' }], 'one FDB entry carries both pod families');
  t.deepEqual(
    inside4.neighbors.map((n) => `${n.dev} ${n.ip} ${n.mac}`),
    [`weft.1 10.244.2.0 ${vtepMacFor('node2', 4)}`, `weft.1 fd00:10:244:2:: ${vtepMacFor('node2', 4)}`],
  );
  const plan = lines(changeCommands(diffOverlay(dual, { neighbors: [], fdb: [], routes: [] }), ['weft.1', 'weft6.1'], 119));
  t.deepEqual(plan.bridge, [
    `fdb replace ${vtepMacFor('node2', 4)} dev weft.1 dst 192.0.2.2 self permanent`,
    `fdb replace ${vtepMacFor('node2', 6)} dev weft6.1 dst 2001:db8::2 self permanent`,
  ]);
  t.true(plan.ipAdds.includes(`neigh replace fd00:10:244:2:: lladdr ${vtepMacFor('node2', 6)} dev weft6.1 nud permanent`));
  t.true(plan.ipAdds.includes('route replace fd00:10:244:2::/64 via fd00:10:244:2:: dev weft6.1 onlink proto 119 metric 1024'));
  const undo = words(removalCommands(dual, 119).ip);
  t.true(undo.includes('neigh del fd00:10:244:2:: dev weft6.1'));
});

test('the same neighbour address on both devices is two entries, and a move between devices is a change', (t) => {
  // An upgrade from IPv4-only to dual underlay moves the IPv6 pod CIDR from weft.1 to weft6.1.
  const before = desiredState([peer46(2, [6], [4, 6])], only4).state;
  const after = desiredState([peer46(2, [6], [4, 6])], both).state;
  const changes = diffOverlay(after, before);
  t.deepEqual(
    changes.add.neighbors.map((n) => `${n.dev} ${n.ip}`),
    ['weft6.1 fd00:10:244:2::'],
  );
  t.deepEqual(
    changes.remove.neighbors.map((n) => `${n.dev} ${n.ip}`),
    ['weft.1 fd00:10:244:2::'],
  );
  t.deepEqual(changes.add.routes, [{ dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'weft6.1', metric: 1024 }], 'the route is replaced in place');
  t.deepEqual(changes.remove.routes, []);
});

test('direct routing is per family: a pod CIDR goes straight to a peer on the underlay subnet of its own family', (t) => {
  const direct: LocalView = {
    devices: { 4: 'weft.1', 6: 'weft6.1' },
    direct: { 4: { subnet: parseCidr('198.51.100.0/24')!, dev: 'eth0' }, 6: { subnet: parseCidr('2001:db8::/64')!, dev: 'eth0' } },
  };
  // node2's IPv6 VTEP is on this node's IPv6 subnet, its IPv4 one is not.
  const { state } = desiredState([peer46(2, [4, 6], [4, 6])], direct);
  t.deepEqual(state.routes, [
    { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', metric: 62467 },
    { dst: 'fd00:10:244:2::/64', via: '2001:db8::2', dev: 'eth0', metric: 1024 },
  ]);
  t.deepEqual(
    state.fdb.map((f) => f.dev),
    ['weft.1'],
  );
  // An IPv6 pod CIDR over an IPv4-only shared underlay is never direct: IPv4 cannot route it.
  const v4direct: LocalView = { devices: { 4: 'weft.1' }, direct: { 4: { subnet: parseCidr('192.0.2.0/24')!, dev: 'eth0' } } };
  t.deepEqual(desiredState([peer46(2, [4, 6], [4])], v4direct).state.routes, [
    { dst: '10.244.2.0/24', via: '192.0.2.2', dev: 'eth0', metric: 62467 },
    { dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'weft.1', metric: 1024 },
  ]);
});

test('in a dual-stack cluster, a node becomes a peer with pod CIDRs of either family and a VTEP pair of a family this node has', (t) => {
  const { peers, skipped } = peersFromNodes(
    [
      node('dual', ['10.244.2.0/24', 'fd00:10:244:2::/64'], { ...ann('192.0.2.2', vtepMacFor('dual', 4)), ...ann6('2001:DB8:0::2', vtepMacFor('dual', 6)) }),
      node('six', ['fd00:10:244:3::/64'], ann6('2001:db8::3', vtepMacFor('six', 6).toUpperCase())),
      node('v6cidr-v4vtep', ['fd00:10:244:4::/64'], ann('192.0.2.4', vtepMacFor('v6cidr-v4vtep', 4))),
      node('none', ['fd00:99::/64'], ann6('2001:db8::5', vtepMacFor('none', 6))),
    ],
    self46,
  );
  t.deepEqual(peers, [
    {
      node: 'dual',
      created: T0,
      podCidrs: ['10.244.2.0/24', 'fd00:10:244:2::/64'],
      vteps: { 4: { ip: '192.0.2.2', mac: vtepMacFor('dual', 4) }, 6: { ip: '2001:db8::2', mac: vtepMacFor('dual', 6) } },
    },
    { node: 'six', created: T0, podCidrs: ['fd00:10:244:3::/64'], vteps: { 6: { ip: '2001:db8::3', mac: vtepMacFor('six', 6) } } },
    { node: 'v6cidr-v4vtep', created: T0, podCidrs: ['fd00:10:244:4::/64'], vteps: { 4: { ip: '192.0.2.4', mac: vtepMacFor('v6cidr-v4vtep', 4) } } },
  ]);
  t.deepEqual(skipped, [{ node: 'none', reason: 'malformed', problem: 'has pod CIDR fd00:99::/64 outside the cluster network' }]);

  // This node has an IPv4 underlay only: an IPv6-only peer is waited for.
  const v4self: SelfView = { ...self46, underlays: { 4: underlay4 } };
  const only = peersFromNodes([node('six', ['fd00:10:244:3::/64'], ann6('2001:db8::3', vtepMacFor('six', 6)))], v4self);
  t.deepEqual(only.skipped, [
    { node: 'six', reason: 'not-ready', problem: "has no VTEP of a family this node's underlay has (it has IPv6 only, this node IPv4)" },
  ]);
  // An IPv6 cluster ignores IPv4 pod CIDRs, as an IPv4 one ignores IPv6's.
  const v6cluster: SelfView = { node: 'node1', clusterCidrs: [cluster46[1]!], underlays: { 6: underlay6 } };
  t.deepEqual(
    peersFromNodes([node('dual', ['10.244.2.0/24', 'fd00:10:244:2::/64'], ann6('2001:db8::2', vtepMacFor('dual', 6)))], v6cluster).peers[0]?.podCidrs,
    ['fd00:10:244:2::/64'],
  );
  t.deepEqual(peersFromNodes([node('four', ['10.244.2.0/24'], ann6('2001:db8::2', vtepMacFor('four', 6)))], v6cluster).skipped, [
    { node: 'four', reason: 'not-ready', problem: 'has no IPv6 pod CIDR yet' },
  ]);
});

test('hostile IPv6 VTEPs and pod CIDRs are refused before the kernel sees them; the other peers stay', (t) => {
  const good = node('good', ['10.244.2.0/24', 'fd00:10:244:2::/64'], {
    ...ann('198.51.100.2', vtepMacFor('good', 4)),
    ...ann6('2001:db8:1::2', vtepMacFor('good', 6)),
  });
  const cases: [string[], Record<string, string>, string][] = [
    [['fd00:10:244:9::/64'], ann6('ff02::1', vtepMacFor('bad', 6)), 'has VTEP address ff02::1 (weft.dev/vtep-ip6), which is a multicast address (ff00::/8)'],
    [['fd00:10:244:9::/64'], ann6('fe80::9', vtepMacFor('bad', 6)), 'has VTEP address fe80::9 (weft.dev/vtep-ip6), which is a link-local address (fe80::/10)'],
    [['fd00:10:244:9::/64'], ann6('::1', vtepMacFor('bad', 6)), 'has VTEP address ::1 (weft.dev/vtep-ip6), which is the loopback address'],
    [['fd00:10:244:9::/64'], ann6('::', vtepMacFor('bad', 6)), 'has VTEP address :: (weft.dev/vtep-ip6), which is the unspecified address'],
    [
      ['fd00:10:244:9::/64'],
      ann6('::ffff:192.0.2.9', vtepMacFor('bad', 6)),
      'has VTEP address ::ffff:c000:209 (weft.dev/vtep-ip6), which is an IPv4-mapped address (::ffff:0:0/96)',
    ],
    [
      ['fd00:10:244:9::/64'],
      ann6('2001:db8::1', vtepMacFor('bad', 6)),
      "has VTEP address 2001:db8::1 (weft.dev/vtep-ip6), which is this node's own VTEP address",
    ],
    [['fd00:10:244:9::/64'], ann6('192.0.2.9', vtepMacFor('bad', 6)), 'has an invalid weft.dev/vtep-ip6 annotation "192.0.2.9": expected an IPv6 address'],
    [['fd00:10:244:9::/64'], ann('2001:db8::9', vtepMacFor('bad', 4)), 'has an invalid weft.dev/vtep-ip annotation "2001:db8::9": expected an IPv4 address'],
    [['fd00:10:244:9::/64'], { 'weft.dev/vtep-ip6': '2001:db8::9' }, 'has a weft.dev/vtep-ip6 annotation but no weft.dev/vtep-mac6: a VTEP needs both'],
    [
      ['fd00:10:244:9::/64'],
      ann6('2001:db8::9 dev lo', vtepMacFor('bad', 6)),
      'has an invalid weft.dev/vtep-ip6 annotation "2001:db8::9 dev lo": expected an IPv6 address',
    ],
    [
      ['fd00:10:244:9::/64'],
      ann6('2001:db8::9', vtepMacFor('good', 6)),
      `has VTEP MAC ${vtepMacFor('good', 6)} (weft.dev/vtep-mac6), which is not ${vtepMacFor('bad', 6)}, the MAC weftd derives from the node name bad`,
    ],
    [
      ['fd00:10:244:9::/64'],
      ann6('2001:db8::9', vtepMacFor('bad', 4)),
      `has VTEP MAC ${vtepMacFor('bad', 4)} (weft.dev/vtep-mac6), which is not ${vtepMacFor('bad', 6)}, the MAC weftd derives from the node name bad`,
    ],
    [['fd00:10:244:9::/64'], ann6('2001:db8::9', '33:33:00:00:00:01'), 'has VTEP MAC 33:33:00:00:00:01 (weft.dev/vtep-mac6), which is a multicast MAC'],
    [['fd00:10:244:9::/64 via ::1'], ann6('2001:db8::9', vtepMacFor('bad', 6)), 'has pod CIDR "fd00:10:244:9::/64 via ::1", which is not a CIDR'],
    [['fd00:10:245::/64'], ann6('2001:db8::9', vtepMacFor('bad', 6)), 'has pod CIDR fd00:10:245::/64 outside the cluster network'],
    [['fd00:10:244::/48'], ann6('2001:db8::9', vtepMacFor('bad', 6)), 'has pod CIDR fd00:10:244::/48 outside the cluster network'],
  ];
  for (const [cidrs, annotations, problem] of cases) {
    const { peers, skipped } = peersFromNodes([node('bad', cidrs, annotations), good], self46);
    t.deepEqual(
      peers.map((p) => p.node),
      ['good'],
      problem,
    );
    t.deepEqual(skipped, [{ node: 'bad', reason: 'malformed', problem }]);
  }
});

test('IPv6 pod CIDRs conflict when they overlap, never with IPv4 ones; every VTEP MAC of every family is a claim', (t) => {
  const own46 = { node: 'node1', podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], vtepMacs: [vtepMacFor('node1', 4), vtepMacFor('node1', 6)] };
  const holder = peer46(2, [4, 6], [4, 6]);
  const inside = { ...peer46(3, [6], [6]), podCidrs: ['fd00:10:244:2:8000::/65'] };
  const around = { ...peer46(4, [6], [6]), podCidrs: ['fd00:10:244:2::/63'] };
  const ownSlice = { ...peer46(5, [6], [6]), podCidrs: ['fd00:10:244:1::/80'] };
  // Numerically the same bits as 10.244.2.0/24's network, in the other family: no overlap.
  const sameBits = { ...peer46(6, [6], [6]), podCidrs: ['::a:f402:0/120'] };
  const macThief = { ...peer46(7, [6], [6]), vteps: { 6: { ip: '2001:db8::7', mac: vtepMacFor('node2', 4) } } };
  const ownMac6 = { ...peer46(8, [6], [6]), vteps: { 6: { ip: '2001:db8::8', mac: vtepMacFor('node1', 6) } } };
  const { accepted, conflicts } = resolveClaims([ownMac6, macThief, sameBits, ownSlice, around, inside, holder], own46);
  t.deepEqual(
    accepted.map((p) => p.node),
    ['node2', 'node6'],
  );
  t.deepEqual(Object.fromEntries(conflicts.map((c) => [c.node, c.problem])), {
    node3: 'claims pod CIDR fd00:10:244:2:8000::/65, which overlaps pod CIDR fd00:10:244:2::/64 that node node2 holds (it is the older Node)',
    node4: 'claims pod CIDR fd00:10:244:2::/63, which overlaps pod CIDR fd00:10:244:2::/64 that node node2 holds (it is the older Node)',
    node5: "claims pod CIDR fd00:10:244:1::/80, which overlaps this node's own pod CIDR fd00:10:244:1::/64",
    node7: `uses VTEP MAC ${vtepMacFor('node2', 4)}, which node node2 holds (it is the older Node)`,
    node8: `uses VTEP MAC ${vtepMacFor('node1', 6)}, which is this node's own`,
  });
});

test('property: accepted pod CIDRs never overlap within a family, and every refused peer overlaps an accepted or own one', (t) => {
  const cidr = fc.oneof(
    fc
      .tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 22, max: 26 }))
      .map(([third, prefix]) => formatCidr(parseCidr(`10.244.${third * 16}.0/${prefix}`)!)),
    fc
      .tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 60, max: 68 }))
      .map(([n, prefix]) => formatCidr(parseCidr(`fd00:10:244:${n * 16}::/${prefix}`)!)),
  );
  const own46 = { node: 'self', podCidrs: ['10.244.250.0/24', 'fd00:10:244:fa::/64'], vtepMacs: ['0e:ff:00:00:00:01'] };
  fc.assert(
    fc.property(fc.array(fc.array(cidr, { minLength: 1, maxLength: 2 }), { maxLength: 12 }), (lists) => {
      const peers = lists.map((podCidrs, i) => ({
        node: `p${i}`,
        created: i,
        podCidrs,
        vteps: { 6: { ip: '2001:db8::9', mac: `0e:00:00:00:00:${(16 + i).toString(16)}` } },
      }));
      const { accepted, conflicts } = resolveClaims(peers, own46);
      // A node's own CIDRs may overlap one another (they all lead to it); another node's may not.
      const held = [own46, ...accepted].flatMap((p) => p.podCidrs.map((c) => ({ node: p.node, cidr: parseCidr(c)! })));
      for (const a of held) for (const b of held) if (a.node !== b.node && cidrsOverlap(a.cidr, b.cidr)) return false;
      return conflicts.every((c) => peers.find((p) => p.node === c.node)!.podCidrs.some((text) => held.some((h) => cidrsOverlap(h.cidr, parseCidr(text)!))));
    }),
  );
  t.pass();
});

test('VTEP annotations of both families: each pair complete and of its family, a missing pair removed, at least one pair', (t) => {
  const v4 = { ip: '192.0.2.1', mac: '0e:01:02:03:04:05' };
  const v6 = { ip: '2001:db8::1', mac: '0e:01:02:03:04:06' };
  t.deepEqual(vtepAnnotations({ 6: v6 }), {
    'weft.dev/vtep-ip': null,
    'weft.dev/vtep-mac': null,
    'weft.dev/vtep-ip6': '2001:db8::1',
    'weft.dev/vtep-mac6': '0e:01:02:03:04:06',
    'weft.dev/backend': 'vxlan',
  });
  const dual = merged({}, vtepAnnotations({ 4: v4, 6: v6 }));
  t.deepEqual(parseVteps(dual), { vteps: { 4: v4, 6: v6 } });
  t.true(vtepsPublished(dual, { 4: v4, 6: v6 }));
  t.false(vtepsPublished(dual, { 6: v6 }), 'a pair the node no longer has is still there');
  const sixOnly = merged(dual, vtepAnnotations({ 6: v6 }));
  t.deepEqual(parseVteps(sixOnly), { vteps: { 6: v6 } });
  t.true(vtepsPublished(sixOnly, { 6: v6 }));
  t.deepEqual(parseVteps({ ...ann6('2001:DB8:0:0::1', '0E:01:02:03:04:06') }), { vteps: { 6: v6 } }, 'canonical');
  t.deepEqual(parseVteps({ 'weft.dev/backend': 'vxlan' }), {
    problem: 'has no weft.dev/vtep-ip and weft.dev/vtep-mac (or weft.dev/vtep-ip6 and weft.dev/vtep-mac6) annotations yet',
  });
  t.deepEqual(parseVteps({ ...ann('192.0.2.1', v4.mac), 'weft.dev/vtep-mac6': v6.mac }), {
    problem: 'has a weft.dev/vtep-mac6 annotation but no weft.dev/vtep-ip6: a VTEP needs both',
  });
});

test('an IPv6 VXLAN device is recreated only when its local address really differs; `ip -d` names it local6', (t) => {
  const spec: VxlanSpec = { name: 'weft6.1', family: 6, vni: 1, port: 4789, localIp: '2001:db8::1', underlay: 'eth0', mtu: 1430, mac: vtepMacFor('n', 6) };
  const link = {
    ifindex: 6,
    ifname: 'weft6.1',
    mtu: 1430,
    address: spec.mac,
    flags: ['UP'],
    linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local6: '2001:0db8:0:0::1', link: 'eth0', port: 4789, learning: false } },
  };
  t.deepEqual(recreateReasons(link, spec), []);
  t.deepEqual(recreateReasons({ ...link, linkinfo: { ...link.linkinfo, info_data: { ...link.linkinfo.info_data, local6: '2001:db8::2' } } }, spec), [
    'local address 2001:db8::2 is not 2001:db8::1',
  ]);
  const v4 = { ...link, linkinfo: { ...link.linkinfo, info_data: { id: 1, local: '192.0.2.1', link: 'eth0', port: 4789, learning: false } } };
  t.deepEqual(recreateReasons(v4, spec), ['local address 192.0.2.1 is not 2001:db8::1'], 'an IPv4 device by the name is recreated');
});

test('status shows each device and the IPv6 rows, on the device the route uses', (t) => {
  const rows = peerRows({
    routes: [
      { dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'weft6.1', metric: 1024 },
      { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', metric: 62467 },
    ],
    neighbors: [
      { ip: 'fd00:10:244:2::', mac: '0e:00:00:00:00:02', dev: 'weft.1' },
      { ip: 'fd00:10:244:2::', mac: '0e:00:00:00:06:02', dev: 'weft6.1' },
      { ip: '10.244.2.0', mac: '0e:00:00:00:00:02', dev: 'weft.1' },
    ],
    fdb: [
      { mac: '0e:00:00:00:00:02', dst: '192.0.2.2', dev: 'weft.1' },
      { mac: '0e:00:00:00:06:02', dst: '2001:db8::2', dev: 'weft6.1' },
    ],
  });
  t.deepEqual(rows[1], { podCidr: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'weft6.1', vtepMac: '0e:00:00:00:06:02', vtepIp: '2001:db8::2' });
  const text = renderStatus({
    devices: [
      { name: 'weft.1', exists: true, mtu: 1450, mac: '0e:00:00:00:00:01', local: '192.0.2.1', port: 4789 },
      { name: 'weft6.1', exists: true, mtu: 1430, mac: '0e:00:00:00:06:01', local: '2001:db8::1', port: 4789 },
    ],
    subnetFile: { path: '/run/weft/subnet.json', problem: 'missing' },
    readiness: 'ready',
    peers: rows,
  });
  t.regex(
    text,
    /^device: {6}weft\.1 mac 0e:00:00:00:00:01 mtu 1450 local 192\.0\.2\.1 port 4789\ndevice: {6}weft6\.1 mac .* mtu 1430 local 2001:db8::1 port 4789$/m,
  );
  t.regex(text, /^ {2}fd00:10:244:2::\/64 +fd00:10:244:2:: +weft6\.1 +0e:00:00:00:06:02 +2001:db8::2$/m);
});
