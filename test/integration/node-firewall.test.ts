// weftd's node firewall in node namespaces against a real API server: the
// VXLAN ingress filter (only peers' VTEPs may send VXLAN, never a pod) and
// the FORWARD chain's order (the operator's rules come first). Frames are
// crafted here and sent with socat, so what is proved is what a forged frame
// on the wire does: reach a pod's listener, or not.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { COUNTERS, PEER_SET, VXLAN_INGRESS_TABLE } from '../../src/daemon/vxlan-ingress.ts';
import { macForName } from '../../src/net/mac.ts';
import { Cluster, type ClusterNode, type Pod, UNDERLAY_PREFIX } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';
import { addNetns, removeNetns } from '../../testbed/netns.ts';
import { launch } from '../../testbed/process.ts';
import { must, SYSTEM_PATH, sh } from '../../testbed/shell.ts';

const LISTEN_PORT = 7777;
const VXLAN_PORT = 4789;

async function readyCluster(t: ExecutionContext, nodes: number, extra: string[] = [], beforeWeftd?: (c: Cluster) => Promise<void>) {
  const c = await Cluster.start(nodes);
  t.teardown(() => c.destroy());
  await beforeWeftd?.(c);
  for (const node of c.nodes) await c.startWeftd(node, extra);
  for (const node of c.nodes) {
    await eventually(`${node.name} ready with ${nodes - 1} peers`, async () => {
      const s = await c.weftdStatus(node);
      return s.readiness === 'ready' && s.peers.length === nodes - 1 ? true : undefined;
    });
  }
  return c;
}

const bytes = (text: string): number[] => text.split(/[:.]/).map((x) => Number.parseInt(x, text.includes(':') ? 16 : 10));

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * A VXLAN packet's payload (VNI 1): an Ethernet frame to `node`'s VTEP MAC
 * carrying a UDP datagram from the forged pod address `from` to `to`:7777.
 */
function vxlanFrame(node: ClusterNode, from: string, to: string, text: string): Buffer {
  const payload = Buffer.from(text);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(LISTEN_PORT, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  // Checksum 0: none, which IPv4 allows.
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + udp.length + payload.length, 2);
  ip.writeUInt16BE(0x4000, 6);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from(bytes(from)).copy(ip, 12);
  Buffer.from(bytes(to)).copy(ip, 16);
  ip.writeUInt16BE(ipv4Checksum(ip), 10);
  const ethernet = Buffer.from([...bytes(macForName(node.name)), ...bytes('02:00:00:00:00:01'), 0x08, 0x00]);
  const vxlan = Buffer.from([0x08, 0, 0, 0, 0, 0, 1, 0]);
  return Buffer.concat([vxlan, ethernet, ip, udp, payload]);
}

/** Sends one UDP datagram from inside `netns` to the VXLAN port of `node`. */
async function sendVxlan(netns: string, node: ClusterNode, frame: Buffer): Promise<void> {
  const r = await execa('ip', ['netns', 'exec', netns, 'socat', '-u', 'STDIN', `UDP-SENDTO:${node.underlayIp}:${VXLAN_PORT}`], {
    input: frame,
    reject: false,
    env: { PATH: SYSTEM_PATH },
  });
  if (r.exitCode !== 0) throw new Error(`socat in ${netns}: ${r.stderr}`);
}

/** A UDP listener in the pod; returns what it has received so far. */
async function listenIn(t: ExecutionContext, c: Cluster, pod: Pod): Promise<() => string> {
  const log = join(c.dir, `${pod.name}-udp.log`);
  const listener = launch(['ip', 'netns', 'exec', pod.name, 'socat', '-u', `UDP-RECV:${LISTEN_PORT}`, 'STDOUT'], { log, name: `listener in ${pod.name}` });
  t.teardown(() => listener.stop('SIGKILL'));
  await eventually(`the listener in ${pod.name}`, async () =>
    (await sh('ip', ['netns', 'exec', pod.name, 'ss', '-uln'])).stdout.includes(`:${LISTEN_PORT}`) ? true : undefined,
  );
  return () => {
    try {
      return readFileSync(log, 'utf8');
    } catch {
      return '';
    }
  };
}

