import test from 'ava';
import { parseCidr } from '../../src/ipam/address.ts';
import { parseVtep, vtepAnnotations } from '../../src/k8s/annotations.ts';
import { type LocalView, desiredState } from '../../src/overlay/desired.ts';
import { recreateReasons, inPlaceFixes, type VxlanSpec } from '../../src/overlay/device.ts';
import { changeCommands, diffOverlay, isEmpty } from '../../src/overlay/diff.ts';
import { parseOverlayState } from '../../src/overlay/kernel-state.ts';
import { peersFromNodes } from '../../src/overlay/peers.ts';
import type { Peer } from '../../src/overlay/types.ts';
import { peerRows } from '../../src/daemon/status.ts';

const join = (cmds: readonly (readonly string[])[]) => cmds.map((c) => c.join(' '));
const lines = (c: ReturnType<typeof changeCommands>) => ({ ip: join(c.ip), bridge: join(c.bridge), ipAfterFdb: join(c.ipAfterFdb) });

const cluster = [parseCidr('10.244.0.0/16')!];
const local = (podCidrs: string[] = [], direct?: LocalView['direct']): LocalView => ({ node: 'node1', podCidrs, device: 'weft.1', direct });
const peer = (n: number, mac = `0e:00:00:00:00:0${n}`): Peer => ({ node: `node${n}`, podCidrs: [`10.244.${n}.0/24`], vtepIp: `192.0.2.${n}`, vtepMac: mac });

test('desired state is flannel\'s L3 scheme: route via the network address, neighbour to the VTEP MAC, FDB to the VTEP IP', (t) => {
  const { state, conflicts } = desiredState([peer(1), peer(2), peer(3)], local(['10.244.1.0/24']));
  t.deepEqual(conflicts, []);
  t.deepEqual(state.routes, [{ dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1' }, { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1' }]);
  t.deepEqual(state.neighbors, [{ ip: '10.244.2.0', mac: '0e:00:00:00:00:02' }, { ip: '10.244.3.0', mac: '0e:00:00:00:00:03' }]);
  t.deepEqual(state.fdb, [{ mac: '0e:00:00:00:00:02', dst: '192.0.2.2' }, { mac: '0e:00:00:00:00:03', dst: '192.0.2.3' }]);
});

test('conflicting pod CIDRs and VTEP MACs: the first node by name wins everywhere, the other is reported', (t) => {
  const dupCidr = { ...peer(4), podCidrs: ['10.244.2.0/24'] };
  const dupMac = peer(5, '0e:00:00:00:00:02');
  const a = desiredState([dupMac, dupCidr, peer(2)], local(['10.244.1.0/24']));
  const b = desiredState([peer(2), dupCidr, dupMac], local(['10.244.1.0/24']));
  t.deepEqual(a, b, 'input order does not matter');
  t.deepEqual(a.conflicts.map((c) => c.node), ['node4', 'node5']);
  t.regex(a.conflicts[0]!.problem, /claims pod CIDR 10\.244\.2\.0\/24 that node node2 already has/);
  const own = desiredState([{ ...peer(6), podCidrs: ['10.244.1.0/24'] }], local(['10.244.1.0/24']));
  t.regex(own.conflicts[0]!.problem, /that node node1 already has/);
});

