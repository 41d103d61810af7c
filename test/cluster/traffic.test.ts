// make cluster-test: weft in a running cluster, with traffic. One cluster
// (tools/cluster/cluster.ts, weft installed with kubectl from the overlay that
// pins its image by digest) and a namespace outside it; in order:
//   1. the DaemonSet runs the image by digest, weftd has only NET_ADMIN, no
//      new privileges and the runtime's seccomp filter, and under that it has
//      done its whole job (`weftd status`: ready, a route to every other node);
//   2. NAT: a pod on each node reaches a server outside the cluster, which
//      sees the pod's node address (masquerade); the outside reaches a pod
//      through node-IP:hostPort;
//   3. with pings running between pods on different nodes (a ring over the
//      three nodes, 5 per second), killing weftd on a node loses none, and
//      neither does a rolling update of the DaemonSet to a new image tag;
//   4. stopping a whole node (kubelet, containerd, its pods, weftd) and
//      starting it again: its pods come back and reach and are reached by all.
// Node deletion and the uninstall are in weft.test.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { sh } from '../../testbed/shell.ts';
import {
  addOutside,
  apiNodes,
  down,
  importImage,
  isReady,
  kubectl,
  nodeExec,
  nodeInfo,
  OUTSIDE,
  STATE,
  startNodeAgain,
  stopNode,
  up,
} from '../../tools/cluster/cluster.ts';
import { WEFT_IMAGE_NAME, writeOverlay } from '../../tools/cluster/weft-overlay.ts';
import { allToAllFailures, HTTPD, type Pod, runningPods, spreadDeployment, weftPods } from '../../tools/cluster/workloads.ts';
import { TOOLBOX_IMAGE, toolboxImageArchive, weftImageName } from '../../tools/image/build.ts';
import { NODES, sleep, until } from './helpers.ts';

const SERVER_PORT = 8080;
const HOST_PORT = 8081;
const PING_LOG = '/tmp/ping.log';
const nodeIp = (node: string) => nodeInfo(Number(node.replace('node', ''))).ip;

let server: ChildProcess | undefined;

