// weftd's node firewall in node namespaces against a real API server: the
// VXLAN ingress filter (only peers' VTEPs may send VXLAN, never a pod) and
// the FORWARD chain's order (the operator's rules come first). Frames are
// crafted here and sent with socat, so what is proved is what a forged frame
// on the wire does: reach a pod's listener, or not.

import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { COUNTERS, PEER_SET, PEER_SET6, VXLAN_INGRESS_TABLE } from '../../src/daemon/vxlan-ingress.ts';
import { type Family, formatAddress, parseAddress } from '../../src/net/address.ts';
import { macForName } from '../../src/net/mac.ts';
import { Cluster, type ClusterNode, type Pod, UNDERLAY_PREFIX } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';
import { uniqueSuffix } from '../../testbed/fixtures.ts';
import { startJanitor } from '../../testbed/janitor.ts';
import { addNetns, removeNetns } from '../../testbed/netns.ts';
import { REPO } from '../../testbed/paths.ts';
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

const macBytes = (mac: string): number[] => mac.split(':').map((x) => Number.parseInt(x, 16));

/** An address's bytes in network order, IPv4 or IPv6. */
function addressBytes(text: string): Buffer {
  const address = parseAddress(text);
  if (!address) throw new Error(`${text} is not an address`);
  const out = Buffer.alloc(address.family === 4 ? 4 : 16);
  for (let i = 0, v = address.value; i < out.length; i++, v >>= 8n) out[out.length - 1 - i] = Number(v & 0xffn);
  return out;
}

/** The Internet checksum (RFC 1071) over the buffers, as if they were one. */
function checksum(...parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) + (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A UDP datagram from port 40000 to the pod's listener; its checksum is left 0. */
function udpTo(text: string): Buffer {
  const payload = Buffer.from(text);
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(LISTEN_PORT, 2);
  udp.writeUInt16BE(udp.length, 4);
  payload.copy(udp, 8);
  return udp;
}

/** An IPv4 packet from the forged pod address `from` to `to`:7777; UDP checksum 0: none, which IPv4 allows. */
function ipv4Udp(from: string, to: string, text: string): Buffer {
  const udp = udpTo(text);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + udp.length, 2);
  ip.writeUInt16BE(0x4000, 6);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  addressBytes(from).copy(ip, 12);
  addressBytes(to).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return Buffer.concat([ip, udp]);
}

/** The same in IPv6, where the UDP checksum (over a pseudo-header) is mandatory. */
function ipv6Udp(from: string, to: string, text: string): Buffer {
  const udp = udpTo(text);
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(udp.length, 4);
  ip.writeUInt8(17, 6);
  ip.writeUInt8(64, 7);
  addressBytes(from).copy(ip, 8);
  addressBytes(to).copy(ip, 24);
  const pseudo = Buffer.alloc(8);
  pseudo.writeUInt32BE(udp.length, 0);
  pseudo.writeUInt8(17, 7);
  udp.writeUInt16BE(checksum(ip.subarray(8, 40), pseudo, udp) || 0xffff, 6);
  return Buffer.concat([ip, udp]);
}

/** A VXLAN packet's payload (VNI 1): an Ethernet frame to the VTEP MAC `mac` carrying the IP `packet`. */
function vxlanPayload(mac: string, packet: Buffer): Buffer {
  const ethertype = packet[0]! >> 4 === 6 ? [0x86, 0xdd] : [0x08, 0x00];
  const ethernet = Buffer.from([...macBytes(mac), ...macBytes('02:00:00:00:00:01'), ...ethertype]);
  const vxlan = Buffer.from([0x08, 0, 0, 0, 0, 0, 1, 0]);
  return Buffer.concat([vxlan, ethernet, packet]);
}

/** VXLAN to `node`'s VTEP MAC carrying a UDP datagram from the forged pod address `from` to `to`:7777. */
const vxlanFrame = (node: ClusterNode, from: string, to: string, text: string): Buffer => vxlanPayload(macForName(node.name), ipv4Udp(from, to, text));