test('direct routing sends peers on the same underlay subnet straight over it, the rest through VXLAN', (t) => {
  const direct = { subnet: parseCidr('192.0.2.0/24')!, dev: 'eth0' };
  const far = { ...peer(3), vtepIp: '198.51.100.3' };
  const { state } = desiredState([peer(2), far], local(['10.244.1.0/24'], direct));
  t.deepEqual(state.routes, [{ dst: '10.244.2.0/24', via: '192.0.2.2', dev: 'eth0' }, { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1' }]);
  t.deepEqual(state.fdb, [{ mac: '0e:00:00:00:00:03', dst: '198.51.100.3' }], 'no FDB or neighbour entry for a directly routed peer');
  t.deepEqual(state.neighbors.map((n) => n.ip), ['10.244.3.0']);
  const cmds = lines(changeCommands(diffOverlay(state, { neighbors: [], fdb: [], routes: [] }), 'weft.1', 119));
  t.true(cmds.ipAfterFdb.includes('route replace 10.244.2.0/24 via 192.0.2.2 dev eth0 proto 119'));
  t.true(cmds.ipAfterFdb.includes('route replace 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink proto 119'));
});

test('the diff adds what is missing or changed, removes what no peer wants, and is empty when converged', (t) => {
  const desired = desiredState([peer(2), peer(3)], local()).state;
  t.true(isEmpty(diffOverlay(desired, desired)));
  const actual = desiredState([{ ...peer(2), vtepIp: '192.0.2.200' }, peer(9)], local()).state;
  const changes = diffOverlay(desired, actual);
  t.deepEqual(changes.add.fdb, [{ mac: '0e:00:00:00:00:02', dst: '192.0.2.2' }, { mac: '0e:00:00:00:00:03', dst: '192.0.2.3' }]);
  t.deepEqual(changes.remove.routes, [{ dst: '10.244.9.0/24', via: '10.244.9.0', dev: 'weft.1' }]);
  t.deepEqual(changes.add.routes, [{ dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1' }]);
  const cmds = lines(changeCommands(changes, 'weft.1', 119));
  t.deepEqual(cmds.ip, ['route del 10.244.9.0/24 via 10.244.9.0 dev weft.1 proto 119', 'neigh del 10.244.9.0 dev weft.1']);
  t.is(cmds.bridge[0], 'fdb del 0e:00:00:00:00:09 dev weft.1 dst 192.0.2.9 self');
  t.true(cmds.bridge.includes('fdb replace 0e:00:00:00:00:02 dev weft.1 dst 192.0.2.2 self permanent'));
  t.deepEqual(cmds.ipAfterFdb, [
    'neigh replace 10.244.3.0 lladdr 0e:00:00:00:00:03 dev weft.1 nud permanent',
    'route replace 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink proto 119',
  ]);
});

test('only permanent entries with a destination are weft\'s when reading the kernel', (t) => {
  const state = parseOverlayState(
    [{ dst: '10.244.2.0', lladdr: '0E:00:00:00:00:02', state: ['PERMANENT'] }, { dst: '10.244.5.9', lladdr: '0e:00:00:00:00:05', state: ['REACHABLE'] }, { dst: '10.244.6.0', state: ['FAILED'] }],
    [{ mac: '0e:00:00:00:00:02', dst: '192.0.2.2', state: 'permanent' }, { mac: '00:00:00:00:00:00', dst: '192.0.2.9', state: 'permanent' }, { mac: '0e:11:11:11:11:11' }],
    [{ dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'weft.1' }, { dst: '10.244.3.7', gateway: '10.244.3.0', dev: 'weft.1' }, { dst: '10.244.4.0/24', dev: 'weft.1' }],
  );
  t.deepEqual(state.neighbors, [{ ip: '10.244.2.0', mac: '0e:00:00:00:00:02' }]);
  t.deepEqual(state.fdb, [{ mac: '0e:00:00:00:00:02', dst: '192.0.2.2' }]);
  t.deepEqual(state.routes, [{ dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1' }, { dst: '10.244.3.7/32', via: '10.244.3.0', dev: 'weft.1' }]);
});

test('nodes become peers only with an IPv4 pod CIDR inside the cluster network and valid VTEP annotations', (t) => {
  const ann = (ip: string, mac: string) => ({ 'weft.dev/vtep-ip': ip, 'weft.dev/vtep-mac': mac });
  const { peers, skipped } = peersFromNodes([
    { name: 'ok', podCidrs: ['10.244.1.0/24', 'fd00::/64'], annotations: ann('192.0.2.1', '0E:00:00:00:00:01') },
    { name: 'fresh', podCidrs: [], annotations: {} },
    { name: 'unannotated', podCidrs: ['10.244.2.0/24'], annotations: {} },
    { name: 'outside', podCidrs: ['10.99.0.0/24'], annotations: ann('192.0.2.3', '0e:00:00:00:00:03') },
    { name: 'badip', podCidrs: ['10.244.4.0/24'], annotations: ann('999.1.1.1', '0e:00:00:00:00:04') },
    { name: 'multicast', podCidrs: ['10.244.5.0/24'], annotations: ann('192.0.2.5', '01:00:5e:00:00:05') },
  ], cluster);
  t.deepEqual(peers, [{ node: 'ok', podCidrs: ['10.244.1.0/24'], vtepIp: '192.0.2.1', vtepMac: '0e:00:00:00:00:01' }]);
  t.deepEqual(skipped.map((s) => [s.node, s.malformed]), [['fresh', false], ['unannotated', false], ['outside', true], ['badip', true], ['multicast', true]]);
  t.regex(skipped[3]!.problem, /invalid weft\.dev\/vtep-ip annotation "999\.1\.1\.1"/);
});

test('VTEP annotations round-trip', (t) => {
  const vtep = { ip: '192.0.2.1', mac: '0e:01:02:03:04:05' };
  t.deepEqual(parseVtep(vtepAnnotations(vtep)), { vtep });
});

test('a VXLAN device with other settings is recreated; MTU, MAC and state are fixed in place', (t) => {
  const spec: VxlanSpec = { name: 'weft.1', vni: 1, port: 4789, localIp: '192.0.2.1', underlay: 'eth0', mtu: 1450, mac: '0e:00:00:00:00:01' };
  const link = {
    ifindex: 5, ifname: 'weft.1', mtu: 1450, address: '0e:00:00:00:00:01', flags: ['UP'],
    linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '192.0.2.1', link: 'eth0', port: 4789, learning: false } },
  };
  t.deepEqual(recreateReasons(link, spec), []);
  t.deepEqual(inPlaceFixes(link, spec), []);
  t.deepEqual(recreateReasons({ ...link, linkinfo: { info_kind: 'vxlan', info_data: { ...link.linkinfo.info_data, id: 2, port: 8472 } } }, spec), ['VNI 2 is not 1', 'UDP port 8472 is not 4789']);
  t.deepEqual(recreateReasons({ ...link, linkinfo: { info_kind: 'bridge' } }, spec), ['it is a bridge link']);
  t.deepEqual(inPlaceFixes({ ...link, mtu: 1500, flags: [] }, spec), [['link', 'set', 'weft.1', 'mtu', '1450'], ['link', 'set', 'weft.1', 'up']]);
});

test('status joins route, neighbour and FDB per remote pod CIDR and shows what is missing', (t) => {
  const rows = peerRows({
    routes: [{ dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1' }, { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1' }],
    neighbors: [{ ip: '10.244.2.0', mac: '0e:00:00:00:00:02' }],
    fdb: [{ mac: '0e:00:00:00:00:02', dst: '192.0.2.2' }],
  });
  t.deepEqual(rows, [
    { podCidr: '10.244.2.0/24', via: '10.244.2.0', vtepMac: '0e:00:00:00:00:02', vtepIp: '192.0.2.2' },
    { podCidr: '10.244.3.0/24', via: '10.244.3.0', vtepMac: undefined, vtepIp: undefined },
  ]);
});
