// `make bench-dataplane`: TCP throughput (iperf3) pod → pod across two node
// namespaces wired by weft (testbed's Cluster: real control plane, weftd on
// each node, pods added by the weft plugin through cnitool), for each family,
// in the same run as
//   - node → node over the same underlay (the nodes' eth0 addresses), and
//   - the same topology built by hand with iproute2 the way flannel does it
//     (overlay-flannel-by-hand.ts): the kernel path's own limit,
// plus IPv4 by-hand variants with one knob changed each (GRO on the veths,
// br_netfilter off, no outer UDP checksum, a jumbo underlay, TX checksum
// offload off on the VXLAN device as old flannel did; --no-knobs leaves them
// out). Runs are interleaved (round r runs every path once, in a new order)
// and each path reports its median.
//
// IPv4 and IPv6 run on two weft clusters, an IPv4 one and an IPv6-only one
// (IPv6 underlay, weft6.1), rather than on one dual-stack cluster: with both
// underlays a pod's MTU is the smaller device MTU (1430, IPv6's), so the
// IPv4 row would measure a smaller MSS than before and than its by-hand
// reference (1450). Both clusters stay up for every round, so each path runs
// beside the same background.
//
// Also checks each pod MTU end to end: `ping -M do` at MTU-28 (IPv4) or
// MTU-48 (IPv6) crosses, one byte more fails with "message too long", and no
// node fragments or reassembles anything (/proc/net/snmp, snmp6) during the
// pings or the iperf runs.
//
// Target: weft >= 100% of the by-hand topology, per family. Writes
// bench/results/overlay-dataplane.json. Everything it makes is removed at the
// end, on failure and on Ctrl-C.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Family } from '../src/net/address.ts';
import { deviceName } from '../src/overlay/device.ts';
import { Cluster, type ClusterNode, type Pod, SHIPPED_TIMERS, type Stack } from '../testbed/cluster.ts';
import { eventually } from '../testbed/eventually.ts';
import { CACHE_BIN, CNITOOL, DIST, requireBuilt } from '../testbed/paths.ts';
import { must, sh } from '../testbed/shell.ts';
import { runScript, type Teardown } from '../testbed/teardown.ts';
import { parseFlagsOrExit, wholeNumber } from './lib/flags.ts';
import { type IperfRun, iperfClient, startIperfServer, waitIperfServer } from './lib/iperf.ts';
import { machineInfo } from './lib/machine.ts';
import { publish } from './lib/results.ts';
import { type ClusterMtu, ECHO_HEADERS, type Flags, judge, type MtuCheck, type PathRole, type Result, summarize, table } from './overlay-dataplane-report.ts';
import { buildByHand, HAND_DEFAULTS, type HandTopology } from './overlay-flannel-by-hand.ts';

const PORT = 5201;

const USAGE = `usage: node bench/overlay-dataplane.ts [--runs 5] [--seconds 5] [--streams 1] [--no-knobs]
  --runs      interleaved rounds; every path runs once per round, in a new order each round (default 5)
  --seconds   length of each iperf3 run, after 1 s of slow start left out (default 5)
  --streams   parallel TCP streams per run (default 1)
  --no-knobs  only weft, node→node and the by-hand reference, of each family`;

