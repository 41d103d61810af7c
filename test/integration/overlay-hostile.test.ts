// One bad or hostile Node must not disturb any other node's overlay. Each
// test runs weftd in node namespaces against a real API server, shows what
// an operator sees about the bad Node (log line, metric, `weftd status`), and
// that every other peer's route, neighbour and FDB entries are in the kernel
// and weftd is ready.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { HTTP_LIMITS } from '../../src/daemon/health.ts';
import { VTEP_IP, VTEP_IP6, VTEP_MAC, VTEP_MAC6 } from '../../src/k8s/annotations.ts';
import { macForName, vtepMacFor } from '../../src/net/mac.ts';
import type { Skipped } from '../../src/overlay/types.ts';
import { startApiFaultProxy } from '../../testbed/api-fault-proxy.ts';
import { Cluster, type ClusterNode } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';
import { DIST } from '../../testbed/paths.ts';
import { launch } from '../../testbed/process.ts';

const WEFTD = join(DIST, 'weftd');

/** What a node's Node says, and so what its peers should (or must not) program. */
type PeerSpec = { name: string; cidr: string; ip: string; mac: string; direct?: boolean };

const real = (n: ClusterNode, direct = false): PeerSpec => ({ name: n.name, cidr: n.podCidr, ip: n.underlayIp, mac: macForName(n.name), direct });
// A fake node's VTEP MAC is the one weftd derives from its name, unless a test forges one.
const fake = (name: string, third: number, ip: string, mac = macForName(name), cidr = `10.244.${third}.0/24`): PeerSpec => ({ name, cidr, ip, mac });

async function createNode(c: Cluster, p: PeerSpec): Promise<void> {
  await c.core.createNode({
    body: { metadata: { name: p.name, annotations: { [VTEP_IP]: p.ip, [VTEP_MAC]: p.mac } }, spec: { podCIDR: p.cidr, podCIDRs: [p.cidr] } },
  });
}

async function startCluster(t: ExecutionContext, nodes: number): Promise<Cluster> {
  const c = await Cluster.start(nodes);
  t.teardown(() => c.destroy());
  return c;
}

type Kernel = {
  routes: { dst: string; gateway?: string; dev?: string; flags?: string[] }[];
  neigh: { dst: string; lladdr?: string; state?: string[] }[];
  fdb: { mac: string; dst?: string }[];
};

async function kernelOf(c: Cluster, node: ClusterNode): Promise<Kernel> {
  const json = async (cmd: string, args: string[]) => JSON.parse((await c.inNode(node, cmd, ['-j', ...args])).stdout || '[]');
  return {
    routes: await json('ip', ['route', 'show', 'proto', '119']),
    neigh: await json('ip', ['neigh', 'show', 'dev', 'weft.1']),
    fdb: await json('bridge', ['fdb', 'show', 'dev', 'weft.1']),
  };
}

/** Whether the kernel holds the peer's route, neighbour and FDB entries (a direct peer: its route over the underlay). */
function programs(k: Kernel, p: PeerSpec): boolean {
  const via = p.cidr.split('/')[0]!;
  if (p.direct) return k.routes.some((r) => r.dst === p.cidr && r.gateway === p.ip && r.dev === 'eth0');
  return (
    k.routes.some((r) => r.dst === p.cidr && r.gateway === via && r.dev === 'weft.1') &&
    k.neigh.some((n) => n.dst === via && n.lladdr === p.mac && (n.state ?? []).includes('PERMANENT')) &&
    k.fdb.some((f) => f.mac === p.mac && f.dst === p.ip)
  );
}

/** Every entry the kernel holds for the peer's CIDR, MAC or VTEP address: none for a skipped peer. */
function traces(k: Kernel, p: PeerSpec): string[] {
  const via = p.cidr.split('/')[0]!;
  return [
    ...k.routes.filter((r) => r.dst === p.cidr).map((r) => `route ${r.dst} via ${r.gateway}`),
    ...k.neigh.filter((n) => n.dst === via).map((n) => `neigh ${n.dst} ${n.lladdr}`),
    ...k.fdb.filter((f) => f.mac === p.mac || f.dst === p.ip).map((f) => `fdb ${f.mac} ${f.dst}`),
  ];
}