/** Sends one UDP datagram from inside `netns` to the VXLAN port of `address` (IPv4 or IPv6). */
async function sendVxlan(netns: string, address: string, frame: Buffer): Promise<void> {
  const to = address.includes(':') ? `UDP6-SENDTO:[${address}]` : `UDP-SENDTO:${address}`;
  const r = await execa('ip', ['netns', 'exec', netns, 'socat', '-u', 'STDIN', `${to}:${VXLAN_PORT}`], {
    input: frame,
    reject: false,
    env: { PATH: SYSTEM_PATH },
  });
  if (r.exitCode !== 0) throw new Error(`socat in ${netns}: ${r.stderr}`);
}

/** A UDP listener in `netns` logging to `log`; returns what it has received so far. */
async function listenIn(t: ExecutionContext, netns: string, log: string, family: Family = 4): Promise<() => string> {
  const recv = family === 4 ? 'UDP-RECV' : 'UDP6-RECV';
  const listener = launch(['ip', 'netns', 'exec', netns, 'socat', '-u', `${recv}:${LISTEN_PORT}`, 'STDOUT'], { log, name: `listener in ${netns}` });
  t.teardown(() => listener.stop('SIGKILL'));
  await eventually(`the listener in ${netns}`, async () =>
    (await sh('ip', ['netns', 'exec', netns, 'ss', '-uln'])).stdout.includes(`:${LISTEN_PORT}`) ? true : undefined,
  );
  return () => {
    try {
      return readFileSync(log, 'utf8');
    } catch {
      return '';
    }
  };
}

const listenInPod = (t: ExecutionContext, c: Cluster, pod: Pod) => listenIn(t, pod.name, join(c.dir, `${pod.name}-udp.log`));

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

async function counter(netns: string, name: string): Promise<number> {
  const listed = await sh('ip', ['netns', 'exec', netns, 'nft', 'list', 'counter', 'inet', VXLAN_INGRESS_TABLE, name]);
  return Number(/packets (\d+)/.exec(listed.stdout)?.[1] ?? Number.NaN);
}

const peerSet = async (c: Cluster, node: ClusterNode): Promise<string> =>
  (await c.inNode(node, 'nft', ['list', 'set', 'inet', VXLAN_INGRESS_TABLE, PEER_SET])).stdout;

const settle = () => new Promise((r) => setTimeout(r, 1000));