function parseFlags(): Flags {
  const values = parseFlagsOrExit(USAGE, () =>
    parseArgs({
      options: {
        runs: { type: 'string', default: '5' },
        seconds: { type: 'string', default: '5' },
        streams: { type: 'string', default: '1' },
        'no-knobs': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }),
  );
  const int = (flag: string, v: string) => wholeNumber(USAGE, flag, v, 1);
  return { runs: int('runs', values.runs), seconds: int('seconds', values.seconds), streams: int('streams', values.streams), knobs: !values['no-knobs'] };
}

/** One iperf3 direction: client in `from`, server bound to `to` inside `serverNetns`. */
type Path = { name: string; family: Family; role: PathRole; from: string; to: string; serverNetns: string; runs: (IperfRun & { load1: number })[] };

// --- MTU and fragmentation --------------------------------------------------

const FRAG_COUNTERS = ['FragCreates', 'FragOKs', 'ReasmReqds', 'FragFails'];

/** IP counters of a namespace, both families, that move when anything is fragmented or reassembled. */
async function fragCounters(netns: string): Promise<Record<string, number>> {
  const [snmp, snmp6] = await Promise.all(['/proc/net/snmp', '/proc/net/snmp6'].map((f) => must('ip', ['netns', 'exec', netns, 'cat', f])));
  // snmp: a line of IPv4 counter names, then one of their values; snmp6: a "name value" line per counter.
  const lines = snmp!.split('\n').filter((l) => l.startsWith('Ip:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  const v4 = Object.fromEntries(names.map((n, i) => [n, values[i]!]));
  const v6 = Object.fromEntries(
    snmp6!
      .split('\n')
      .map((l) => l.split(/\s+/))
      .map(([n, v]) => [n, Number(v)]),
  );
  return Object.fromEntries(
    FRAG_COUNTERS.flatMap((c) => [
      [c, v4[c]!],
      [`Ip6${c}`, v6[`Ip6${c}`]!],
    ]),
  );
}

/** How many fragmentations and reassemblies the nodes did while `what` ran. */
async function fragmentsDuring(nodeNetns: string[], what: () => Promise<unknown>): Promise<number> {
  const before = await Promise.all(nodeNetns.map(fragCounters));
  await what();
  const after = await Promise.all(nodeNetns.map(fragCounters));
  return before.reduce((sum, b, i) => sum + Object.keys(b).reduce((s, k) => s + after[i]![k]! - b[k]!, 0), 0);
}

async function mtuCheck(label: string, family: Family, fromPod: string, toIp: string, podMtu: number, nodeNetns: string[]): Promise<MtuCheck> {
  const ping = (size: number, count: number) =>
    sh('ip', ['netns', 'exec', fromPod, 'ping', '-M', 'do', '-s', String(size), '-c', String(count), '-i', '0.2', '-W', '2', toIp]);
  let fits!: Awaited<ReturnType<typeof ping>>;
  let over!: Awaited<ReturnType<typeof ping>>;
  const fragments = await fragmentsDuring(nodeNetns, async () => {
    fits = await ping(podMtu - ECHO_HEADERS[family], 3);
    over = await ping(podMtu - ECHO_HEADERS[family] + 1, 1);
  });
  const overOut = `${over.stdout}${over.stderr}`;
  const message = /message too long[^\n]*/i.exec(overOut)?.[0] ?? overOut.trim().split('\n').at(-1) ?? '';
  return {
    label,
    family,
    podMtu,
    dfFits: fits.exitCode === 0,
    dfTooBig: over.exitCode !== 0 && /message too long/i.test(overOut),
    tooBigMessage: message,
    fragmentsDuringPing: fragments,
  };
}

async function linkMtu(netns: string, dev: string): Promise<number> {
  return (JSON.parse(await must('ip', ['-n', netns, '-j', 'link', 'show', 'dev', dev])) as { mtu: number }[])[0]!.mtu;
}

// --- weft and the paths --------------------------------------------------------

type WeftCluster = { family: Family; nodes: [ClusterNode, ClusterNode]; pods: [Pod, Pod] };

/** Two weft nodes of one family (pods and underlay) with weftd (its shipped timers) and one pod each. */
async function weftCluster(family: Family, teardown: Teardown): Promise<WeftCluster> {
  const stack: Stack = family === 4 ? 'ipv4' : 'ipv6';
  const c = await Cluster.start(2, teardown, { stack });
  for (const node of c.nodes) await c.startWeftd(node, [], SHIPPED_TIMERS);
  for (const node of c.nodes) {
    await eventually(
      `${node.name} ready with 1 peer`,
      async () => {
        const s = await c.weftdStatus(node);
        return s.readiness === 'ready' && s.peers.length === 1;
      },
      60_000,
      200,
    );
  }
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  return { family, nodes: [n1, n2], pods: [await c.addPod(n1), await c.addPod(n2)] };
}

/** weft pod → pod and node → node over its underlay, in a cluster of one family. */
function weftPaths({ family, nodes: [n1, n2], pods: [p1, p2] }: WeftCluster): Path[] {
  return [
    { name: `weft IPv${family} pod → pod`, family, role: 'weft', from: p1.name, to: p2.ips[family]!, serverNetns: p2.name, runs: [] },
    {
      name: `node → node over IPv${family} (weft nodes' underlay)`,
      family,
      role: 'node',
      from: n1.netns,
      to: n2.underlay[family]!,
      serverNetns: n2.netns,
      runs: [],
    },
  ];
}

function handPath(v: HandTopology, role: PathRole): Path {
  return {
    name: `${v.label} pod → pod${role === 'hand' ? ' (flannel-style)' : ''}`,
    family: v.options.family,
    role,
    from: v.pods[0].netns,
    to: v.pods[1].ip,
    serverNetns: v.pods[1].netns,
    runs: [],
  };
}

/** weft's pod MTU end to end in a cluster, and its MTUs for the result. */
async function weftMtu({ family, nodes: [n1, n2], pods: [p1, p2] }: WeftCluster): Promise<{ check: MtuCheck; mtu: ClusterMtu }> {
  const pod = await linkMtu(p1.name, 'eth0');
  const vxlanDevice = deviceName(1, family);
  return {
    check: await mtuCheck(`weft IPv${family}`, family, p1.name, p2.ips[family]!, pod, [n1.netns, n2.netns]),
    mtu: { family, underlay: await linkMtu(n1.netns, 'eth0'), vxlanDevice, vxlan: await linkMtu(n1.netns, vxlanDevice), pod },
  };
}

function handMtuCheck(v: HandTopology): Promise<MtuCheck> {
  return mtuCheck(
    v.label,
    v.options.family,
    v.pods[0].netns,
    v.pods[1].ip,
    v.podMtu,
    v.nodes.map((n) => n.netns),
  );
}

/** Fisher-Yates with a small seeded generator (mulberry32). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed * 0x9e3779b9;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function measure(path: Path, flags: Flags): Promise<void> {
  const load1 = loadavg()[0]!;
  const r = await iperfClient(path.from, path.to, PORT, flags.seconds, 1, flags.streams);
  path.runs.push({ ...r, load1 });
  console.error(`  ${path.name}: ${r.gbps.toFixed(2)} Gbit/s (retr ${r.retransmits}, load ${load1.toFixed(2)})`);
}

await runScript('bench-dataplane', async (teardown) => {
  const flags = parseFlags();
  if (process.getuid?.() !== 0) throw new Error('bench-dataplane needs root');
  for (const built of [join(DIST, 'weft'), join(DIST, 'weftd'), CNITOOL, join(CACHE_BIN, 'etcd'), join(CACHE_BIN, 'kube-apiserver')])
    requireBuilt(built, 'run make build go-tools kube-tools');
  for (const tool of ['iperf3', 'ethtool']) {
    if ((await sh('sh', ['-c', `command -v ${tool}`])).exitCode !== 0) throw new Error(`${tool} is not installed: apt-get install ${tool}`);
  }
  console.error(
    `bench-dataplane: weft clusters (IPv4 and IPv6, 2 nodes, 1 pod each) and by-hand topologies (load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
  const weft4 = await weftCluster(4, teardown);
  const weft6 = await weftCluster(6, teardown);
  const hand4 = await buildByHand({ label: 'by hand IPv4', ...HAND_DEFAULTS }, teardown);
  const hand6 = await buildByHand({ label: 'by hand IPv6', ...HAND_DEFAULTS, family: 6 }, teardown);
  const variants = flags.knobs
    ? [
        await buildByHand({ label: 'by hand IPv4 + GRO on every veth', ...HAND_DEFAULTS, gro: true }, teardown),
        await buildByHand({ label: 'by hand IPv4 + bridge-nf-call-* = 0', ...HAND_DEFAULTS, brNetfilter: false }, teardown),
        await buildByHand({ label: 'by hand IPv4 + vxlan noudpcsum', ...HAND_DEFAULTS, udpcsum: false }, teardown),
        await buildByHand({ label: 'by hand IPv4, jumbo underlay (MTU 9000)', ...HAND_DEFAULTS, underlayMtu: 9000 }, teardown),
        await buildByHand({ label: 'by hand IPv4 + VXLAN tx checksum off', ...HAND_DEFAULTS, vxlanTxCsum: false }, teardown),
      ]
    : [];

  const paths: Path[] = [
    ...weftPaths(weft4),
    handPath(hand4, 'hand'),
    ...variants.map((v) => handPath(v, 'knob')),
    ...weftPaths(weft6),
    handPath(hand6, 'hand'),
  ];
  for (const p of paths) {
    const server = startIperfServer(p.serverNetns, p.to, PORT);
    teardown.add(`iperf3 server in ${p.serverNetns}`, () => server.stop('SIGKILL', 10_000));
  }
  for (const p of paths) await waitIperfServer(p.from, p.to, PORT);

  // MTU: each pod MTU end to end, with nothing fragmented on the way.
  const weftMtus = [await weftMtu(weft4), await weftMtu(weft6)];
  const checks = [weftMtus[0]!.check, await handMtuCheck(hand4), weftMtus[1]!.check, await handMtuCheck(hand6)];
  const weftNodes = [...weft4.nodes, ...weft6.nodes].map((n) => n.netns);
  const fragmentsDuringIperf = await fragmentsDuring(weftNodes, async () => {
    for (let round = 1; round <= flags.runs; round++) {
      console.error(`round ${round}/${flags.runs}`);
      // A new order every round (seeded, so reruns repeat it): no path always
      // runs first, or right after the same other path.
      for (const p of shuffled(paths, round)) await measure(p, flags);
    }
  });

  const summaries = paths.map((p) => summarize(p.name, p.family, p.role, p.runs));
  const result: Result = {
    machine: machineInfo(),
    config: flags,
    mtu: { clusters: weftMtus.map((m) => m.mtu), checks, fragmentsDuringIperf },
    paths: summaries,
    targets: [judge(summaries, 4), judge(summaries, 6)],
  };
  publish('overlay-dataplane', result, table(result));
});