/**
 * Waits until the kernel holds nothing of a peer weftd skips. A refused peer
 * is tried again on each periodic pass and taken out at once, so a reading
 * may fall inside that moment.
 */
async function waitNoTraces(c: Cluster, node: ClusterNode, p: PeerSpec): Promise<void> {
  await eventually(`nothing of ${p.name} on ${node.name}`, async () => (traces(await kernelOf(c, node), p).length === 0 ? true : undefined));
}

async function waitProgrammed(c: Cluster, node: ClusterNode, peers: PeerSpec[], timeoutMs?: number): Promise<Kernel> {
  return eventually(
    `${node.name} programs ${peers.map((p) => p.name).join(', ')}`,
    async () => {
      const k = await kernelOf(c, node);
      return peers.every((p) => programs(k, p)) ? k : undefined;
    },
    timeoutMs,
  );
}

type Status = { readiness: string; subnetFile: { problem?: string }; peers: { podCidr: string }[]; skipped?: Skipped[] };

async function status(c: Cluster, node: ClusterNode, json = true): Promise<string> {
  const r = await c.inNode(node, WEFTD, ['status', ...(json ? ['--json'] : []), '--subnet-file', node.subnetFile, '--health-addr', '127.0.0.1:9402']);
  if (r.exitCode !== 0) throw new Error(`weftd status on ${node.name}: ${r.stderr}`);
  return r.stdout;
}

const statusJson = async (c: Cluster, node: ClusterNode): Promise<Status> => JSON.parse(await status(c, node));

async function waitReady(c: Cluster, node: ClusterNode, timeoutMs?: number): Promise<void> {
  await eventually(`${node.name} ready`, async () => ((await statusJson(c, node)).readiness === 'ready' ? true : undefined), timeoutMs);
}

