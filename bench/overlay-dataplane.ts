// `make bench-dataplane`: TCP throughput (iperf3) pod → pod across two node
// namespaces wired by weft (testbed's Cluster: real control plane, weftd on
// each node, pods added by the weft plugin through cnitool), in the same run
// as
//   - node → node over the same underlay (the nodes' eth0 addresses), and
//   - the same topology built by hand with iproute2 the way flannel does it
//     (overlay-flannel-by-hand.ts): the kernel path's own limit,
// plus by-hand variants with one knob changed each (GRO on the veths,
// br_netfilter off, no outer UDP checksum, a jumbo underlay, TX checksum
// offload off on the VXLAN device as old flannel did; --no-knobs leaves them
// out). Runs are interleaved (round r runs every path once, in a new order)
// and each path reports its median.
//
// Also checks the pod MTU end to end: `ping -M do` at MTU-28 crosses, at
// MTU-27 fails with "message too long", and no node fragments or reassembles
// anything (/proc/net/snmp) during the pings or the iperf runs.
//
// Target: weft >= 100% of the by-hand topology. Writes
// bench/results/overlay-dataplane.json. Everything it makes is removed at the
// end, on failure and on Ctrl-C.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster, type ClusterNode, type Pod, SHIPPED_TIMERS } from '../testbed/cluster.ts';
import { eventually } from '../testbed/eventually.ts';
import { CACHE_BIN, CNITOOL, DIST, requireBuilt } from '../testbed/paths.ts';
import { must, sh } from '../testbed/shell.ts';
import { runScript, type Teardown } from '../testbed/teardown.ts';
import { parseFlagsOrExit, wholeNumber } from './lib/flags.ts';
import { type IperfRun, iperfClient, startIperfServer, waitIperfServer } from './lib/iperf.ts';
import { machineInfo } from './lib/machine.ts';
import { publish } from './lib/results.ts';
import { type Flags, judge, type MtuCheck, type Result, summarize, table } from './overlay-dataplane-report.ts';
import { buildByHand, HAND_DEFAULTS } from './overlay-flannel-by-hand.ts';

const PORT = 5201;

const USAGE = `usage: node bench/overlay-dataplane.ts [--runs 5] [--seconds 5] [--streams 1] [--no-knobs]
  --runs      interleaved rounds; every path runs once per round, in a new order each round (default 5)
  --seconds   length of each iperf3 run, after 1 s of slow start left out (default 5)
  --streams   parallel TCP streams per run (default 1)
  --no-knobs  only weft, node→node and the by-hand reference`;

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
type Path = { name: string; from: string; to: string; serverNetns: string; runs: (IperfRun & { load1: number })[] };

// --- MTU and fragmentation --------------------------------------------------

