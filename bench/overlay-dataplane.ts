// `make bench-dataplane`: TCP throughput (iperf3) pod → pod across two node
// namespaces wired by weft (real control plane, weftd on each node, pods
// added by the weft plugin through cnitool), in the same run as
//   - node → node over the same underlay (the nodes' eth0 addresses), and
//   - the same topology built by hand with iproute2 the way flannel does it
//     (overlay-flannel-by-hand.ts): the kernel path's own limit,
// plus by-hand variants with one knob changed each (GRO on the veths,
// br_netfilter off, no outer UDP checksum, a jumbo underlay, TX checksum
// offload off on the VXLAN device as old flannel did), and weft itself
// with each knob weft could set toggled in place. Runs are interleaved
// (round r runs every path once) and each path reports its median.
//
// Also checks the pod MTU end to end: `ping -M do` at MTU-28 crosses, at
// MTU-27 fails with "message too long", and no node fragments or reassembles
// anything (/proc/net/snmp) during the pings or the iperf runs.
//
// Target: weft >= 100% of the by-hand topology. Writes
// bench/results/overlay-dataplane.json. Everything it makes is removed at the
// end, on failure and on Ctrl-C.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { parseFlagsOrExit, wholeNumber } from './lib/flags.ts';
import { CLUSTER_CIDR, Cluster, type ClusterNode, eventually } from '../test/support/cluster.ts';
import { type IperfRun, iperfClient, startIperfServer, waitIperfServer } from './lib/iperf.ts';
import { machineInfo } from './lib/machine.ts';
import { round2 } from './lib/stats.ts';
import { Teardown } from './lib/teardown.ts';
import { buildByHand, HAND_DEFAULTS, type HandTopology } from './overlay-flannel-by-hand.ts';
import { stopProcess } from '../test/support/process.ts';
import { startWeftd } from './overlay-weftd.ts';
import { SYSTEM_PATH } from '../test/support/host.ts';

const repo = join(import.meta.dirname, '..');
const SYSTEM_ENV = { PATH: SYSTEM_PATH };
const PORT = 5201;

const USAGE = `usage: node bench/overlay-dataplane.ts [--runs 5] [--seconds 5] [--streams 1] [--no-knobs]
  --runs      interleaved rounds; every path runs once per round, in a new order each round (default 5)
  --seconds   length of each iperf3 run, after 1 s of slow start left out (default 5)
  --streams   parallel TCP streams per run (default 1)
  --no-knobs  only weft, node→node and the by-hand reference`;

type Flags = { runs: number; seconds: number; streams: number; knobs: boolean };

function parseFlags(): Flags {
  const values = parseFlagsOrExit(USAGE, () => parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '5' },
      streams: { type: 'string', default: '1' },
      'no-knobs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }));
  const int = (flag: string, v: string) => wholeNumber(USAGE, flag, v, 1);
  return { runs: int('runs', values.runs), seconds: int('seconds', values.seconds), streams: int('streams', values.streams), knobs: !values['no-knobs'] };
}

