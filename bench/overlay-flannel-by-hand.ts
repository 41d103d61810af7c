// The reference data path for bench-dataplane: two nodes wired with nothing
// but iproute2, the way flannel's VXLAN backend does it, on an underlay bridge
// of their own, over an IPv4 or an IPv6 underlay. Per node: eth0 on the
// underlay, a VXLAN device (nolearning) with a local address of the
// underlay's family, a bridge with the pod subnet's gateway, one pod behind a
// veth, and for the other node an onlink route via its subnet's network
// address, a permanent neighbour entry (that address → its VTEP MAC) and a
// permanent FDB entry (VTEP MAC → its underlay address). The pods are of the
// underlay's family, as flannel's are. Options switch on the knobs the
// benchmark tries.
import { randomBytes } from 'node:crypto';
import { VXLAN_OVERHEAD } from '../src/daemon/config.ts';
import type { Family } from '../src/net/address.ts';
import { addNetns, removeLink, removeNetns } from '../testbed/netns.ts';
import { must } from '../testbed/shell.ts';
import type { Teardown } from '../testbed/teardown.ts';

export type HandOptions = {
  label: string;
  /** The underlay's family, and so the pods' (VXLAN over IPv6 carries IPv6 pods, as flannel's flannel-v6.1 does). */
  family: Family;
  /** The underlay's MTU; every overlay MTU is VXLAN's overhead over the underlay's family less (50 over IPv4, 70 over IPv6). */
  underlayMtu: number;
  /** Outer UDP checksums over IPv4; on is what `ip link add … type vxlan` gives on this kernel (as weft's device has). IPv6 always has them, as weft6's device does. */
  udpcsum: boolean;
  /** GRO on every veth (node underlay end, pod ends): the veth then receives through NAPI. */
  gro: boolean;
  /** net.bridge.bridge-nf-call-{iptables,ip6tables,arptables} in the nodes (1 is the kernel's default). */
  brNetfilter: boolean;
  /** TX checksum offload on the VXLAN device; off is flannel's old workaround for a kernel checksum bug. */
  vxlanTxCsum: boolean;
};

export const HAND_DEFAULTS: Omit<HandOptions, 'label'> = { family: 4, underlayMtu: 1500, udpcsum: true, gro: false, brNetfilter: true, vxlanTxCsum: true };

export type Endpoint = { netns: string; ip: string };
export type HandTopology = { label: string; options: HandOptions; nodes: [Endpoint, Endpoint]; pods: [Endpoint, Endpoint]; podMtu: number };

/**
 * Node i's addresses in each family: its underlay address, and address n of
 * its pod subnet (0 the network address the other node routes via, 1 the
 * gateway, 2 the pod), with the prefix lengths.
 */
type AddressPlan = { underlay: (i: number) => string; underlayPrefix: number; podSubnet: (i: number, n: number) => string; podPrefix: number };

const PLANS: Record<Family, AddressPlan> = {
  4: { underlay: (i) => `10.231.0.${10 + i}`, underlayPrefix: 24, podSubnet: (i, n) => `10.245.${i}.${n}`, podPrefix: 24 },
  6: { underlay: (i) => `fd00:231::${10 + i}`, underlayPrefix: 64, podSubnet: (i, n) => `fd00:245:0:${i}::${n || ''}`, podPrefix: 64 },
};

// DAD off for every IPv6 address: the topology is ours alone, and a tentative
// address would fail the first packets.
const NODAD: Record<Family, string[]> = { 4: [], 6: ['nodad'] };

const FORWARDING: Record<Family, string> = { 4: 'net.ipv4.ip_forward=1', 6: 'net.ipv6.conf.all.forwarding=1' };

/** The VXLAN device's name, flannel's for each family. */
const VXLAN_DEVICE: Record<Family, string> = { 4: 'flannel.1', 6: 'flannel-v6.1' };

const run = (args: string[]) => must(args[0]!, args.slice(1));

const vtepMac = (i: number) => `0e:fa:00:00:00:0${i}`;

