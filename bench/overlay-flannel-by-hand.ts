// The reference data path for bench-dataplane: two nodes wired with nothing
// but iproute2, the way flannel's VXLAN backend does it, on an underlay bridge
// of their own. Per node: eth0 on the underlay, a VXLAN device (nolearning),
// a bridge with the pod subnet's gateway, one pod behind a veth, and for the
// other node an onlink route via its subnet's .0, a permanent neighbour entry
// (.0 → its VTEP MAC) and a permanent FDB entry (VTEP MAC → its underlay IP).
// Options switch on the knobs the benchmark tries.
import { randomBytes } from 'node:crypto';
import { addNetns, removeLink, removeNetns } from '../testbed/netns.ts';
import { must } from '../testbed/shell.ts';
import type { Teardown } from '../testbed/teardown.ts';

export type HandOptions = {
  label: string;
  /** The underlay's MTU; every overlay MTU is 50 less (VXLAN over IPv4). */
  underlayMtu: number;
  /** Outer UDP checksums; on is what `ip link add … type vxlan` gives on this kernel (as weft's device has). */
  udpcsum: boolean;
  /** GRO on every veth (node underlay end, pod ends): the veth then receives through NAPI. */
  gro: boolean;
  /** net.bridge.bridge-nf-call-{iptables,ip6tables,arptables} in the nodes (1 is the kernel's default). */
  brNetfilter: boolean;
  /** TX checksum offload on the VXLAN device; off is flannel's old workaround for a kernel checksum bug. */
  vxlanTxCsum: boolean;
};

export const HAND_DEFAULTS: Omit<HandOptions, 'label'> = { underlayMtu: 1500, udpcsum: true, gro: false, brNetfilter: true, vxlanTxCsum: true };

export type Endpoint = { netns: string; ip: string };
export type HandTopology = { label: string; options: HandOptions; nodes: [Endpoint, Endpoint]; pods: [Endpoint, Endpoint]; podMtu: number };

const run = (args: string[]) => must(args[0]!, args.slice(1));

const vtepMac = (i: number) => `0e:fa:00:00:00:0${i}`;

export async function buildByHand(options: HandOptions, teardown: Teardown): Promise<HandTopology> {
  const id = randomBytes(3).toString('hex');
  const bridge = `fh${id}`;
  const mtu = options.underlayMtu;
  const podMtu = mtu - 50;
  await run(['ip', 'link', 'add', bridge, 'mtu', String(mtu), 'type', 'bridge']);
  teardown.add(`bridge ${bridge}`, () => removeLink(bridge));
  await run(['ip', 'link', 'set', bridge, 'up']);
  const nodes: Endpoint[] = [];
  const pods: Endpoint[] = [];
  for (const i of [1, 2]) {
    const node = `fh-${id}-n${i}`;
    const pod = `fh-${id}-p${i}`;
    const underlayIp = `10.231.0.${10 + i}`;
    for (const netns of [node, pod]) {
      await addNetns(netns);
      teardown.add(`netns ${netns}`, () => removeNetns(netns));
    }
    const hostEnd = `${bridge}n${i}`;
    await run(['ip', 'link', 'add', hostEnd, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu), 'netns', node]);
    await run(['ip', 'link', 'set', hostEnd, 'master', bridge, 'up']);
    const inNode = (args: string[]) => run(['ip', '-n', node, ...args]);
    await inNode(['addr', 'add', `${underlayIp}/24`, 'dev', 'eth0']);
    await inNode(['link', 'set', 'eth0', 'up']);
    await inNode(['link', 'set', 'lo', 'up']);
    await run(['ip', 'netns', 'exec', node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await inNode([
      'link',
      'add',
      'flannel.1',
      'address',
      vtepMac(i),
      'mtu',
      String(podMtu),
      'type',
      'vxlan',
      'id',
      '1',
      'local',
      underlayIp,
      'dev',
      'eth0',
      'dstport',
      '4789',
      'nolearning',
      options.udpcsum ? 'udpcsum' : 'noudpcsum',
    ]);
    await inNode(['link', 'set', 'flannel.1', 'up']);
    await inNode(['link', 'add', 'cni0', 'mtu', String(podMtu), 'type', 'bridge']);
    await inNode(['addr', 'add', `10.245.${i}.1/24`, 'dev', 'cni0']);
    await inNode(['link', 'set', 'cni0', 'up']);
    await inNode(['link', 'add', 'vethpod', 'mtu', String(podMtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(podMtu), 'netns', pod]);
    await inNode(['link', 'set', 'vethpod', 'master', 'cni0', 'up']);
    const inPod = (args: string[]) => run(['ip', '-n', pod, ...args]);
    await inPod(['addr', 'add', `10.245.${i}.2/24`, 'dev', 'eth0']);
    await inPod(['link', 'set', 'eth0', 'up']);
    await inPod(['link', 'set', 'lo', 'up']);
    await inPod(['route', 'add', 'default', 'via', `10.245.${i}.1`]);
    if (!options.brNetfilter) {
      for (const t of ['iptables', 'ip6tables', 'arptables']) await run(['ip', 'netns', 'exec', node, 'sysctl', '-qw', `net.bridge.bridge-nf-call-${t}=0`]);
    }
    if (!options.vxlanTxCsum) await run(['ip', 'netns', 'exec', node, 'ethtool', '-K', 'flannel.1', 'tx', 'off']);
    if (options.gro) {
      await run(['ip', 'netns', 'exec', node, 'ethtool', '-K', 'eth0', 'gro', 'on']);
      await run(['ip', 'netns', 'exec', node, 'ethtool', '-K', 'vethpod', 'gro', 'on']);
      await run(['ip', 'netns', 'exec', pod, 'ethtool', '-K', 'eth0', 'gro', 'on']);
    }
    nodes.push({ netns: node, ip: underlayIp });
    pods.push({ netns: pod, ip: `10.245.${i}.2` });
  }
  for (const [i, j] of [
    [1, 2],
    [2, 1],
  ] as const) {
    const node = nodes[i - 1]!.netns;
    await run(['ip', '-n', node, 'route', 'add', `10.245.${j}.0/24`, 'via', `10.245.${j}.0`, 'dev', 'flannel.1', 'onlink']);
    await run(['ip', '-n', node, 'neigh', 'add', `10.245.${j}.0`, 'lladdr', vtepMac(j), 'dev', 'flannel.1', 'nud', 'permanent']);
    await run(['bridge', '-n', node, 'fdb', 'append', vtepMac(j), 'dev', 'flannel.1', 'dst', nodes[j - 1]!.ip, 'self', 'permanent']);
  }
  return { label: options.label, options, nodes: [nodes[0]!, nodes[1]!], pods: [pods[0]!, pods[1]!], podMtu };
}