const sh = (args: string[]) => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', env: SYSTEM_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
const shResult = (args: string[]) => {
  try {
    return { ok: true, out: sh(args) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
};

/** One iperf3 direction: client in `from`, server bound to `to` inside `serverNetns`. */
type Path = { name: string; group: 'reference' | 'knob' | 'weft-knob'; from: string; to: string; serverNetns: string; runs: (IperfRun & { load1: number })[] };

// --- MTU and fragmentation --------------------------------------------------

/** IP counters of a namespace that move when anything is fragmented or reassembled. */
function fragCounters(netns: string): Record<string, number> {
  const lines = sh(['ip', 'netns', 'exec', netns, 'cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Ip:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  const all = Object.fromEntries(names.map((n, i) => [n, values[i]!]));
  return { FragCreates: all.FragCreates!, FragOKs: all.FragOKs!, ReasmReqds: all.ReasmReqds!, FragFails: all.FragFails! };
}

function fragDelta(before: Record<string, number>[], after: Record<string, number>[]): number {
  let sum = 0;
  before.forEach((b, i) => {
    for (const k of Object.keys(b)) sum += after[i]![k]! - b[k]!;
  });
  return sum;
}

type MtuCheck = { label: string; podMtu: number; dfFits: boolean; dfTooBig: boolean; tooBigMessage: string; fragmentsDuringPing: number };

function mtuCheck(label: string, fromPod: string, toIp: string, podMtu: number, nodeNetns: string[]): MtuCheck {
  const before = nodeNetns.map(fragCounters);
  const fits = shResult(['ip', 'netns', 'exec', fromPod, 'ping', '-M', 'do', '-s', String(podMtu - 28), '-c', '3', '-i', '0.2', '-W', '2', toIp]);
  const over = shResult(['ip', 'netns', 'exec', fromPod, 'ping', '-M', 'do', '-s', String(podMtu - 27), '-c', '1', '-W', '2', toIp]);
  const after = nodeNetns.map(fragCounters);
  const message = /message too long[^\n]*/i.exec(over.out)?.[0] ?? over.out.trim().split('\n').at(-1) ?? '';
  return { label, podMtu, dfFits: fits.ok, dfTooBig: !over.ok && /message too long/i.test(over.out), tooBigMessage: message, fragmentsDuringPing: fragDelta(before, after) };
}

function linkMtu(netns: string, dev: string): number {
  return (JSON.parse(sh(['ip', '-n', netns, '-j', 'link', 'show', 'dev', dev])) as { mtu: number }[])[0]!.mtu;
}

// --- offloads ---------------------------------------------------------------

const FEATURES = [
  'rx-checksumming', 'tx-checksumming', 'scatter-gather', 'tcp-segmentation-offload', 'generic-segmentation-offload',
  'generic-receive-offload', 'rx-gro-list', 'rx-udp-gro-forwarding', 'tx-udp_tnl-segmentation', 'tx-udp_tnl-csum-segmentation',
];

function offloads(netns: string, dev: string): Record<string, string> {
  const out = sh(['ip', 'netns', 'exec', netns, 'ethtool', '-k', dev]);
  const got: Record<string, string> = {};
  for (const f of FEATURES) got[f] = (/^(\S+)/.exec(new RegExp(`^${f}: (.*)$`, 'm').exec(out)?.[1] ?? '-')?.[1] ?? '-') + (new RegExp(`^${f}: .*\\[fixed\\]`, 'm').test(out) ? ' (fixed)' : '');
  return got;
}

// --- weft cluster -------------------------------------------------------------

type WeftSetup = { c: Cluster; pods: { name: string; ip: string; node: ClusterNode }[] };

async function weftCluster(teardown: Teardown): Promise<WeftSetup> {
  const c = await Cluster.start(2);
  teardown.add('weft cluster', () => c.destroy());
  for (const node of c.nodes) {
    const w = startWeftd({
      netns: node.netns, nodeName: node.name, kubeconfig: c.cp.kubeconfig, clusterCidrs: [CLUSTER_CIDR],
      subnetFile: node.subnetFile, log: node.weftdLog, mode: 'sea',
    });
    teardown.add(`weftd on ${node.name}`, () => w.stop('SIGKILL'));
  }
  for (const node of c.nodes) {
    await eventually(`${node.name} ready with 1 peer`, async () => {
      const s = await c.weftdStatus(node);
      return s.readiness === 'ready' && s.peers.length === 1 ? true : undefined;
    }, 60_000, 200);
  }
  const pods = [];
  for (const node of c.nodes) pods.push(await c.addPod(node));
  return { c, pods };
}

/** The weft node's host-side veth of its one pod. */
function podHostVeth(node: ClusterNode): string {
  const links = JSON.parse(sh(['ip', '-n', node.netns, '-j', 'link', 'show', 'master', 'weft0'])) as { ifname: string }[];
  return links[0]!.ifname;
}

type WeftKnob = { name: string; apply: (on: boolean) => void };

function weftKnobs(setup: WeftSetup): WeftKnob[] {
  const { c, pods } = setup;
  const ethtool = (netns: string, dev: string, feature: string, on: boolean) => sh(['ip', 'netns', 'exec', netns, 'ethtool', '-K', dev, feature, on ? 'on' : 'off']);
  return [
    {
      name: 'weft + GRO on every veth',
      apply: (on) => {
        for (const n of c.nodes) {
          ethtool(n.netns, 'eth0', 'gro', on);
          ethtool(n.netns, podHostVeth(n), 'gro', on);
        }
        for (const p of pods) ethtool(p.name, 'eth0', 'gro', on);
      },
    },
    {
      name: 'weft + bridge-nf-call-* = 0',
      apply: (on) => {
        for (const n of c.nodes) for (const t of ['iptables', 'ip6tables', 'arptables']) sh(['ip', 'netns', 'exec', n.netns, 'sysctl', '-qw', `net.bridge.bridge-nf-call-${t}=${on ? 0 : 1}`]);
      },
    },
  ];
}

// --- main -----------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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

function measure(path: Path, flags: Flags): void {
  const load1 = loadavg()[0]!;
  const r = iperfClient(path.from, path.to, PORT, flags.seconds, 1, flags.streams);
  path.runs.push({ ...r, load1 });
  console.error(`  ${path.name}: ${r.gbps.toFixed(2)} Gbit/s (retr ${r.retransmits}, load ${load1.toFixed(2)})`);
}

type Summary = { name: string; group: Path['group']; medianGbps: number; minGbps: number; maxGbps: number; retransmits: number; load1: number[]; runs: IperfRun[] };

function summarize(p: Path): Summary {
  const g = p.runs.map((r) => r.gbps);
  return {
    name: p.name,
    group: p.group,
    medianGbps: median(g),
    minGbps: Math.min(...g),
    maxGbps: Math.max(...g),
    retransmits: p.runs.reduce((a, r) => a + r.retransmits, 0),
    load1: p.runs.map((r) => r.load1),
    runs: p.runs.map(({ load1: _l, ...r }) => r),
  };
}

async function main(): Promise<void> {
  const flags = parseFlags();
  if (process.getuid?.() !== 0) throw new Error('bench-dataplane needs root');
  for (const bin of ['dist/weft', 'dist/weftd', '.cache/bin/cnitool', '.cache/bin/etcd', '.cache/bin/kube-apiserver']) {
    if (!existsSync(join(repo, bin))) throw new Error(`${bin} is missing: run make build go-tools kube-tools`);
  }
  for (const tool of ['iperf3', 'ethtool']) {
    if (!shResult(['sh', '-c', `command -v ${tool}`]).ok) throw new Error(`${tool} is not installed: apt-get install ${tool}`);
  }
  const teardown = new Teardown();
  teardown.onSignals('bench-dataplane');
  try {
    console.error(`bench-dataplane: weft cluster (2 nodes, 1 pod each) and by-hand topologies (load ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    const weft = await weftCluster(teardown);
    const [n1, n2] = weft.c.nodes as [ClusterNode, ClusterNode];
    const [p1, p2] = weft.pods as [WeftSetup['pods'][0], WeftSetup['pods'][0]];
    const hand = buildByHand({ label: 'by hand', ...HAND_DEFAULTS }, teardown);
    const variants: HandTopology[] = flags.knobs
      ? [
        buildByHand({ label: 'by hand + GRO on every veth', ...HAND_DEFAULTS, gro: true }, teardown),
        buildByHand({ label: 'by hand + bridge-nf-call-* = 0', ...HAND_DEFAULTS, brNetfilter: false }, teardown),
        buildByHand({ label: 'by hand + vxlan noudpcsum', ...HAND_DEFAULTS, udpcsum: false }, teardown),
        buildByHand({ label: 'by hand, jumbo underlay (MTU 9000)', ...HAND_DEFAULTS, underlayMtu: 9000 }, teardown),
        buildByHand({ label: 'by hand + VXLAN tx checksum off', ...HAND_DEFAULTS, vxlanTxCsum: false }, teardown),
      ]
      : [];

    const paths: Path[] = [
      { name: 'weft pod → pod', group: 'reference', from: p1.name, to: p2.ip, serverNetns: p2.name, runs: [] },
      { name: 'node → node (weft nodes\' underlay)', group: 'reference', from: n1.netns, to: n2.underlayIp, serverNetns: n2.netns, runs: [] },
      { name: 'by hand pod → pod (flannel-style)', group: 'reference', from: hand.pods[0].netns, to: hand.pods[1].ip, serverNetns: hand.pods[1].netns, runs: [] },
      ...variants.map((v): Path => ({ name: `${v.label} pod → pod`, group: 'knob', from: v.pods[0].netns, to: v.pods[1].ip, serverNetns: v.pods[1].netns, runs: [] })),
    ];
    for (const p of paths) {
      const server = startIperfServer(p.serverNetns, p.to, PORT);
      teardown.add(`iperf3 server in ${p.serverNetns}`, () => stopProcess(server, 'SIGKILL', 10_000));
    }
    for (const p of paths) await waitIperfServer(p.from, p.to, PORT);

    // MTU: the pod MTU end to end, with nothing fragmented on the way.
    const podMtu = linkMtu(p1.name, 'eth0');
    const mtu = [
      mtuCheck('weft', p1.name, p2.ip, podMtu, [n1.netns, n2.netns]),
      mtuCheck('by hand', hand.pods[0].netns, hand.pods[1].ip, hand.podMtu, hand.nodes.map((n) => n.netns)),
    ];
    const underlayMtu = linkMtu(n1.netns, 'eth0');
    const vxlanMtu = linkMtu(n1.netns, 'weft.1');
    const weftOffloads: Record<string, Record<string, string>> = {
      'node eth0 (underlay veth)': offloads(n1.netns, 'eth0'),
      'weft.1 (VXLAN)': offloads(n1.netns, 'weft.1'),
      'weft0 (bridge)': offloads(n1.netns, 'weft0'),
      'pod host veth': offloads(n1.netns, podHostVeth(n1)),
      'pod eth0': offloads(p1.name, 'eth0'),
    };
    const brNf = sh(['ip', 'netns', 'exec', n1.netns, 'sysctl', '-n', 'net.bridge.bridge-nf-call-iptables']).trim();
    const nodeRules = shResult(['ip', 'netns', 'exec', n1.netns, 'nft', 'list', 'ruleset']).out.split('\n').filter((l) => /^\s*table /.test(l)).map((l) => l.trim().replace(/ \{$/, ''));

    const fragBefore = [n1, n2].map((n) => fragCounters(n.netns));
    for (let round = 1; round <= flags.runs; round++) {
      console.error(`round ${round}/${flags.runs}`);
      // A new order every round (seeded, so reruns repeat it): no path always
      // runs first, or right after the same other path.
      for (const p of shuffled(paths, round)) measure(p, flags);
    }
    const fragmentsDuringIperf = fragDelta(fragBefore, [n1, n2].map((n) => fragCounters(n.netns)));

    // Knobs weft could set, toggled on the weft cluster itself, A/B per round.
    const weftKnobPaths: { knob: string; off: Path; on: Path }[] = [];
    if (flags.knobs) {
      for (const knob of weftKnobs(weft)) {
        const off: Path = { name: `weft pod → pod (A/B baseline for ${knob.name.replace('weft + ', '')})`, group: 'weft-knob', from: p1.name, to: p2.ip, serverNetns: p2.name, runs: [] };
        const on: Path = { name: `${knob.name} pod → pod`, group: 'weft-knob', from: p1.name, to: p2.ip, serverNetns: p2.name, runs: [] };
        try {
          for (let round = 1; round <= flags.runs; round++) {
            console.error(`${knob.name}: round ${round}/${flags.runs}`);
            knob.apply(false);
            measure(off, flags);
            knob.apply(true);
            measure(on, flags);
          }
        } finally {
          knob.apply(false);
        }
        weftKnobPaths.push({ knob: knob.name, off, on });
      }
    }

    const summaries = paths.map(summarize);
    const knobSummaries = weftKnobPaths.flatMap((k) => [summarize(k.off), summarize(k.on)]);
    const weftS = summaries[0]!;
    const handS = summaries[2]!;
    const ratio = weftS.medianGbps / handS.medianGbps;
    // Weft and by hand ran in the same rounds: the per-round ratio takes out slow drifts of the machine.
    const paired = weftS.runs.map((r, i) => r.gbps / handS.runs[i]!.gbps);
    const pairedRatio = median(paired);
    // How much the reference alone moves from run to run.
    const handSpread = (handS.maxGbps - handS.minGbps) / handS.medianGbps;
    const result = {
      machine: machineInfo(),
      config: flags,
      mtu: { underlay: underlayMtu, vxlan: vxlanMtu, pod: podMtu, checks: mtu, fragmentsDuringIperf },
      brNetfilterCallIptables: brNf,
      nodeNftTables: nodeRules,
      offloads: weftOffloads,
      paths: summaries,
      weftKnobs: knobSummaries,
      target: { what: 'weft pod→pod >= 100% of the by-hand flannel-style path', weftGbps: weftS.medianGbps, byHandGbps: handS.medianGbps, ratio, pairedRatio, pairedRatios: paired, byHandSpread: handSpread, met: ratio >= 1 },
    };
    const json = JSON.stringify(result, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? round2(v) : v), 2);
    mkdirSync(join(repo, 'bench', 'results'), { recursive: true });
    writeFileSync(join(repo, 'bench', 'results', 'overlay-dataplane.json'), `${json}\n`);

    const out: string[] = [];
    const w = Math.max(...[...summaries, ...knobSummaries].map((s) => s.name.length));
    out.push(`pod network data path, iperf3 TCP, ${flags.streams} stream(s), ${flags.runs} × ${flags.seconds} s interleaved (${result.machine.nproc} CPUs, kernel ${result.machine.kernel})`);
    out.push(`MTU: underlay ${underlayMtu}, VXLAN ${vxlanMtu}, pod ${podMtu}`);
    out.push('');
    out.push(`${'path'.padEnd(w)}  ${'median'.padStart(7)}  ${'min'.padStart(6)}  ${'max'.padStart(6)}  ${'vs hand'.padStart(7)}  ${'retr'.padStart(6)}  load1 per run`);
    const line = (s: Summary) => `${s.name.padEnd(w)}  ${s.medianGbps.toFixed(2).padStart(7)}  ${s.minGbps.toFixed(2).padStart(6)}  ${s.maxGbps.toFixed(2).padStart(6)}  ${`${Math.round((s.medianGbps / handS.medianGbps) * 100)}%`.padStart(7)}  ${String(s.retransmits).padStart(6)}  ${s.load1.map((l) => l.toFixed(2)).join(' ')}`;
    for (const s of summaries) out.push(line(s));
    if (knobSummaries.length > 0) {
      out.push('');
      out.push('knobs toggled on the weft cluster itself (A/B within each round; "vs hand" against the by-hand median above):');
      for (const s of knobSummaries) out.push(line(s));
    }
    out.push('(Gbit/s)');
    out.push('');
    for (const m of mtu) {
      out.push(`${m.label}: ping -M do -s ${m.podMtu - 28} ${m.dfFits ? 'crosses' : 'FAILS'}; -s ${m.podMtu - 27} ${m.dfTooBig ? `refused (${m.tooBigMessage})` : 'NOT refused'}; fragments/reassemblies on the nodes meanwhile: ${m.fragmentsDuringPing}`);
    }
    out.push(`fragments/reassemblies on weft's nodes during all weft iperf runs: ${fragmentsDuringIperf}`);
    out.push(`br_netfilter in weft's nodes: bridge-nf-call-iptables=${brNf}; nftables tables there: ${nodeRules.length ? nodeRules.join(', ') : 'none'}`);
    out.push('');
    out.push('offloads on weft\'s node1 (ethtool -k):');
    const devs = Object.keys(weftOffloads);
    out.push(`  ${'feature'.padEnd(30)}${devs.map((d) => d.slice(0, 18).padStart(20)).join('')}`);
    for (const f of FEATURES) out.push(`  ${f.padEnd(30)}${devs.map((d) => weftOffloads[d]![f]!.padStart(20)).join('')}`);
    out.push('');
    out.push(`weft / by hand per round: ${paired.map((x) => `${(x * 100).toFixed(1)}%`).join(' ')} (median ${(pairedRatio * 100).toFixed(1)}%); the by-hand runs alone spread over ${(handSpread * 100).toFixed(1)}% of their median`);
    out.push(`target weft pod→pod >= 100% of by hand: ${weftS.medianGbps.toFixed(2)} vs ${handS.medianGbps.toFixed(2)} Gbit/s = ${(ratio * 100).toFixed(1)}% -> ${ratio >= 1 ? 'met' : `MISSED${Math.abs(1 - ratio) < handSpread ? ' (by less than the reference\'s own run-to-run spread)' : ''}`}`);
    console.log(out.join('\n'));
    console.log();
    console.log(json);
  } catch (err) {
    await nextTurn();
    if (teardown.interrupted) {
      console.error(`bench-dataplane interrupted by ${teardown.interrupted}, no result`);
      process.exitCode = 130;
    } else {
      console.error(`bench-dataplane failed: ${(err as Error).stack ?? err}`);
      process.exitCode = 1;
    }
  } finally {
    const failed = await teardown.run();
    for (const f of failed) console.error(`bench-dataplane could not remove ${f}`);
    if (failed.length > 0) process.exitCode ||= 1;
  }
}

await main();