export async function buildByHand(options: HandOptions, teardown: Teardown): Promise<HandTopology> {
  const id = randomBytes(3).toString('hex');
  const bridge = `fh${id}`;
  const { family } = options;
  const plan = PLANS[family];
  const nodad = NODAD[family];
  const vxlan = VXLAN_DEVICE[family];
  const mtu = options.underlayMtu;
  const podMtu = mtu - VXLAN_OVERHEAD[family];
  await run(['ip', 'link', 'add', bridge, 'mtu', String(mtu), 'type', 'bridge']);
  teardown.add(`bridge ${bridge}`, () => removeLink(bridge));
  await run(['ip', 'link', 'set', bridge, 'up']);
  const nodes: Endpoint[] = [];
  const pods: Endpoint[] = [];
  for (const i of [1, 2]) {
    const node = `fh-${id}-n${i}`;
    const pod = `fh-${id}-p${i}`;
    const underlayIp = plan.underlay(i);
    for (const netns of [node, pod]) {
      await addNetns(netns);
      teardown.add(`netns ${netns}`, () => removeNetns(netns));
    }
    const hostEnd = `${bridge}n${i}`;
    await run(['ip', 'link', 'add', hostEnd, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu), 'netns', node]);
    await run(['ip', 'link', 'set', hostEnd, 'master', bridge, 'up']);
    const inNode = (args: string[]) => run(['ip', '-n', node, ...args]);
    await inNode(['addr', 'add', `${underlayIp}/${plan.underlayPrefix}`, 'dev', 'eth0', ...nodad]);
    await inNode(['link', 'set', 'eth0', 'up']);
    await inNode(['link', 'set', 'lo', 'up']);
    await run(['ip', 'netns', 'exec', node, 'sysctl', '-qw', FORWARDING[family]]);
    await inNode([
      'link',
      'add',
      vxlan,
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
      ...(family === 4 ? [options.udpcsum ? 'udpcsum' : 'noudpcsum'] : []),
    ]);
    await inNode(['link', 'set', vxlan, 'up']);
    await inNode(['link', 'add', 'cni0', 'mtu', String(podMtu), 'type', 'bridge']);
    await inNode(['addr', 'add', `${plan.podSubnet(i, 1)}/${plan.podPrefix}`, 'dev', 'cni0', ...nodad]);
    await inNode(['link', 'set', 'cni0', 'up']);
    await inNode(['link', 'add', 'vethpod', 'mtu', String(podMtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(podMtu), 'netns', pod]);
    await inNode(['link', 'set', 'vethpod', 'master', 'cni0', 'up']);
    const inPod = (args: string[]) => run(['ip', '-n', pod, ...args]);
    await inPod(['addr', 'add', `${plan.podSubnet(i, 2)}/${plan.podPrefix}`, 'dev', 'eth0', ...nodad]);
    await inPod(['link', 'set', 'eth0', 'up']);
    await inPod(['link', 'set', 'lo', 'up']);
    await inPod(['route', 'add', 'default', 'via', plan.podSubnet(i, 1)]);
    if (!options.brNetfilter) {
      for (const t of ['iptables', 'ip6tables', 'arptables']) await run(['ip', 'netns', 'exec', node, 'sysctl', '-qw', `net.bridge.bridge-nf-call-${t}=0`]);
    }
    if (!options.vxlanTxCsum) await run(['ip', 'netns', 'exec', node, 'ethtool', '-K', vxlan, 'tx', 'off']);
    if (options.gro) {
      await run(['ip', 'netns', 'exec', node, 'ethtool', '-K', 'eth0', 'gro', 'on']);
      await run(['ip', 'netns', 'exec', node, 'ethtool', '-K', 'vethpod', 'gro', 'on']);
      await run(['ip', 'netns', 'exec', pod, 'ethtool', '-K', 'eth0', 'gro', 'on']);
    }
    nodes.push({ netns: node, ip: underlayIp });
    pods.push({ netns: pod, ip: plan.podSubnet(i, 2) });
  }
  for (const [i, j] of [
    [1, 2],
    [2, 1],
  ] as const) {
    const node = nodes[i - 1]!.netns;
    const remoteNet = plan.podSubnet(j, 0);
    await run(['ip', '-n', node, 'route', 'add', `${remoteNet}/${plan.podPrefix}`, 'via', remoteNet, 'dev', vxlan, 'onlink']);
    await run(['ip', '-n', node, 'neigh', 'add', remoteNet, 'lladdr', vtepMac(j), 'dev', vxlan, 'nud', 'permanent']);
    await run(['bridge', '-n', node, 'fdb', 'append', vtepMac(j), 'dev', vxlan, 'dst', nodes[j - 1]!.ip, 'self', 'permanent']);
  }
  return { label: options.label, options, nodes: [nodes[0]!, nodes[1]!], pods: [pods[0]!, pods[1]!], podMtu };
}