test.serial('VXLAN from an underlay host that is not a peer is dropped; the same frame from a peer reaches the pod', async (t) => {
  const c = await readyCluster(t, 2);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  const p1 = await c.addPod(n1);
  const received = await listenInPod(t, c, p1);
  const intruder = await underlayHost(t, c, 50);

  const before = await counter(n1.netns, COUNTERS.fromNonPeers);
  await sendVxlan(intruder, n1.underlayIp, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-the-intruder\n'));
  await settle();
  t.is(await counter(n1.netns, COUNTERS.fromNonPeers), before + 1, 'counted as a drop from a non-peer');

  await sendVxlan(n2.netns, n1.underlayIp, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-the-peer\n'));
  await eventually('the peer frame arrives', () => (received().includes('from-the-peer') ? true : undefined), 5000);
  t.false(received().includes('from-the-intruder'), 'the intruder frame never reached the pod');
  t.regex(await peerSet(c, n1), new RegExp(`elements = \\{ ${n2.underlayIp.replace(/\./g, '\\.')} \\}`));

  // Without the filter (weftd stopped, the table gone) the intruder's frame does arrive: the drop above was the filter's.
  await c.stopWeftd(n1);
  await must('ip', ['netns', 'exec', n1.netns, 'nft', 'delete', 'table', 'inet', VXLAN_INGRESS_TABLE]);
  await sendVxlan(intruder, n1.underlayIp, vxlanFrame(n1, '10.244.2.99', p1.ip, 'unfiltered\n'));
  await eventually('the unfiltered frame arrives', () => (received().includes('unfiltered') ? true : undefined), 5000);
});

test.serial("VXLAN sent from a pod is dropped, also where masquerade would give it its node's trusted address", async (t) => {
  const c = await readyCluster(t, 2, ['--ip-masq']);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  const p1 = await c.addPod(n1);
  const p1b = await c.addPod(n1);
  const p2 = await c.addPod(n2);
  const received = await listenInPod(t, c, p1);

  // Forwarded by node2 (and masqueraded to 10.229.0.12 after the forward hook): dropped there.
  const forwardedBefore = await counter(n2.netns, COUNTERS.fromPods);
  await sendVxlan(p2.name, n1.underlayIp, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-a-remote-pod\n'));
  // To its own node's address: dropped on input.
  const localBefore = await counter(n1.netns, COUNTERS.fromPods);
  await sendVxlan(p1b.name, n1.underlayIp, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-a-local-pod\n'));
  await settle();
  t.is(await counter(n2.netns, COUNTERS.fromPods), forwardedBefore + 1, 'node2 dropped its pod’s VXLAN when forwarding it');
  t.is(await counter(n1.netns, COUNTERS.fromPods), localBefore + 1, "node1 dropped its own pod's VXLAN");

  // The same frame from node2 itself does arrive: the drops above were the filter's.
  await sendVxlan(n2.netns, n1.underlayIp, vxlanFrame(n1, '10.244.2.99', p1.ip, 'from-the-peer\n'));
  await eventually('the peer frame arrives', () => (received().includes('from-the-peer') ? true : undefined), 5000);
  t.false(/from-a-(remote|local)-pod/.test(received()), 'no pod-sent frame reached the pod');
});

test.serial('the filter comes back when deleted; a moved VTEP replaces its old address and a deleted Node leaves the peer set, by event', async (t) => {
  const c = await readyCluster(t, 3);
  const [n1, , n3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  t.regex(await peerSet(c, n1), /10\.229\.0\.12, 10\.229\.0\.13/);
  await must('ip', ['netns', 'exec', n1.netns, 'nft', 'delete', 'table', 'inet', VXLAN_INGRESS_TABLE]);
  await eventually('the table is back with both peers', async () => (/10\.229\.0\.12, 10\.229\.0\.13/.test(await peerSet(c, n1)) ? true : undefined));
  await must('ip', ['netns', 'exec', n1.netns, 'nft', 'delete', 'element', 'inet', VXLAN_INGRESS_TABLE, PEER_SET, '{', n3.underlayIp, '}']);
  await eventually('the element is back', async () => ((await peerSet(c, n1)).includes(n3.underlayIp) ? true : undefined));

  // From here only events may change the set: node1's weftd starts again with a periodic pass every 10 minutes.
  await c.stopWeftd(n1);
  await c.startWeftd(n1, [], { WEFTD_RESYNC: '600' });
  await eventually('node1 ready again', async () => ((await c.weftdStatus(n1)).readiness === 'ready' ? true : undefined));
  const old = n3.underlayIp;
  await c.stopWeftd(n3);
  await c.moveUnderlay(n3, 4, '10.229.0.50');
  await c.startWeftd(n3);
  await eventually('node3 is in the set at its new address only', async () => {
    const set = await peerSet(c, n1);
    return set.includes('10.229.0.50') && !set.includes(`${old},`) && !set.includes(`${old} `) && set.includes('10.229.0.12') ? true : undefined;
  });

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

// IPv6: weftd's firewall code run inside a node namespace built here, without
// the API server: the node's bridge with one pod, and what each test needs
// around it. Its netns are named w6-<id>-*, which a janitor removes should
// the test's thread end before its teardown.

const CLUSTER6 = 'fd00:10:244::/56';
const NODE6 = 'fd00:229::11';
const POD6 = 'fd00:10:244:1::2';
const REMOTE_POD6 = 'fd00:10:244:2::2';

/** Runs weftd's masquerade or VXLAN ingress filter once, as its first pass does, inside `netns`. */
async function firewallPass(netns: string, what: 'masquerade' | 'ingress', args: unknown): Promise<void> {
  const src = (file: string) => JSON.stringify(pathToFileURL(join(REPO, 'src', file)).href);
  const driver = [
    `import { createNodeMasquerade } from ${src('daemon/node-masquerade.ts')};`,
    `import { createVxlanIngress } from ${src('daemon/vxlan-ingress.ts')};`,
    `import { parseCidr } from ${src('net/address.ts')};`,
    'const [what, json] = process.argv.slice(1);',
    'const a = JSON.parse(json);',
    "if (what === 'masquerade') createNodeMasquerade(a.cidrs.map(parseCidr), a.via).keep('start');",
    // close(): the filter keeps an nft process for its element changes, which would keep this one alive.
    "else { const f = createVxlanIngress({ port: a.port, podNetworks: a.podNetworks.map(parseCidr) }); try { await f.update({ all: new Set(a.peers), touched: new Set(a.peers) }, 'periodic'); } finally { f.close(); } }",
  ].join('\n');
  await must('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', driver, what, JSON.stringify(args)]);
}

type Node6 = { id: string; node: string; pod: string; netns(role: string): Promise<string> };

/** A node namespace with forwarding on and the bridge weft0 (fd00:10:244:1::1/64), and one pod on it at fd00:10:244:1::2. */
async function node6(t: ExecutionContext): Promise<Node6> {
  const id = uniqueSuffix();
  const janitor = startJanitor(
    'for ns in $(ip netns list | awk \'{print $1}\' | grep -E "^w6-$0-"); do ip netns pids "$ns" | xargs -r kill -9; ip netns del "$ns"; done',
    [id],
  );
  t.teardown(() => janitor.release());
  const netns = async (role: string) => {
    const name = `w6-${id}-${role}`;
    await addNetns(name);
    t.teardown(() => removeNetns(name));
    await must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  };
  const node = await netns('node');
  await must('ip', ['netns', 'exec', node, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
  await must('ip', ['-n', node, 'link', 'add', 'weft0', 'type', 'bridge']);
  await must('ip', ['-n', node, 'addr', 'add', 'fd00:10:244:1::1/64', 'dev', 'weft0', 'nodad']);
  await must('ip', ['-n', node, 'link', 'set', 'weft0', 'up']);
  const pod = await netns('pod');
  await must('ip', ['-n', node, 'link', 'add', 'vpod', 'master', 'weft0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod]);
  await must('ip', ['-n', node, 'link', 'set', 'vpod', 'up']);
  await must('ip', ['-n', pod, 'addr', 'add', `${POD6}/64`, 'dev', 'eth0', 'nodad']);
  await must('ip', ['-n', pod, 'link', 'set', 'eth0', 'up']);
  await must('ip', ['-n', pod, 'route', 'add', 'default', 'via', 'fd00:10:244:1::1']);
  return { id, node, pod, netns };
}

/** A namespace joined to the node by a veth: `dev` in the node, eth0 in it, each end with its address (nodad). */
async function wire(n: Node6, role: string, dev: string, nodeAddr: string, theirAddr: string): Promise<string> {
  const ns = await n.netns(role);
  await must('ip', ['-n', n.node, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await must('ip', ['-n', n.node, 'addr', 'add', nodeAddr, 'dev', dev, 'nodad']);
  await must('ip', ['-n', ns, 'addr', 'add', theirAddr, 'dev', 'eth0', 'nodad']);
  await must('ip', ['-n', n.node, 'link', 'set', dev, 'up']);
  await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  return ns;
}

/** A TCP server in `netns` that answers each connection with the source address it saw. */
function echoPeerAddress(t: ExecutionContext, netns: string, port: number): void {
  const server = launch(['ip', 'netns', 'exec', netns, 'socat', `TCP6-LISTEN:${port},reuseaddr,fork`, 'SYSTEM:echo $SOCAT_PEERADDR'], {
    name: `echo in ${netns}`,
  });
  t.teardown(() => server.stop('SIGKILL'));
}

/** The source address the server at `address`:`port` saw, canonical; undefined when no connection was made. */
async function seenAs(from: string, address: string, port: number): Promise<string | undefined> {
  const r = await sh('ip', ['netns', 'exec', from, 'socat', '-T2', '-', `TCP6:[${address}]:${port},connect-timeout=2`]);
  const seen = parseAddress(r.stdout.trim().replace(/^\[|\]$/g, ''));
  return seen && formatAddress(seen);
}

const jumpsInto = async (netns: string, program: string, table: string, chain: string, to: string) =>
  (await must('ip', ['netns', 'exec', netns, program, '-w', '-t', table, '-S', chain])).split('\n').flatMap((r, i) => (r.endsWith(`-j ${to}`) ? [i] : []));

test.serial('IPv6 pod traffic leaving the cluster is masqueraded, pod-to-pod keeps its source, and a drop FORWARD policy still lets it through', async (t) => {
  const n = await node6(t);
  // Outside the cluster, on the underlay: no route back to the pods.
  const outside = await wire(n, 'out', 'eth0', `${NODE6}/64`, 'fd00:229::99/64');
  // A peer's pod behind a device standing for the IPv6 VXLAN device: the firewall knows it by name only.
  const remote = await wire(n, 'remote', 'weft6.1', 'fe80::1/64', 'fe80::2/64');
  await must('ip', ['-n', remote, 'addr', 'add', `${REMOTE_POD6}/64`, 'dev', 'eth0', 'nodad']);
  await must('ip', ['-n', remote, 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0']);
  await must('ip', ['-n', n.node, 'route', 'add', 'fd00:10:244:2::/64', 'via', 'fe80::2', 'dev', 'weft6.1']);
  for (const [ns, port] of [
    [outside, 7777],
    [remote, 7777],
    [n.pod, 7777],
    [n.pod, 7778],
  ] as const)
    echoPeerAddress(t, ns, port);
  const ip6 = (...args: string[]) => must('ip', ['netns', 'exec', n.node, 'ip6tables', '-w', ...args]);
  await ip6('-P', 'FORWARD', 'DROP');
  // The operator's rule: peers' pods may not open port 7778 on this node's pods.
  await ip6('-A', 'FORWARD', '-s', 'fd00:10:244:2::/64', '-p', 'tcp', '--dport', '7778', '-j', 'DROP');
  const via = { bridge: 'weft0', overlays: ['weft.1', 'weft6.1'] };

  // An IPv4-only cluster leaves ip6tables alone.
  await firewallPass(n.node, 'masquerade', { cidrs: ['10.244.0.0/16'], via });
  t.deepEqual(await jumpsInto(n.node, 'ip6tables', 'nat', 'POSTROUTING', 'WEFT-POSTROUTING'), [], 'no IPv6 rules for an IPv4-only cluster');
  t.is((await jumpsInto(n.node, 'iptables', 'nat', 'POSTROUTING', 'WEFT-POSTROUTING')).length, 1);
  t.is(await seenAs(n.pod, 'fd00:229::99', 7777), undefined, 'under the drop policy nothing of IPv6 passes before weft accepts it');

  // Dual stack, asserted twice as the start and a periodic pass would.
  for (let i = 0; i < 2; i++) await firewallPass(n.node, 'masquerade', { cidrs: ['10.244.0.0/16', CLUSTER6], via });
  t.deepEqual(await jumpsInto(n.node, 'ip6tables', 'nat', 'POSTROUTING', 'WEFT-POSTROUTING'), [1], 'one NAT jump, at the top');
  const forward = (await ip6('-S', 'FORWARD')).split('\n');
  const jumps = await jumpsInto(n.node, 'ip6tables', 'filter', 'FORWARD', 'WEFT-FORWARD');
  t.is(jumps.length, 1, forward.join('\n'));
  t.true(forward.findIndex((r) => r.includes('--dport 7778 -j DROP')) < jumps[0]!, `the operator's rule comes first:\n${forward.join('\n')}`);

  t.is(await seenAs(n.pod, 'fd00:229::99', 7777), NODE6, "leaving the cluster, the pod's traffic takes the node's address");
  t.is(await seenAs(n.pod, REMOTE_POD6, 7777), POD6, 'pod to pod, it keeps its own');
  t.is(await seenAs(remote, POD6, 7777), REMOTE_POD6, "a peer's pod reaches this node's pod through the overlay device");
  t.is(await seenAs(remote, POD6, 7778), undefined, "the operator's DROP holds");
});

test.serial('IPv6 VXLAN from a non-peer or from an IPv6 pod is dropped and counted; from a peer it reaches the pod', async (t) => {
  const n = await node6(t);
  // The IPv6 underlay: a bridge in the node with the peer and an intruder on it.
  await must('ip', ['-n', n.node, 'link', 'add', 'ul0', 'type', 'bridge']);
  await must('ip', ['-n', n.node, 'addr', 'add', `${NODE6}/64`, 'dev', 'ul0', 'nodad']);
  await must('ip', ['-n', n.node, 'link', 'set', 'ul0', 'up']);
  const onUnderlay = async (role: string, address: string) => {
    const ns = await n.netns(role);
    await must('ip', ['-n', n.node, 'link', 'add', `ul-${role}`, 'master', 'ul0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await must('ip', ['-n', n.node, 'link', 'set', `ul-${role}`, 'up']);
    await must('ip', ['-n', ns, 'addr', 'add', `${address}/64`, 'dev', 'eth0', 'nodad']);
    await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    return ns;
  };
  const peer = await onUnderlay('peer', 'fd00:229::12');
  const intruder = await onUnderlay('intruder', 'fd00:229::50');
  const vtepMac = '0e:00:00:00:06:01';
  await must('ip', [
    '-n',
    n.node,
    'link',
    'add',
    'weft6.1',
    'address',
    vtepMac,
    'type',
    'vxlan',
    'id',
    '1',
    'local',
    NODE6,
    'dstport',
    String(VXLAN_PORT),
    'dev',
    'ul0',
    'nolearning',
  ]);
  await must('ip', ['-n', n.node, 'link', 'set', 'weft6.1', 'up']);
  await firewallPass(n.node, 'ingress', { port: VXLAN_PORT, podNetworks: ['10.244.0.0/16', CLUSTER6], peers: ['10.229.0.12', 'fd00:229::12'] });
  const set6 = await must('ip', ['netns', 'exec', n.node, 'nft', 'list', 'set', 'inet', VXLAN_INGRESS_TABLE, PEER_SET6]);
  t.regex(set6, /elements = \{ fd00:229::12 \}/);
  t.regex(await must('ip', ['netns', 'exec', n.node, 'nft', 'list', 'set', 'inet', VXLAN_INGRESS_TABLE, PEER_SET]), /elements = \{ 10\.229\.0\.12 \}/);

  const received = await listenIn(t, n.pod, join(tmpdir(), `w6-${n.id}-udp.log`), 6);
  t.teardown(() => rmSync(join(tmpdir(), `w6-${n.id}-udp.log`), { force: true }));
  const frame = (text: string) => vxlanPayload(vtepMac, ipv6Udp('fd00:10:244:2::99', POD6, `${text}\n`));

  const nonPeers = await counter(n.node, COUNTERS.fromNonPeers);
  await sendVxlan(intruder, NODE6, frame('from-the-intruder'));
  const fromPods = await counter(n.node, COUNTERS.fromPods);
  // To its own node (input), and to the peer through its node (forward).
  await sendVxlan(n.pod, NODE6, frame('from-a-pod'));
  await sendVxlan(n.pod, 'fd00:229::12', frame('from-a-pod-forwarded'));
  await settle();
  t.is(await counter(n.node, COUNTERS.fromNonPeers), nonPeers + 1, 'counted as a drop from a non-peer');
  t.is(await counter(n.node, COUNTERS.fromPods), fromPods + 2, "the pod's VXLAN dropped at the node and when forwarded");

  await sendVxlan(peer, NODE6, frame('from-the-peer'));
  await eventually('the peer frame arrives', () => (received().includes('from-the-peer') ? true : undefined), 5000);
  t.false(/from-the-intruder|from-a-pod/.test(received()), `only the peer's frame reached the pod: ${received()}`);

  // Without the filter the intruder's frame does arrive: the drop above was the filter's.
  await must('ip', ['netns', 'exec', n.node, 'nft', 'delete', 'table', 'inet', VXLAN_INGRESS_TABLE]);
  await sendVxlan(intruder, NODE6, frame('unfiltered'));
  await eventually('the unfiltered frame arrives', () => (received().includes('unfiltered') ? true : undefined), 5000);
});