/** A series' value from a page rendered after this call: weftd renders /metrics at most once a second. */
const metric = async (c: Cluster, node: ClusterNode, series: string): Promise<number | undefined> => {
  await new Promise((r) => setTimeout(r, HTTP_LIMITS.metricsCacheMs + 100));
  const body = (await c.weftdHttp(node, '/metrics')).body;
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

const logOf = (node: ClusterNode): string => readFileSync(node.weftdLog, 'utf8');
const occurrences = (text: string, line: string): number => text.split('\n').filter((l) => l.endsWith(line)).length;

/** Waits until the node's weftd has finished `passes` more reconcile passes. */
async function morePasses(c: Cluster, node: ClusterNode, passes: number): Promise<void> {
  const count = () => metric(c, node, 'weft_reconcile_duration_seconds_count');
  const start = (await count()) ?? 0;
  await eventually(`${passes} more passes on ${node.name}`, async () => (((await count()) ?? 0) >= start + passes ? true : undefined));
}

test.serial('bad VTEP MACs and addresses are refused before the kernel: logged once, counted, listed; every other peer stays programmed', async (t) => {
  const c = await startCluster(t, 2);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  const bad = [
    fake('zeromac', 11, '10.229.0.111', '00:00:00:00:00:00'),
    fake('mcastmac', 12, '10.229.0.112', '01:00:5e:00:00:12'),
    fake('bcastip', 13, '10.229.0.255'),
    fake('netip', 14, '10.229.0.0'),
    fake('ownip', 15, n1.underlayIp),
  ];
  const good = fake('goodnode', 16, '10.229.0.116');
  // Present before weftd starts, so its very first pass meets them.
  for (const p of [...bad, good]) await createNode(c, p);
  for (const node of c.nodes) await c.startWeftd(node);
  const k = await waitProgrammed(c, n1, [real(n2), good]);
  await waitReady(c, n1);
  for (const p of bad) t.deepEqual(traces(k, p), [], `nothing of ${p.name} in node1's kernel`);
  const [p1, p2] = [await c.addPod(n1), await c.addPod(n2)];
  t.true((await c.ping(p1, p2.ip)).ok, 'pods on node1 and node2 reach each other');

  const expected: [string, string][] = [
    ['zeromac', 'has VTEP MAC 00:00:00:00:00:00 (weft.dev/vtep-mac), which is all zeros'],
    ['mcastmac', 'has VTEP MAC 01:00:5e:00:00:12 (weft.dev/vtep-mac), which is a multicast MAC'],
    ['bcastip', 'has VTEP address 10.229.0.255 (weft.dev/vtep-ip), which is the broadcast address of the underlay subnet 10.229.0.0/24'],
    ['netip', 'has VTEP address 10.229.0.0 (weft.dev/vtep-ip), which is the network address of the underlay subnet 10.229.0.0/24'],
    ['ownip', "has VTEP address 10.229.0.11 (weft.dev/vtep-ip), which is this node's own VTEP address"],
  ];
  const skipped = (await statusJson(c, n1)).skipped ?? [];
  for (const [name, problem] of expected) {
    t.deepEqual(
      skipped.find((s) => s.node === name),
      { node: name, reason: 'malformed', problem },
      `weftd status lists ${name}`,
    );
  }
  const text = await status(c, n1, false);
  t.regex(text, /^skipped: {5}5$/m);
  t.regex(text, /^ {2}zeromac +malformed +it has VTEP MAC 00:00:00:00:00:00/m);
  t.is(await metric(c, n1, 'weft_nodes_skipped{reason="malformed"}'), 5);
  t.is(await metric(c, n1, 'weft_peers_programmed'), 2);

  // Periodic passes (every 2 s here) leave the log alone: one line per node.
  await morePasses(c, n1, 3);
  const log = logOf(n1);
  for (const [name, problem] of expected) t.is(occurrences(log, `skipping node ${name}: it ${problem} [malformed]`), 1, name);
  t.notRegex(log, /reconcile failed/);

  // Fixed, the node is programmed at once and its line says so.
  await c.core.patchNode(
    { name: 'zeromac', body: { metadata: { annotations: { [VTEP_MAC]: macForName('zeromac') } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await waitProgrammed(c, n1, [{ ...bad[0]!, mac: macForName('zeromac') }, real(n2), good]);
  t.regex(logOf(n1), /node zeromac is no longer skipped/);
});

test.serial('a peer the kernel refuses is left out alone and retried; direct routing keeps working; new peers are still added', async (t) => {
  const c = await startCluster(t, 2);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  // An address of node1's own inside the pod network: the kernel refuses any
  // route via it (onlink next hop is a local address), which no Node value
  // check can foresee.
  await c.inNode(n1, 'ip', ['addr', 'add', '10.244.50.0/32', 'dev', 'lo']);
  const refused = fake('refused', 50, '10.229.1.50');
  const far = fake('farnode', 51, '10.229.1.51');
  const bcast = fake('bcastdirect', 52, '10.229.0.255');
  for (const p of [refused, far, bcast]) await createNode(c, p);
  for (const node of c.nodes) await c.startWeftd(node, ['--direct-routing']);

  const k = await waitProgrammed(c, n1, [real(n2, true), far]);
  await waitReady(c, n1);
  t.deepEqual(traces(k, bcast), []);
  // What did go in of the refused peer (its FDB and neighbour entries) came out again.
  await waitNoTraces(c, n1, refused);
  const line =
    'skipping node refused: it was refused by the kernel (route replace 10.244.50.0/24 via 10.244.50.0 dev weft.1 onlink proto 119 metric 62515: Error: Nexthop has invalid gateway.); it is tried again when its Node changes and on every periodic resync [kernel-refused]';
  t.is(occurrences(logOf(n1), line), 1);
  t.regex(logOf(n1), /skipping node bcastdirect: it has VTEP address 10\.229\.0\.255 .*which is the broadcast address of the underlay subnet/);
  t.like(
    (await statusJson(c, n1)).skipped?.find((s) => s.node === 'refused'),
    { reason: 'kernel-refused' },
  );
  t.is(await metric(c, n1, 'weft_nodes_skipped{reason="kernel-refused"}'), 1);
  t.is(await metric(c, n1, 'weft_peers_programmed'), 2);

  // Event passes go on adding peers; periodic passes retry the refused one
  // without a new log line while nothing changed.
  const late = fake('latenode', 53, '10.229.1.53');
  await createNode(c, late);
  await waitProgrammed(c, n1, [late, far, real(n2, true)]);
  await morePasses(c, n1, 3);
  t.is(occurrences(logOf(n1), line), 1, 'logged once, not on every pass');
  await waitNoTraces(c, n1, refused);
  t.is((await c.weftdHttp(n1, '/readyz')).status, 200);

  // Once the kernel would take it, the next periodic pass programs it.
  await c.inNode(n1, 'ip', ['addr', 'del', '10.244.50.0/32', 'dev', 'lo']);
  await waitProgrammed(c, n1, [refused, late, far, real(n2, true)]);
  t.regex(logOf(n1), /node refused is no longer skipped/);
  t.is(await metric(c, n1, 'weft_nodes_skipped{reason="kernel-refused"}'), 0);
});

test.serial("overlapping pod CIDRs and a hijack by name: the older Node and this node's own keep theirs; pods still reach each other", async (t) => {
  const c = await startCluster(t, 2);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  for (const node of c.nodes) await c.startWeftd(node);
  await waitProgrammed(c, n1, [real(n2)]);
  const [p1, p2] = [await c.addPod(n1), await c.addPod(n2)];
  const victim = real(n2);
  const hostile = [
    fake('inside', 2, '10.229.0.120', undefined, '10.244.2.128/25'),
    fake('aaa-hijack', 2, '10.229.0.121'),
    fake('aaa-macthief', 23, '10.229.0.122', victim.mac),
    fake('ownslice', 1, '10.229.0.123', undefined, '10.244.1.128/25'),
  ];
  const good = fake('goodnode', 24, '10.229.0.124');
  // creationTimestamp has whole seconds: let one pass, so node2 is older.
  await new Promise((r) => setTimeout(r, 1100));
  for (const p of [...hostile, good]) await createNode(c, p);
  const created = async (name: string) => (await c.core.readNode({ name })).metadata!.creationTimestamp!.getTime();
  t.true((await created('node2')) < (await created('aaa-hijack')), 'the hijacker is the younger Node, with a name that sorts first');

  const k = await waitProgrammed(c, n1, [victim, good]);
  await eventually('node1 reports the three conflicts', async () =>
    (await statusJson(c, n1)).skipped?.filter((s) => s.reason === 'conflict').length === 3 ? true : undefined,
  );
  t.deepEqual(
    k.fdb.filter((f) => f.mac === victim.mac).map((f) => f.dst),
    [victim.ip],
    "node2's MAC still leads to node2",
  );
  t.deepEqual(
    k.routes.filter((r) => r.dst.endsWith('/25')),
    [],
    "no /25 takes half of a node's traffic",
  );
  t.true((await c.ping(p1, p2.ip, 3)).ok, 'pods on node1 and node2 still reach each other');
  t.true((await c.ping(p2, p1.ip, 3)).ok);

  const problems = Object.fromEntries(((await statusJson(c, n1)).skipped ?? []).map((s) => [s.node, s.problem]));
  t.is(problems.inside, 'claims pod CIDR 10.244.2.128/25, which overlaps pod CIDR 10.244.2.0/24 that node node2 holds (it is the older Node)');
  t.is(problems['aaa-hijack'], 'claims pod CIDR 10.244.2.0/24, which overlaps pod CIDR 10.244.2.0/24 that node node2 holds (it is the older Node)');
  // A copied MAC is not the one derived from the copier's name: refused before any claim.
  t.regex(problems['aaa-macthief'] ?? '', new RegExp(`^has VTEP MAC ${victim.mac} \\(weft\\.dev/vtep-mac\\), which is not `));
  t.is(problems.ownslice, "claims pod CIDR 10.244.1.128/25, which overlaps this node's own pod CIDR 10.244.1.0/24");
  t.is(occurrences(logOf(n1), `skipping node inside: it ${problems.inside} [conflict]`), 1);
  t.is(await metric(c, n1, 'weft_nodes_skipped{reason="conflict"}'), 3);
  t.regex(await status(c, n1, false), /^ {2}aaa-hijack +conflict +it claims pod CIDR 10\.244\.2\.0\/24/m);

  // On node2 its own CIDR and MAC win over both.
  await waitProgrammed(c, n2, [real(n1), good]);
  const on2 = Object.fromEntries(((await statusJson(c, n2)).skipped ?? []).map((s) => [s.node, s.problem]));
  t.is(on2.inside, "claims pod CIDR 10.244.2.128/25, which overlaps this node's own pod CIDR 10.244.2.0/24");
  t.is(on2['aaa-hijack'], "claims pod CIDR 10.244.2.0/24, which overlaps this node's own pod CIDR 10.244.2.0/24");
  for (const node of c.nodes) t.is((await c.weftdHttp(node, '/readyz')).status, 200);
});

test.serial('hostile IPv6 VTEPs and overlapping IPv6 pod CIDRs are refused before the kernel; the dual-stack peers stay programmed', async (t) => {
  const c = await Cluster.start(2, undefined, { stack: 'dual' });
  t.teardown(() => c.destroy());
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  /** A dual-stack Node with a valid IPv4 VTEP; `v6` overrides its IPv6 VTEP and pod CIDR. */
  const dualNode = (name: string, third: number, v6: { ip?: string; mac?: string; cidr?: string } = {}) => ({
    metadata: {
      name,
      annotations: {
        [VTEP_IP]: `10.229.1.${third}`,
        [VTEP_MAC]: vtepMacFor(name, 4),
        [VTEP_IP6]: v6.ip ?? `fd00:229::1:${third}`,
        [VTEP_MAC6]: v6.mac ?? vtepMacFor(name, 6),
      },
    },
    spec: { podCIDR: `10.244.${third}.0/24`, podCIDRs: [`10.244.${third}.0/24`, v6.cidr ?? `fd00:10:244:${third.toString(16)}::/64`] },
  });
  // creationTimestamp has whole seconds: let one pass, so node1 and node2 are older.
  await new Promise((r) => setTimeout(r, 1100));
  const hostile = [
    dualNode('mcast6', 40, { ip: 'ff02::1' }),
    dualNode('linklocal6', 41, { ip: 'fe80::41' }),
    dualNode('mapped6', 42, { ip: '::ffff:10.229.0.42' }),
    dualNode('notv6', 43, { ip: '10.229.0.43' }),
    dualNode('copy6', 44, { mac: vtepMacFor('node2', 6) }),
    dualNode('inside6', 45, { cidr: 'fd00:10:244:2:8000::/65' }),
    dualNode('ownslice6', 46, { cidr: 'fd00:10:244:1::/80' }),
  ];
  // Only an IPv6 VTEP: both of its pod families ride weft6.1.
  const good = {
    metadata: { name: 'good6', annotations: { [VTEP_IP6]: 'fd00:229::60', [VTEP_MAC6]: vtepMacFor('good6', 6) } },
    spec: { podCIDRs: ['10.244.6.0/24', 'fd00:10:244:6::/64'] },
  };
  for (const body of [...hostile, good]) await c.core.createNode({ body });
  for (const node of c.nodes) await c.startWeftd(node);

  const [m4, m6, g6] = [vtepMacFor('node2', 4), vtepMacFor('node2', 6), vtepMacFor('good6', 6)];
  await c.waitForOverlayEntries(
    n1,
    [
      'route 10.244.2.0/24 via 10.244.2.0 dev weft.1',
      'route fd00:10:244:2::/64 via fd00:10:244:2:: dev weft6.1',
      `neigh weft.1 10.244.2.0 ${m4}`,
      `neigh weft6.1 fd00:10:244:2:: ${m6}`,
      `fdb weft.1 ${m4} ${n2.underlay[4]}`,
      `fdb weft6.1 ${m6} ${n2.underlay[6]}`,
      'route 10.244.6.0/24 via 10.244.6.0 dev weft6.1',
      'route fd00:10:244:6::/64 via fd00:10:244:6:: dev weft6.1',
      `neigh weft6.1 10.244.6.0 ${g6}`,
      `neigh weft6.1 fd00:10:244:6:: ${g6}`,
      `fdb weft6.1 ${g6} fd00:229::60`,
    ],
    'exactly node2 and good6 programmed, nothing of the hostile Nodes',
  );
  await waitReady(c, n1);
  const problems = Object.fromEntries(((await statusJson(c, n1)).skipped ?? []).map((s) => [s.node, `${s.reason}: ${s.problem}`]));
  t.deepEqual(problems, {
    mcast6: 'malformed: has VTEP address ff02::1 (weft.dev/vtep-ip6), which is a multicast address (ff00::/8)',
    linklocal6: 'malformed: has VTEP address fe80::41 (weft.dev/vtep-ip6), which is a link-local address (fe80::/10)',
    mapped6: 'malformed: has VTEP address ::ffff:ae5:2a (weft.dev/vtep-ip6), which is an IPv4-mapped address (::ffff:0:0/96)',
    notv6: 'malformed: has an invalid weft.dev/vtep-ip6 annotation "10.229.0.43": expected an IPv6 address',
    copy6: `malformed: has VTEP MAC ${m6} (weft.dev/vtep-mac6), which is not ${vtepMacFor('copy6', 6)}, the MAC weftd derives from the node name copy6`,
    inside6: 'conflict: claims pod CIDR fd00:10:244:2:8000::/65, which overlaps pod CIDR fd00:10:244:2::/64 that node node2 holds (it is the older Node)',
    ownslice6: "conflict: claims pod CIDR fd00:10:244:1::/80, which overlaps this node's own pod CIDR fd00:10:244:1::/64",
  });
  t.is(await metric(c, n1, 'weft_nodes_skipped{reason="malformed"}'), 5);
  t.is(await metric(c, n1, 'weft_nodes_skipped{reason="conflict"}'), 2);
  t.is(await metric(c, n1, 'weft_peers_programmed'), 2);
  t.is(occurrences(logOf(n1), `skipping node mcast6: it has VTEP address ff02::1 (weft.dev/vtep-ip6), which is a multicast address (ff00::/8) [malformed]`), 1);
  t.regex(await status(c, n1, false), /^ {2}inside6 +conflict +it claims pod CIDR fd00:10:244:2:8000::\/65/m);
});

test.serial('HTTP 500s on publishing the VTEP and on the status patch are retried until the node is ready', async (t) => {
  t.timeout(120_000);
  const c = await startCluster(t, 2);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  const proxy = await startApiFaultProxy(c.cp, join(c.dir, 'fault-proxy.sock'), [
    // Both go to the status subresource; the patch strategy tells them apart.
    { method: 'PATCH', path: '/api/v1/nodes/node1/status', contentType: 'application/merge-patch+json', times: 2 },
    { method: 'PATCH', path: '/api/v1/nodes/node1/status', contentType: 'application/strategic-merge-patch+json', times: 4 },
  ]);
  t.teardown(() => proxy.stop());
  // node1 reaches the proxy at 127.0.0.1:6445 in its own namespace.
  const forwarder = launch(['ip', 'netns', 'exec', n1.netns, 'socat', 'TCP-LISTEN:6445,bind=127.0.0.1,fork,reuseaddr', `UNIX-CONNECT:${proxy.socketPath}`], {
    log: join(c.dir, 'fault-socat.log'),
    unref: true,
  });
  t.teardown(() => forwarder.stop());
  const kubeconfig = join(c.dir, 'fault-proxy.kubeconfig');
  proxy.writeKubeconfig(kubeconfig, 'http://127.0.0.1:6445');
  await c.startWeftd(n1, [], { WEFTD_KUBECONFIG: kubeconfig });
  await c.startWeftd(n2);

  const notReady = await eventually('node1 says why it is not ready', async () => {
    const r = await c.weftdHttp(n1, '/readyz');
    return r.status === 503 && /cannot mark the network available .*HTTP 500/.test(r.body) ? r.body : undefined;
  });
  t.regex(notReady, /^cannot mark the network available on node node1: HTTP 500: injected by the test's api-fault-proxy .*; retrying$/m);
  await waitReady(c, n1, 60_000);
  const injected = (contentType: string) => proxy.injected.filter((i) => i.contentType.startsWith(contentType) && i.status === 500).length;
  t.is(injected('application/merge-patch+json'), 2, 'VTEP publishes refused');
  t.is(injected('application/strategic-merge-patch+json'), 4, 'condition patches refused');
  const node1 = await c.core.readNode({ name: 'node1' });
  t.is(node1.status?.conditions?.find((x) => x.type === 'NetworkUnavailable')?.status, 'False');
  t.is(node1.metadata?.annotations?.[VTEP_IP], n1.underlayIp);
  const log = logOf(n1);
  t.is(log.match(/cannot publish the VTEP on node node1: HTTP 500: .*; retrying in \d+ ms/g)?.length, 2);
  t.is(log.match(/cannot mark the network available on node node1: HTTP 500: .*; retrying in \d+ ms/g)?.length, 4);
  t.regex(log, /marked the network available on node node1 \(NetworkUnavailable=False\)/);
  t.true(((await metric(c, n1, 'weft_api_errors_total')) ?? 0) >= 6);
  await waitProgrammed(c, n1, [real(n2)]);
  await waitProgrammed(c, n2, [real(n1)]);
});

test.serial('a deleted or changed subnet file makes weftd not ready until the next pass writes it again', async (t) => {
  const c = await startCluster(t, 2);
  const [n1, n2] = c.nodes as [ClusterNode, ClusterNode];
  // node1 resyncs, and restarts a quiet watch, once an hour: only a Node
  // event brings its next pass, once node2 has stopped patching its Node.
  await c.startWeftd(n1, [], { WEFTD_RESYNC: '3600', WEFTD_WATCHDOG: '3600' });
  await c.startWeftd(n2);
  await waitReady(c, n1);
  await waitReady(c, n2);
  const content = readFileSync(n1.subnetFile, 'utf8');

  rmSync(n1.subnetFile);
  const readyz = await c.weftdHttp(n1, '/readyz');
  t.is(readyz.status, 503);
  t.is(readyz.body.trim(), `subnet file ${n1.subnetFile} is missing; the next reconcile pass writes it again`);
  const text = await status(c, n1, false);
  t.regex(text, /^weftd: {7}not ready: subnet file .* is missing/m);
  t.regex(text, /^subnet file: subnet file .* does not exist/m);

  const nudge = fake('nudge', 30, '10.229.0.130');
  await createNode(c, nudge);
  await waitReady(c, n1);
  t.is(readFileSync(n1.subnetFile, 'utf8'), content);
  t.regex(logOf(n1), new RegExp(`subnet file ${n1.subnetFile.replace(/[.]/g, '\\.')} was missing; wrote it again`));

  writeFileSync(n1.subnetFile, content.replace('"mtu": 1450', '"mtu": 9000'));
  await c.core.deleteNode({ name: 'nudge' });
  await eventually('node1 rewrites the changed file', async () => (readFileSync(n1.subnetFile, 'utf8') === content ? true : undefined));
  t.regex(logOf(n1), /was changed; wrote it again/);

  // The periodic pass checks it too (node2 resyncs every 2 s).
  rmSync(n2.subnetFile);
  await eventually('node2 writes its file again', async () => (readFileSync(n2.subnetFile, 'utf8').includes(n2.podCidr) ? true : undefined));
  await waitReady(c, n2);
  await waitProgrammed(c, n1, [real(n2)]);
  await waitProgrammed(c, n2, [real(n1)]);
});
