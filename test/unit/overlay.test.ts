import test from 'ava';
import { peerRows, renderStatus } from '../../cmd/weftd/status.ts';
import { parseVtep, vtepAnnotations } from '../../src/k8s/annotations.ts';
import { type IpCommand, IpCommandError, parseBatchErrors } from '../../src/linux/ip.ts';
import { parseAddress, parseCidr } from '../../src/net/address.ts';
import { macForName } from '../../src/net/mac.ts';
import { runForced } from '../../src/overlay/batch.ts';
import { resolveClaims } from '../../src/overlay/claims.ts';
import { desiredState, type LocalView } from '../../src/overlay/desired.ts';
import { inPlaceFixes, recreateReasons, type VxlanSpec } from '../../src/overlay/device.ts';
import { changeCommands, diffOverlay, isEmpty, type PlannedCommand, removalCommands } from '../../src/overlay/diff.ts';
import { parseOverlayState } from '../../src/overlay/kernel-state.ts';
import { type NodeView, peersFromNodes, type SelfView } from '../../src/overlay/peers.ts';
import { chargeFailures } from '../../src/overlay/reconcile.ts';
import { holdRefused, nextRefusals } from '../../src/overlay/refusals.ts';
import type { Peer } from '../../src/overlay/types.ts';
import { unicastProblem, vtepIpProblem, vtepMacOwnerProblem, vtepMacProblem } from '../../src/overlay/vtep-checks.ts';

const words = (cmds: readonly PlannedCommand[]) => cmds.map((c) => c.words.join(' '));
const lines = (c: ReturnType<typeof changeCommands>) => ({ ip: words(c.ip), bridge: words(c.bridge), ipAfterFdb: words(c.ipAfterFdb) });

const cluster = [parseCidr('10.244.0.0/16')!];
const local = (direct?: LocalView['direct']): LocalView => ({ device: 'weft.1', direct });
const T0 = Date.parse('2025-01-01T00:00:00Z');
const peer = (n: number, mac = `0e:00:00:00:00:0${n}`): Peer => ({
  node: `node${n}`,
  created: T0 + n * 1000,
  podCidrs: [`10.244.${n}.0/24`],
  vtepIp: `192.0.2.${n}`,
  vtepMac: mac,
});
const own = { node: 'node1', podCidrs: ['10.244.1.0/24'], vtepMac: '0e:00:00:00:00:01' };
const self: SelfView = { node: 'node1', clusterCidrs: cluster, ownIp: parseAddress('192.0.2.1')!, underlay: parseCidr('192.0.2.0/24')! };