test.before(async (t) => {
  if (existsSync(STATE))
    throw new Error(`a cluster (or its remains) is at ${STATE}: run make cluster-down first; this test must not take over someone's cluster`);
  const started = Date.now();
  await up({ cni: 'weft', nodes: 3, log: (l) => t.log(l) });
  await importImage(await toolboxImageArchive((l) => t.log(l)));
  await addOutside();
  // The outside's server answers each connection with the address it came from.
  server = spawn(
    'ip',
    [
      'netns',
      'exec',
      OUTSIDE.netns,
      process.execPath,
      '-e',
      `require('node:net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(${SERVER_PORT}, '${OUTSIDE.ip}')`,
    ],
    { stdio: 'ignore' },
  );
  await kubectl(['apply', '-f', '-'], JSON.stringify(spreadDeployment('ring', 3, HTTPD)));
  await kubectl(['rollout', 'status', 'deploy/ring', '--timeout=180s']);
  t.log(`cluster with weft, 3 ring pods and the outside up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.after.always(async (t) => {
  server?.kill('SIGKILL');
  const { leftovers } = await down({ log: (l) => t.log(l) });
  if (leftovers.length) t.log(`LEFT OVER: ${leftovers.join('; ')}`);
});

/** The weftd process in a node's network namespace (found from the host's /proc). */
function weftdPids(node: string): number[] {
  const netns = `net:[${statSync(`/run/netns/${nodeInfo(Number(node.replace('node', ''))).netns}`).ino}]`;
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return readFileSync(`/proc/${e}/cmdline`, 'utf8').startsWith('/usr/local/bin/weftd\0run\0') && readlinkSync(`/proc/${e}/ns/net`) === netns;
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function ringPods(): Promise<Pod[]> {
  const pods = await runningPods('ring');
  if (pods.map((p) => p.spec.nodeName).join() !== NODES.join()) throw new Error(`ring pods not one per node: ${pods.map((p) => p.spec.nodeName)}`);
  return pods;
}

/** In each ring pod, `ping -i 0.2` to the next one's address (a ring over the nodes), in the background. */
async function startPings(pods: Pod[]): Promise<void> {
  for (const [i, p] of pods.entries()) {
    const to = pods[(i + 1) % pods.length]!.status.podIP!;
    await kubectl(['exec', p.metadata.name, '--', 'sh', '-c', `ping -i 0.2 ${to} > ${PING_LOG} 2>&1 &`]);
  }
}

type PingResult = { pair: string; sent: number; lost: number[] };

/**
 * Stops the pings and reads each one's log: the sequence numbers that got no
 * reply (the last one sent may still be in flight at the interrupt).
 */
async function stopPings(pods: Pod[]): Promise<PingResult[]> {
  const out: PingResult[] = [];
  for (const [i, p] of pods.entries()) {
    const pair = `${p.spec.nodeName} → ${pods[(i + 1) % pods.length]!.spec.nodeName}`;
    const log = await kubectl(['exec', p.metadata.name, '--', 'sh', '-c', `kill -INT $(pidof ping) && sleep 0.5; cat ${PING_LOG}`]);
    const sent = /(\d+) packets transmitted/.exec(log)?.[1];
    if (!sent) throw new Error(`${pair}: ping was not running until the end:\n${log.slice(-500)}`);
    const replies = new Set([...log.matchAll(/seq=(\d+) /g)].map((m) => Number(m[1])));
    const lost = Array.from({ length: Math.max(0, Number(sent) - 1) }, (_, s) => s).filter((s) => !replies.has(s));
    out.push({ pair, sent: Number(sent), lost });
  }
  return out;
}

/** What each fault test asserts of its pings: none lost, and they ran throughout. */
function assertNoPingLost(t: ExecutionContext, results: PingResult[]): void {
  t.log(results.map((r) => `${r.pair}: ${r.sent} sent, ${r.lost.length} lost`).join('; '));
  t.deepEqual(
    results.filter((r) => r.lost.length).map((r) => `${r.pair}: lost seq ${r.lost.join(',')}`),
    [],
  );
  t.true(
    results.every((r) => r.sent >= 20),
    'pings ran throughout',
  );
}

test.serial('weftd runs the image pinned by digest, with only NET_ADMIN and seccomp, and does its whole job', async (t) => {
  // The digest of the image imported under manifests/weft.yaml's name (read
  // back from each node: dist/ may have been rebuilt since).
  const digests = new Set<string>();
  for (const n of NODES) {
    const r = await nodeExec(n, ['ctr', '--address', '/run/containerd/containerd.sock', '-n', 'k8s.io', 'images', 'ls', `name==${weftImageName()}`]);
    digests.add(r.stdout.trim().split('\n')[1]?.split(/\s+/)[2] ?? `none on ${n}`);
  }
  t.is(digests.size, 1, `one weft image on all nodes: ${[...digests]}`);
  const digest = [...digests][0]!;
  t.regex(digest, /^sha256:[0-9a-f]{64}$/);
  const ds = JSON.parse(await kubectl(['-n', 'weft', 'get', 'ds', 'weft', '-o', 'json'])) as {
    spec: { template: { spec: { initContainers: { image: string; imagePullPolicy: string }[]; containers: { image: string; imagePullPolicy: string }[] } } };
  };
  const { initContainers, containers } = ds.spec.template.spec;
  t.deepEqual(
    [...initContainers, ...containers].map((c) => `${c.image} ${c.imagePullPolicy}`),
    [`${WEFT_IMAGE_NAME}@${digest} Never`, `${WEFT_IMAGE_NAME}@${digest} Never`],
    'install-cni and weftd: the image by digest, pull policy explicit',
  );
  const pods = await weftPods();
  t.deepEqual(
    pods.map((p) => p.spec.nodeName),
    NODES,
  );
  for (const p of pods) {
    const weftd = p.status.containerStatuses?.find((c) => c.name === 'weftd');
    t.true(weftd?.imageID.endsWith(digest), `${p.spec.nodeName}: weftd runs ${digest} (imageID ${weftd?.imageID})`);
  }

  const cidrs = Object.fromEntries((await apiNodes()).map((n) => [n.metadata.name, n.spec.podCIDR!]));
  for (const [i, node] of NODES.entries()) {
    const pids = weftdPids(node);
    t.is(pids.length, 1, `${node}: one weftd`);
    const status = Object.fromEntries(
      readFileSync(`/proc/${pids[0]}/status`, 'utf8')
        .split('\n')
        .map((l) => l.split(/:\s+/))
        .filter((kv) => kv.length === 2),
    );
    // CAP_NET_ADMIN is bit 12: effective, permitted and bounding sets hold it and nothing else.
    t.deepEqual(
      [status.Uid?.split(/\s+/)[0], status.CapEff, status.CapPrm, status.CapBnd, status.CapAmb, status.NoNewPrivs, status.Seccomp],
      ['0', '0000000000001000', '0000000000001000', '0000000000001000', '0000000000000000', '1', '2'],
      `${node}: weftd as root with NET_ADMIN only, no new privileges, seccomp filtering`,
    );
    const st = JSON.parse(await kubectl(['-n', 'weft', 'exec', pods[i]!.metadata.name, '-c', 'weftd', '--', 'weftd', 'status', '--json'])) as {
      readiness: string;
      devices: { name: string; exists: boolean }[];
      peers: { podCidr: string }[];
      subnetFile: { content?: unknown };
    };
    t.is(st.readiness, 'ready', `${node}: weftd ready`);
    t.true(st.devices.find((d) => d.name === 'weft.1')?.exists && st.subnetFile.content !== undefined, `${node}: VXLAN device weft.1 and subnet file`);
    t.deepEqual(
      st.peers.map((r) => r.podCidr).sort(),
      NODES.filter((n) => n !== node)
        .map((n) => cidrs[n]!)
        .sort(),
      `${node}: a route to each other node's pod CIDR`,
    );
  }
});