/** A host on the underlay that is no node: the kind of sender the filter is for. */
async function underlayHost(t: ExecutionContext, c: Cluster, lastByte: number): Promise<string> {
  // The cluster's janitor and pattern (wn-<id>-*) cover it if the test is cut short.
  const netns = `wn-${c.id}-x${lastByte}`;
  await addNetns(netns);
  t.teardown(() => removeNetns(netns));
  const hostEnd = `${c.bridge}x${lastByte}`.slice(0, 15);
  await must('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  await must('ip', ['link', 'set', hostEnd, 'master', c.bridge, 'up']);
  await must('ip', ['-n', netns, 'addr', 'add', `${UNDERLAY_PREFIX}${lastByte}/24`, 'dev', 'eth0']);
  await must('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
  return netns;
}

async function counter(c: Cluster, node: ClusterNode, name: string): Promise<number> {
  const listed = await c.inNode(node, 'nft', ['list', 'counter', 'inet', VXLAN_INGRESS_TABLE, name]);
  return Number(/packets (\d+)/.exec(listed.stdout)?.[1] ?? Number.NaN);
}

const peerSet = async (c: Cluster, node: ClusterNode): Promise<string> =>
  (await c.inNode(node, 'nft', ['list', 'set', 'inet', VXLAN_INGRESS_TABLE, PEER_SET])).stdout;

const settle = () => new Promise((r) => setTimeout(r, 1000));

test.serial('VXLAN from an underlay host that is not a peer is dropped; the same frame from a peer reaches the pod', async (t) => {
  const c = await readyCluster(t, 2);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  const p1 = await c.addPod(n1);
  const received = await listenIn(t, c, p1);
  const intruder = await underlayHost(t, c, 50);

  const before = await counter(c, n1, COUNTERS.fromNonPeers);
  await sendVxlan(intruder, n1, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-the-intruder\n'));
  await settle();
  t.is(await counter(c, n1, COUNTERS.fromNonPeers), before + 1, 'counted as a drop from a non-peer');

  await sendVxlan(n2.netns, n1, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-the-peer\n'));
  await eventually('the peer frame arrives', () => (received().includes('from-the-peer') ? true : undefined), 5000);
  t.false(received().includes('from-the-intruder'), 'the intruder frame never reached the pod');
  t.regex(await peerSet(c, n1), new RegExp(`elements = \\{ ${n2.underlayIp.replace(/\./g, '\\.')} \\}`));

  // Without the filter (weftd stopped, the table gone) the intruder's frame does arrive: the drop above was the filter's.
  await c.stopWeftd(n1);
  await must('ip', ['netns', 'exec', n1.netns, 'nft', 'delete', 'table', 'inet', VXLAN_INGRESS_TABLE]);
  await sendVxlan(intruder, n1, vxlanFrame(n1, '10.244.2.99', p1.ip, 'unfiltered\n'));
  await eventually('the unfiltered frame arrives', () => (received().includes('unfiltered') ? true : undefined), 5000);
});

test.serial("VXLAN sent from a pod is dropped, also where masquerade would give it its node's trusted address", async (t) => {
  const c = await readyCluster(t, 2, ['--ip-masq']);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  const p1 = await c.addPod(n1);
  const p1b = await c.addPod(n1);
  const p2 = await c.addPod(n2);
  const received = await listenIn(t, c, p1);

  // Forwarded by node2 (and masqueraded to 10.229.0.12 after the forward hook): dropped there.
  const forwardedBefore = await counter(c, n2, COUNTERS.fromPods);
  await sendVxlan(p2.name, n1, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-a-remote-pod\n'));
  // To its own node's address: dropped on input.
  const localBefore = await counter(c, n1, COUNTERS.fromPods);
  await sendVxlan(p1b.name, n1, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-a-local-pod\n'));
  await settle();
  t.is(await counter(c, n2, COUNTERS.fromPods), forwardedBefore + 1, 'node2 dropped its pod’s VXLAN when forwarding it');
  t.is(await counter(c, n1, COUNTERS.fromPods), localBefore + 1, "node1 dropped its own pod's VXLAN");

  // The same frame from node2 itself does arrive: the drops above were the filter's.
  await sendVxlan(n2.netns, n1, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-the-peer\n'));
  await eventually('the peer frame arrives', () => (received().includes('from-the-peer') ? true : undefined), 5000);
  t.false(/from-a-(remote|local)-pod/.test(received()), 'no pod-sent frame reached the pod');
});

test.serial('the filter comes back when deleted, and a deleted Node leaves the peer set', async (t) => {
  const c = await readyCluster(t, 3);
  const [n1, , n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  t.regex(await peerSet(c, n1), /10\.229\.0\.12, 10\.229\.0\.13/);
  await must('ip', ['netns', 'exec', n1.netns, 'nft', 'delete', 'table', 'inet', VXLAN_INGRESS_TABLE]);
  await eventually('the table is back with both peers', async () => (/10\.229\.0\.12, 10\.229\.0\.13/.test(await peerSet(c, n1)) ? true : undefined));
  await must('ip', ['netns', 'exec', n1.netns, 'nft', 'delete', 'element', 'inet', VXLAN_INGRESS_TABLE, PEER_SET, '{', n3.underlayIp, '}']);
  await eventually('the element is back', async () => ((await peerSet(c, n1)).includes(n3.underlayIp) ? true : undefined));

  await c.core.deleteNode({ name: n3.name });
  await eventually('node3 left the set', async () => {
    const set = await peerSet(c, n1);
    return set.includes('10.229.0.12') && !set.includes(n3.underlayIp) ? true : undefined;
  });
});

const forwardRules = async (c: Cluster, node: ClusterNode) => (await c.inNode(node, 'iptables', ['-w', '-S', 'FORWARD'])).stdout.trim().split('\n');

test.serial("an operator's FORWARD DROP rule stays in force through weftd's passes, under a drop policy, and an older weftd's top jump is moved", async (t) => {
  // node2's pods may not start pings to node1's pods; the replies to node1's own pings are no new connection.
  const operatorDrop = ['-s', '10.244.2.0/24', '-d', '10.244.1.0/24', '-p', 'icmp', '--icmp-type', 'echo-request', '-j', 'DROP'];
  const c = await readyCluster(t, 2, ['--ip-masq'], async (cluster) => {
    const [n1] = cluster.nodes as [ClusterNode];
    for (const node of cluster.nodes) await must('ip', ['netns', 'exec', node.netns, 'iptables', '-w', '-P', 'FORWARD', 'DROP']);
    await must('ip', ['netns', 'exec', n1.netns, 'iptables', '-w', '-A', 'FORWARD', ...operatorDrop]);
    // What an older weftd left: its chain accepting by destination, jumped to from the top.
    await must('ip', ['netns', 'exec', n1.netns, 'iptables', '-w', '-N', 'WEFT-FORWARD']);
    await must('ip', ['netns', 'exec', n1.netns, 'iptables', '-w', '-A', 'WEFT-FORWARD', '-d', '10.244.0.0/16', '-j', 'ACCEPT']);
    await must('ip', ['netns', 'exec', n1.netns, 'iptables', '-w', '-I', 'FORWARD', '1', '-m', 'comment', '--comment', 'weft-forward', '-j', 'WEFT-FORWARD']);
  });
  const [n1] = c.nodes as [ClusterNode, ClusterNode];
  const p1 = await c.addPod(n1);
  const p2 = await c.addPod(c.nodes[1]!);

  await eventually('the old jump is gone', async () => ((await forwardRules(c, n1)).some((r) => r.includes('--comment weft-forward ')) ? undefined : true));
  await new Promise((r) => setTimeout(r, 4500)); // two periodic passes re-assert the rules
  const rules = await forwardRules(c, n1);
  const drop = rules.findIndex((r) => r.includes('--icmp-type 8 -j DROP'));
  const jumps = rules.flatMap((r, i) => (r.endsWith('-j WEFT-FORWARD') ? [i] : []));
  t.is(jumps.length, 1, `one jump into WEFT-FORWARD:\n${rules.join('\n')}`);
  t.true(drop >= 0 && drop < jumps[0]!, `the operator's rule comes first:\n${rules.join('\n')}`);

  t.is((await c.ping(p2, p1.ip, 2)).received, 0, "the operator's DROP holds");
  t.true((await c.ping(p1, p2.ip, 2)).ok, 'weft accepts the rest, by interface and state, under a drop policy');
});

test.serial('with direct routing and a drop FORWARD policy, pods on the underlay subnet still reach each other', async (t) => {
  const c = await readyCluster(t, 2, ['--ip-masq', '--direct-routing'], async (cluster) => {
    for (const node of cluster.nodes) await must('ip', ['netns', 'exec', node.netns, 'iptables', '-w', '-P', 'FORWARD', 'DROP']);
  });
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  const p1 = await c.addPod(n1);
  const p2 = await c.addPod(n2);
  t.regex((await c.inNode(n1, 'ip', ['route', 'show', 'proto', '119'])).stdout, /via 10\.229\.0\.12 dev eth0/);
  t.true((await c.ping(p1, p2.ip)).ok, 'node1 → node2');
  t.true((await c.ping(p2, p1.ip)).ok, 'node2 → node1');
  // Node to a peer's pod, as a probe or a hostNetwork pod would.
  t.true((await c.inNode(n1, 'ping', ['-c', '1', '-W', '1', p2.ip])).exitCode === 0, "node1's host → a pod on node2");
});