test("desired state is flannel's L3 scheme: route via the network address, neighbour to the VTEP MAC, FDB to the VTEP IP", (t) => {
  const { state, owners } = desiredState([peer(2), peer(3)], local());
  t.deepEqual(state.routes, [
    { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1' },
    { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1' },
  ]);
  t.deepEqual(state.neighbors, [
    { ip: '10.244.2.0', mac: '0e:00:00:00:00:02' },
    { ip: '10.244.3.0', mac: '0e:00:00:00:00:03' },
  ]);
  t.deepEqual(state.fdb, [
    { mac: '0e:00:00:00:00:02', dst: '192.0.2.2' },
    { mac: '0e:00:00:00:00:03', dst: '192.0.2.3' },
  ]);
  t.deepEqual(
    [...owners],
    [
      ['neigh 10.244.2.0', 'node2'],
      ['fdb 0e:00:00:00:00:02', 'node2'],
      ['route 10.244.2.0/24', 'node2'],
      ['neigh 10.244.3.0', 'node3'],
      ['fdb 0e:00:00:00:00:03', 'node3'],
      ['route 10.244.3.0/24', 'node3'],
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
  const sameMac = { ...peer(5), created: 0, vtepMac: own.vtepMac };
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
  const hijackCidr = { ...victim, node: 'aaa-hijack', created: victim.created + 60_000, vtepMac: '0e:aa:00:00:00:01', vtepIp: '192.0.2.66' };
  const hijackMac = { ...hijackCidr, node: 'aaa-mac', podCidrs: ['10.244.66.0/24'], vtepMac: victim.vtepMac };
  const { accepted, conflicts } = resolveClaims([hijackCidr, hijackMac, victim], own);
  t.deepEqual(accepted, [victim]);
  t.deepEqual(
    conflicts.map((c) => c.node),
    ['aaa-hijack', 'aaa-mac'],
  );
  t.is(conflicts[1]!.problem, 'uses VTEP MAC 0e:00:00:00:00:02, which node node2 holds (it is the older Node)');
  // Created in the same second: the name decides, the same way on every node.
  const twin = { ...victim, node: 'node0', vtepMac: '0e:00:00:00:00:f0' };
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
    vtepMac: `0e:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  }));
  const started = performance.now();
  const { accepted } = resolveClaims(peers, { ...own, podCidrs: ['10.99.0.0/24'], vtepMac: '0e:ff:ff:ff:ff:ff' });
  const ms = performance.now() - started;
  t.is(accepted.length, 5000);
  t.true(ms < 1000, `${ms} ms`);
});

test('direct routing sends peers on the same underlay subnet straight over it, the rest through VXLAN', (t) => {
  const direct = { subnet: parseCidr('192.0.2.0/24')!, dev: 'eth0' };
  const far = { ...peer(3), vtepIp: '198.51.100.3' };
  const { state } = desiredState([peer(2), far], local(direct));
  t.deepEqual(state.routes, [
    { dst: '10.244.2.0/24', via: '192.0.2.2', dev: 'eth0' },
    { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1' },
  ]);
  t.deepEqual(state.fdb, [{ mac: '0e:00:00:00:00:03', dst: '198.51.100.3' }], 'no FDB or neighbour entry for a directly routed peer');
  t.deepEqual(
    state.neighbors.map((n) => n.ip),
    ['10.244.3.0'],
  );
  const cmds = lines(changeCommands(diffOverlay(state, { neighbors: [], fdb: [], routes: [] }), 'weft.1', 119));
  t.true(cmds.ipAfterFdb.includes('route replace 10.244.2.0/24 via 192.0.2.2 dev eth0 proto 119'));
  t.true(cmds.ipAfterFdb.includes('route replace 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink proto 119'));
});

test('the diff adds what is missing or changed, removes what no peer wants, and is empty when converged', (t) => {
  const desired = desiredState([peer(2), peer(3)], local()).state;
  t.true(isEmpty(diffOverlay(desired, desired)));
  const actual = desiredState([{ ...peer(2), vtepIp: '192.0.2.200' }, peer(9)], local()).state;
  const changes = diffOverlay(desired, actual);
  t.deepEqual(changes.add.fdb, [
    { mac: '0e:00:00:00:00:02', dst: '192.0.2.2' },
    { mac: '0e:00:00:00:00:03', dst: '192.0.2.3' },
  ]);
  t.deepEqual(changes.remove.routes, [{ dst: '10.244.9.0/24', via: '10.244.9.0', dev: 'weft.1' }]);
  t.deepEqual(changes.add.routes, [{ dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1' }]);
  const plan = changeCommands(changes, 'weft.1', 119);
  const cmds = lines(plan);
  t.deepEqual(cmds.ip, ['route del 10.244.9.0/24 via 10.244.9.0 dev weft.1 proto 119', 'neigh del 10.244.9.0 dev weft.1']);
  t.is(cmds.bridge[0], 'fdb del 0e:00:00:00:00:09 dev weft.1 dst 192.0.2.9 self');
  t.true(cmds.bridge.includes('fdb replace 0e:00:00:00:00:02 dev weft.1 dst 192.0.2.2 self permanent'));
  t.deepEqual(cmds.ipAfterFdb, [
    'neigh replace 10.244.3.0 lladdr 0e:00:00:00:00:03 dev weft.1 nud permanent',
    'route replace 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink proto 119',
  ]);
  t.deepEqual(
    plan.ipAfterFdb.map((c) => [c.key, c.op]),
    [
      ['neigh 10.244.3.0', 'add'],
      ['route 10.244.3.0/24', 'add'],
    ],
  );
  const undo = removalCommands(desiredState([peer(3)], local()).state, 'weft.1', 119);
  t.deepEqual(words(undo.ip), ['route del 10.244.3.0/24 proto 119', 'neigh del 10.244.3.0 dev weft.1']);
  t.deepEqual(words(undo.bridge), ['fdb del 0e:00:00:00:00:03 dev weft.1 self'], 'a refused peer comes out whatever its entries hold');
});

test("only permanent entries with a destination are weft's when reading the kernel", (t) => {
  const state = parseOverlayState(
    [
      { dst: '10.244.2.0', lladdr: '0E:00:00:00:00:02', state: ['PERMANENT'] },
      { dst: '10.244.5.9', lladdr: '0e:00:00:00:00:05', state: ['REACHABLE'] },
      { dst: '10.244.6.0', state: ['FAILED'] },
    ],
    [
      { mac: '0e:00:00:00:00:02', dst: '192.0.2.2', state: 'permanent' },
      { mac: '00:00:00:00:00:00', dst: '192.0.2.9', state: 'permanent' },
      { mac: '0e:11:11:11:11:11' },
    ],
    [
      { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'weft.1' },
      { dst: '10.244.3.7', gateway: '10.244.3.0', dev: 'weft.1' },
      { dst: '10.244.4.0/24', dev: 'weft.1' },
    ],
  );
  t.deepEqual(state.neighbors, [{ ip: '10.244.2.0', mac: '0e:00:00:00:00:02' }]);
  t.deepEqual(state.fdb, [{ mac: '0e:00:00:00:00:02', dst: '192.0.2.2' }]);
  t.deepEqual(state.routes, [
    { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1' },
    { dst: '10.244.3.7/32', via: '10.244.3.0', dev: 'weft.1' },
  ]);
});

const ann = (ip: string, mac: string) => ({ 'weft.dev/vtep-ip': ip, 'weft.dev/vtep-mac': mac });
const node = (name: string, podCidrs: string[], annotations: Record<string, string>): NodeView => ({ name, podCidrs, annotations, created: T0 });

test('nodes become peers only with an IPv4 pod CIDR inside the cluster network and valid VTEP annotations, in canonical form', (t) => {
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
      { node: 'ok', created: T0, podCidrs: ['10.244.2.0/24'], vtepIp: '192.0.2.2', vtepMac: macForName('ok') },
      { node: 'ageless', created: Number.MAX_SAFE_INTEGER, podCidrs: ['10.244.8.0/24'], vtepIp: '192.0.2.8', vtepMac: macForName('ageless') },
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
  t.is(vtepIpProblem(parseAddress('198.51.100.255')!, self), undefined, 'a broadcast address of another subnet is just an address');
  t.is(vtepIpProblem(parseAddress('192.0.2.0')!, { ...self, underlay: parseCidr('192.0.2.0/31')! }), undefined, 'a /31 has no network or broadcast address');
  for (const [v6, what] of [
    ['ff02::1', /multicast/],
    ['fe80::1', /link-local/],
    ['::1', /loopback/],
    ['::', /unspecified/],
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
    peers.map((p) => [p.node, p.vtepMac]),
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
  t.is(vtepMacOwnerProblem(macForName('node3'), 'node3'), undefined);
});

test('VTEP annotations round-trip, and come back canonical', (t) => {
  const vtep = { ip: '192.0.2.1', mac: '0e:01:02:03:04:05' };
  t.deepEqual(parseVtep(vtepAnnotations(vtep)), { vtep });
  t.deepEqual(parseVtep({ 'weft.dev/vtep-ip': '192.0.2.1', 'weft.dev/vtep-mac': '0E:01:02:03:04:05' }), { vtep });
  t.regex(
    (parseVtep({ 'weft.dev/vtep-ip': `1${'0'.repeat(5000)}`, 'weft.dev/vtep-mac': vtep.mac }) as { problem: string }).problem,
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
  const run = async (cmds: IpCommand[]): Promise<void> => {
    const done: string[] = [];
    ran.push(done);
    let stderr = '';
    for (const [i, w] of cmds.entries()) {
      done.push(w.join(' '));
      const reason = refuse(w) ?? (w[0] === 'neigh' && w[1] === 'del' && !neighbors.has(w[2]!) ? 'RTNETLINK answers: No such file or directory' : undefined);
      if (reason) {
        stderr += `${reason}\n`;
        if (w[0] === 'neigh') throw new IpCommandError('ip -batch', stderr, parseBatchErrors(stderr));
        stderr += `Command failed -:${i + 1}\n`;
      } else if (w[0] === 'neigh') {
        if (w[1] === 'replace') neighbors.set(w[2]!, w[4]!);
        else neighbors.delete(w[2]!);
      }
    }
    if (stderr) throw new IpCommandError('ip -batch', stderr, parseBatchErrors(stderr));
  };
  return { run, ran };
}

const addPlan = (...peers: Peer[]) =>
  changeCommands(diffOverlay(desiredState(peers, local()).state, { neighbors: [], fdb: [], routes: [] }), 'weft.1', 119).ipAfterFdb;

test('a refused route line costs only that line; every other line runs in the same batch', async (t) => {
  const kernel = new Map<string, string>();
  const ip = fakeIp(kernel, (w) => (w[2] === '10.244.3.0/24' ? 'Error: Nexthop has invalid gateway.' : undefined));
  const failures = await runForced(ip.run, addPlan(peer(2), peer(3), peer(4)), () => kernel);
  t.deepEqual(
    failures.map((f) => [f.command.key, f.reason]),
    [['route 10.244.3.0/24', 'Error: Nexthop has invalid gateway.']],
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
    [['neigh 10.244.3.0', 'RTNETLINK answers: Invalid argument']],
  );
  t.deepEqual([...kernel.keys()].sort(), ['10.244.2.0', '10.244.4.0']);
  t.deepEqual(
    ip.ran.flat().filter((l) => l.startsWith('route')),
    plan.filter((c) => c.words[0] === 'route').map((c) => c.words.join(' ')),
    'every route line ran once',
  );
});

test('a removal of a neighbour already gone does not stop the removals after it', async (t) => {
  const kernel = new Map([
    ['10.244.3.0', '0e:00:00:00:00:03'],
    ['10.244.4.0', '0e:00:00:00:00:04'],
  ]);
  const ip = fakeIp(kernel, () => undefined);
  const undo = removalCommands(desiredState([peer(2), peer(3), peer(4)], local()).state, 'weft.1', 119).ip.filter((c) => c.neighbor);
  const failures = await runForced(ip.run, undo, () => kernel);
  t.deepEqual(failures, [], 'an entry that is already gone is what a removal wants');
  t.is(kernel.size, 0);
  // A neighbour that cannot be removed is reported after one more try.
  const stuck = new Map([
    ['10.244.2.0', 'x'],
    ['10.244.3.0', 'y'],
  ]);
  const refusing = fakeIp(stuck, (w) => (w[2] === '10.244.2.0' ? 'RTNETLINK answers: Operation not permitted' : undefined));
  const second = await runForced(refusing.run, undo, () => stuck);
  t.deepEqual(
    second.map((f) => f.command.key),
    ['neigh 10.244.2.0'],
  );
  t.deepEqual([...stuck.keys()], ['10.244.2.0']);
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
  const plan = changeCommands(diffOverlay(desiredState([peer(2), peer(3)], local()).state, desiredState([peer(9)], local()).state), 'weft.1', 119);
  const route3 = plan.ipAfterFdb.find((c) => c.key === 'route 10.244.3.0/24')!;
  const fdb2 = plan.bridge.find((c) => c.key === 'fdb 0e:00:00:00:00:02')!;
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
      ['node3', 'route replace 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink proto 119: Error: Nexthop has invalid gateway.'],
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
  t.deepEqual(holdRefused([peer(2), { ...peer(3), vtepIp: '192.0.2.33' }], refusals, false).held, [], 'a changed Node is tried again');
  t.deepEqual(holdRefused([peer(2), peer(3)], refusals, true).held, [], 'the periodic pass tries every peer');
  t.deepEqual([...nextRefusals(refusals, event.held, [], event.attempt).keys()], ['node3'], 'a held peer stays refused');
  t.deepEqual([...nextRefusals(refusals, [], [], [peer(2), peer(3)]).keys()], [], 'accepted on a retry, it is forgotten');
});

test('a VXLAN device with other settings is recreated; MTU, MAC and state are fixed in place', (t) => {
  const spec: VxlanSpec = { name: 'weft.1', vni: 1, port: 4789, localIp: '192.0.2.1', underlay: 'eth0', mtu: 1450, mac: '0e:00:00:00:00:01' };
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
      { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1' },
      { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1' },
    ],
    neighbors: [{ ip: '10.244.2.0', mac: '0e:00:00:00:00:02' }],
    fdb: [{ mac: '0e:00:00:00:00:02', dst: '192.0.2.2' }],
  });
  t.deepEqual(rows, [
    { podCidr: '10.244.2.0/24', via: '10.244.2.0', vtepMac: '0e:00:00:00:00:02', vtepIp: '192.0.2.2' },
    { podCidr: '10.244.3.0/24', via: '10.244.3.0', vtepMac: undefined, vtepIp: undefined },
  ]);
});

test('status lists the skipped nodes with their reason, or says the daemon could not be asked', (t) => {
  const base = { device: { name: 'weft.1', exists: false }, subnetFile: { path: '/run/weft/subnet.json', problem: 'missing' }, readiness: 'ready', peers: [] };
  const text = renderStatus({ ...base, skipped: [{ node: 'aaa-hijack', reason: 'conflict', problem: 'claims pod CIDR 10.244.2.0/24, which overlaps …' }] });
  t.regex(text, /^skipped: {5}1\n {2}NODE {7}REASON {9}PROBLEM\n {2}aaa-hijack conflict {7}it claims pod CIDR 10\.244\.2\.0\/24/m);
  t.regex(renderStatus(base), /^skipped: {5}unknown \(weftd not reachable\)$/m);
});