test.serial("NAT: pods reach the outside as their node's address; the outside reaches a pod through a hostPort", async (t) => {
  const pods = await ringPods();
  for (const p of pods) {
    const seen = (await kubectl(['exec', p.metadata.name, '--', 'sh', '-c', `nc -w 3 ${OUTSIDE.ip} ${SERVER_PORT} </dev/null`])).trim();
    t.is(seen, nodeIp(p.spec.nodeName), `${p.spec.nodeName}: the outside server (${OUTSIDE.ip}) sees the node's address, not ${p.status.podIP}`);
  }

  const hostPortPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'hostport', namespace: 'default' },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': 'node2' },
      terminationGracePeriodSeconds: 1,
      containers: [
        { name: 'web', image: TOOLBOX_IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', HTTPD], ports: [{ containerPort: 8080, hostPort: HOST_PORT }] },
      ],
    },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(hostPortPod));
  await kubectl(['wait', '--for=condition=Ready', 'pod/hostport', '--timeout=120s']);
  const fromOutside = (ip: string) => sh('ip', ['netns', 'exec', OUTSIDE.netns, 'curl', '-s', '--max-time', '3', `http://${ip}:${HOST_PORT}/`]);
  const answer = await until(t, `outside → ${nodeIp('node2')}:${HOST_PORT}`, 30_000, async () => {
    const r = await fromOutside(nodeIp('node2'));
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  });
  t.is(answer, 'hostport', `the outside reaches the pod on node2 through ${nodeIp('node2')}:${HOST_PORT}`);
  t.not((await fromOutside(nodeIp('node1'))).exitCode, 0, `node1 has no hostPort ${HOST_PORT}`);
  await kubectl(['delete', 'pod', 'hostport', '--wait=true']);
});