/** IP counters of a namespace that move when anything is fragmented or reassembled. */
async function fragCounters(netns: string): Promise<Record<string, number>> {
  const lines = (await must('ip', ['netns', 'exec', netns, 'cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Ip:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  const all = Object.fromEntries(names.map((n, i) => [n, values[i]!]));
  return { FragCreates: all.FragCreates!, FragOKs: all.FragOKs!, ReasmReqds: all.ReasmReqds!, FragFails: all.FragFails! };
}

/** How many fragmentations and reassemblies the nodes did while `what` ran. */
async function fragmentsDuring(nodeNetns: string[], what: () => Promise<unknown>): Promise<number> {
  const before = await Promise.all(nodeNetns.map(fragCounters));
  await what();
  const after = await Promise.all(nodeNetns.map(fragCounters));
  return before.reduce((sum, b, i) => sum + Object.keys(b).reduce((s, k) => s + after[i]![k]! - b[k]!, 0), 0);
}

async function mtuCheck(label: string, fromPod: string, toIp: string, podMtu: number, nodeNetns: string[]): Promise<MtuCheck> {
  const ping = (size: number, count: number) =>
    sh('ip', ['netns', 'exec', fromPod, 'ping', '-M', 'do', '-s', String(size), '-c', String(count), '-i', '0.2', '-W', '2', toIp]);
  let fits!: Awaited<ReturnType<typeof ping>>;
  let over!: Awaited<ReturnType<typeof ping>>;
  const fragments = await fragmentsDuring(nodeNetns, async () => {
    fits = await ping(podMtu - 28, 3);
    over = await ping(podMtu - 27, 1);
  });
  const overOut = `${over.stdout}${over.stderr}`;
  const message = /message too long[^\n]*/i.exec(overOut)?.[0] ?? overOut.trim().split('\n').at(-1) ?? '';
  return {
    label,
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

/** Two weft nodes with weftd (its shipped timers) and one pod each. */
async function weftCluster(teardown: Teardown): Promise<{ nodes: [ClusterNode, ClusterNode]; pods: [Pod, Pod] }> {
  const c = await Cluster.start(2, teardown);
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
  return { nodes: [n1, n2], pods: [await c.addPod(n1), await c.addPod(n2)] };
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
    `bench-dataplane: weft cluster (2 nodes, 1 pod each) and by-hand topologies (load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
  const {
    nodes: [n1, n2],
    pods: [p1, p2],
  } = await weftCluster(teardown);
  const hand = await buildByHand({ label: 'by hand', ...HAND_DEFAULTS }, teardown);
  const variants = flags.knobs
    ? [
        await buildByHand({ label: 'by hand + GRO on every veth', ...HAND_DEFAULTS, gro: true }, teardown),
        await buildByHand({ label: 'by hand + bridge-nf-call-* = 0', ...HAND_DEFAULTS, brNetfilter: false }, teardown),
        await buildByHand({ label: 'by hand + vxlan noudpcsum', ...HAND_DEFAULTS, udpcsum: false }, teardown),
        await buildByHand({ label: 'by hand, jumbo underlay (MTU 9000)', ...HAND_DEFAULTS, underlayMtu: 9000 }, teardown),
        await buildByHand({ label: 'by hand + VXLAN tx checksum off', ...HAND_DEFAULTS, vxlanTxCsum: false }, teardown),
      ]
    : [];

  const paths: Path[] = [
    { name: 'weft pod → pod', from: p1.name, to: p2.ip, serverNetns: p2.name, runs: [] },
    { name: "node → node (weft nodes' underlay)", from: n1.netns, to: n2.underlayIp, serverNetns: n2.netns, runs: [] },
    ...[hand, ...variants].map(
      (v): Path => ({
        name: `${v.label} pod → pod${v === hand ? ' (flannel-style)' : ''}`,
        from: v.pods[0].netns,
        to: v.pods[1].ip,
        serverNetns: v.pods[1].netns,
        runs: [],
      }),
    ),
  ];
  for (const p of paths) {
    const server = startIperfServer(p.serverNetns, p.to, PORT);
    teardown.add(`iperf3 server in ${p.serverNetns}`, () => server.stop('SIGKILL', 10_000));
  }
  for (const p of paths) await waitIperfServer(p.from, p.to, PORT);

  // MTU: the pod MTU end to end, with nothing fragmented on the way.
  const podMtu = await linkMtu(p1.name, 'eth0');
  const checks = [
    await mtuCheck('weft', p1.name, p2.ip, podMtu, [n1.netns, n2.netns]),
    await mtuCheck(
      'by hand',
      hand.pods[0].netns,
      hand.pods[1].ip,
      hand.podMtu,
      hand.nodes.map((n) => n.netns),
    ),
  ];
  const fragmentsDuringIperf = await fragmentsDuring([n1.netns, n2.netns], async () => {
    for (let round = 1; round <= flags.runs; round++) {
      console.error(`round ${round}/${flags.runs}`);
      // A new order every round (seeded, so reruns repeat it): no path always
      // runs first, or right after the same other path.
      for (const p of shuffled(paths, round)) await measure(p, flags);
    }
  });

  const summaries = paths.map((p) => summarize(p.name, p.runs));
  const result: Result = {
    machine: machineInfo(),
    config: flags,
    mtu: { underlay: await linkMtu(n1.netns, 'eth0'), vxlan: await linkMtu(n1.netns, 'weft.1'), pod: podMtu, checks, fragmentsDuringIperf },
    paths: summaries,
    target: judge(summaries[0]!, summaries[2]!),
  };
  publish('overlay-dataplane', result, table(result));
});