test.serial('killing weftd on a node loses no ping between pods on different nodes; the kubelet restarts it', async (t) => {
  const pods = await ringPods();
  const node = 'node2';
  const weftPod = (await weftPods()).find((p) => p.spec.nodeName === node)!;
  const restarts = weftPod.status.containerStatuses!.find((c) => c.name === 'weftd')!.restartCount;
  await startPings(pods);
  await sleep(2000);
  const [pid] = weftdPids(node);
  t.truthy(pid, `${node}: weftd running`);
  process.kill(pid!, 'SIGKILL');
  const started = Date.now();
  await until(t, `${node}'s weftd restarted and ready`, 120_000, async () => {
    const p = (await weftPods()).find((x) => x.spec.nodeName === node);
    const c = p?.status.containerStatuses?.find((x) => x.name === 'weftd');
    return c && c.restartCount > restarts && c.ready ? true : undefined;
  });
  t.log(`weftd on ${node} killed; restarted and ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.not(weftdPids(node)[0], pid, 'a new weftd process');
  await sleep(3000);
  const results = await stopPings(pods);
  assertNoPingLost(t, results);
});

test.serial('a rolling update of the DaemonSet to a new image tag loses no ping', async (t) => {
  const pods = await ringPods();
  const tag = '0.1.0-rollout';
  // The same image under a second name on every node: the DaemonSet's pod template changes, so every weft pod is replaced.
  for (const n of NODES) {
    const r = await nodeExec(n, [
      'ctr',
      '--address',
      '/run/containerd/containerd.sock',
      '-n',
      'k8s.io',
      'images',
      'tag',
      '--force',
      `${WEFT_IMAGE_NAME}:0.1.0`,
      `${WEFT_IMAGE_NAME}:${tag}`,
    ]);
    t.is(r.code, 0, `${n}: ctr images tag: ${r.stderr}`);
  }
  const before = (await weftPods()).map((p) => p.metadata.name);
  await startPings(pods);
  await sleep(2000);
  const started = Date.now();
  await kubectl(['apply', '-k', writeOverlay(join(STATE, 'weft-overlay-rollout'), { newTag: tag })]);
  await kubectl(['-n', 'weft', 'rollout', 'status', 'ds/weft', '--timeout=300s']);
  t.log(`rolled out in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await sleep(3000);
  const results = await stopPings(pods);
  const after = await weftPods();
  t.deepEqual(
    after.map((p) => `${p.spec.nodeName} ${p.spec.containers.find((c) => c.name === 'weftd')?.image} ${p.status.containerStatuses?.every((c) => c.ready)}`),
    NODES.map((n) => `${n} ${WEFT_IMAGE_NAME}:${tag} true`),
    // The spec, not the status: the status names the image's first tag, and both tags are the same image.
    'every node runs the new tag, ready',
  );
  t.false(
    after.some((p) => before.includes(p.metadata.name)),
    'every weft pod was replaced',
  );
  assertNoPingLost(t, results);
});

test.serial("stopping a whole node and starting it again restores its pods' connectivity", async (t) => {
  const node = 'node3';
  const pods = await ringPods();
  const victim = pods.find((p) => p.spec.nodeName === node)!;
  const others = pods.filter((p) => p !== victim);
  const restarts = (p?: Pod) => p?.status.containerStatuses?.reduce((sum, c) => sum + c.restartCount, 0) ?? 0;
  const weftBefore = restarts((await weftPods()).find((p) => p.spec.nodeName === node));
  const ringBefore = restarts(victim);
  await stopNode(node);
  // Its pods' network namespaces are still there, but nothing in them runs: HTTP to its pod fails.
  const probe = await kubectl([
    'exec',
    others[0]!.metadata.name,
    '--',
    'sh',
    '-c',
    `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${victim.status.podIP} 8080 || true`,
  ]);
  t.notRegex(probe, /ring-/, `${node} stopped: its pod does not answer`);
  await sleep(5000);
  const started = Date.now();
  await startNodeAgain(node);
  // Until the kubelet reports them again: restarted (new sandboxes) and ready.
  await until(t, `${node} Ready, its weft pod and ring pod restarted and ready`, 240_000, async () => {
    const n = (await apiNodes()).find((x) => x.metadata.name === node);
    const w = (await weftPods()).find((p) => p.spec.nodeName === node);
    const r = (await runningPods('ring')).find((p) => p.spec.nodeName === node);
    const back = (p: Pod | undefined, before: number) =>
      !!p?.status.containerStatuses?.length && p.status.containerStatuses.every((c) => c.ready) && restarts(p) > before;
    return n && isReady(n) && back(w, weftBefore) && back(r, ringBefore) ? true : undefined;
  });
  t.log(`${node} started again; Ready with its pods restarted after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const failures = await until(t, 'every ring pod reaches every other', 60_000, async () => {
    const f = await allToAllFailures(await ringPods(), 'ring');
    return f.length === 0 ? f : undefined;
  }).catch(async () => allToAllFailures(await ringPods(), 'ring'));
  t.deepEqual(failures, [], `after ${node} restarted, each ring pod pings and fetches from all (${(await ringPods()).map((p) => p.status.podIP)})`);
});
