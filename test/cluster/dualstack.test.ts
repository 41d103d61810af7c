// make cluster-test: weft in a dual-stack cluster (tools/cluster/cluster.ts
// --stack=dual: underlay, pod CIDRs, Services and node IPs of both families).
// The cluster comes up with the weft image imported; the test
//   1. installs weft with `kubectl apply -k` of the cluster's pinned overlay
//      (net-conf's network: both pod networks) and waits for Ready nodes;
//   2. runs one busybox pod per node: each gets an address of each family
//      from its node's pod CIDRs, and pings and fetches over HTTP every
//      pod's every address;
//   3. reaches a PreferDualStack Service's both ClusterIPs and its NodePort on
//      every node's both addresses from every node, and both ClusterIPs from
//      a pod;
//   4. (weft) finds each node routing the others' IPv6 pod CIDRs (proto 119);
// and tears the cluster down, also on failure. DUALSTACK_CNI=reference runs
// the same on the reference bridge network (without step 4), to tell weft's
// failures from the cluster's.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { type Cidr, cidrContains, cidrWithin, parseAddress, parseCidr } from '../../src/net/address.ts';
import {
  type ApiNode,
  apiNodes,
  clusterCidrs,
  down,
  importImage,
  isReady,
  kubectl,
  nodeExec,
  PINNED_OVERLAY,
  podCidrsOf,
  REPO,
  STATE,
  up,
} from '../../tools/cluster/cluster.ts';
import { allToAllFailures, HTTPD, runningPods, spreadDeployment } from '../../tools/cluster/workloads.ts';
import { toolboxImageArchive } from '../../tools/image/build.ts';
import { inNode, NODES, ownCluster, until } from './helpers.ts';

const CNI = process.env.DUALSTACK_CNI === 'reference' ? 'reference' : 'weft';
const familyOf = (ip: string) => (ip.includes(':') ? 6 : 4);
function fail(message: string): never {
  throw new Error(message);
}
const cidr = (text: string): Cidr => parseCidr(text) ?? fail(`not a CIDR: ${text}`);
const within = (ip: string, cidrs: string[]) => cidrs.some((c) => cidrContains(cidr(c), parseAddress(ip) ?? fail(`not an address: ${ip}`)));
const internalIps = (n: ApiNode) =>
  ((n as unknown as { status: { addresses: { type: string; address: string }[] } }).status.addresses ?? [])
    .filter((a) => a.type === 'InternalIP')
    .map((a) => a.address);
/** host:port for a URL, IPv6 in brackets. */
const hostPort = (ip: string, port: string | number) => (familyOf(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);

test.serial('cluster.ts up --stack=NAME: an unknown stack is refused by name, before anything starts', async (t) => {
  const hadState = existsSync(STATE);
  const err = await promisify(execFile)(process.execPath, [join(REPO, 'tools/cluster/cluster.ts'), 'up', '--cni=reference', '--stack=ipv6'], {
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS')),
  }).catch((e: { code: number; stderr: string }) => e);
  t.like(err, { code: 1, stderr: '--stack=ipv6: use ipv4 or dual\n' });
  t.is(existsSync(STATE), hadState, 'no cluster state made');
});

test.serial(`dual stack (${CNI}): pods get both families and reach each other over each, a dual-stack Service answers on both`, async (t) => {
  const tookDown = ownCluster(t);
  if (!tookDown) return;

  // --- 1. the cluster, then weft installed with kubectl ---
  let started = Date.now();
  await up({ cni: CNI, stack: 'dual', installWeft: false, nodes: 3, log: (l) => t.log(l) });
  await importImage(await toolboxImageArchive((l) => t.log(l)));
  if (CNI === 'weft') {
    t.log(await kubectl(['apply', '-k', PINNED_OVERLAY]));
    const netConf = JSON.parse(await kubectl(['-n', 'weft', 'get', 'cm', 'weft-config', '-o', 'jsonpath={.data.net-conf\\.json}'])) as { network: unknown };
    t.deepEqual(netConf.network, clusterCidrs('dual'), "the overlay gave net-conf's network both pod networks");
    await kubectl(['-n', 'weft', 'rollout', 'status', 'ds/weft', '--timeout=180s']);
  }
  const nodes = await until(t, 'three Ready nodes', 120_000, async () => {
    const items = await apiNodes();
    return items.length === 3 && items.every(isReady) ? items : undefined;
  });
  t.log(`cluster up and ${CNI} Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const cidrsOf = Object.fromEntries(nodes.map((n) => [n.metadata.name, podCidrsOf(n)]));
  for (const n of nodes) {
    const cidrs = podCidrsOf(n);
    t.deepEqual(cidrs.map(familyOf), [4, 6], `${n.metadata.name}: an IPv4 and an IPv6 pod CIDR (${cidrs.join(', ')})`);
    t.true(
      cidrs.every((c) => cidrWithin(cidr(c), clusterCidrs('dual').map(cidr))),
      `${n.metadata.name}: pod CIDRs inside ${clusterCidrs('dual').join(', ')}`,
    );
    t.deepEqual(internalIps(n).map(familyOf), [4, 6], `${n.metadata.name}: InternalIPs of both families (${internalIps(n).join(', ')})`);
  }

  // --- 2. one pod per node, an address of each family, all reach all ---
  started = Date.now();
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'ds', namespace: 'default' },
    spec: { type: 'NodePort', ipFamilyPolicy: 'PreferDualStack', selector: { app: 'ds' }, ports: [{ port: 80, targetPort: 8080 }] },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [spreadDeployment('ds', 3, HTTPD), service] }));
  await kubectl(['rollout', 'status', 'deploy/ds', '--timeout=120s']);
  const pods = await runningPods('ds');
  t.deepEqual(
    pods.map((p) => p.spec.nodeName),
    NODES,
    'a pod on each node',
  );
  for (const p of pods) {
    const ips = (p.status.podIPs ?? []).map((a) => a.ip);
    t.deepEqual(ips.map(familyOf), [4, 6], `${p.metadata.name}: podIPs of both families, IPv4 first (${ips.join(', ')})`);
    t.true(
      ips.every((ip) => within(ip, cidrsOf[p.spec.nodeName]!)),
      `${p.metadata.name}: ${ips.join(', ')} in ${p.spec.nodeName}'s ${cidrsOf[p.spec.nodeName]!.join(', ')}`,
    );
  }
  const failures = await allToAllFailures(pods, 'ds', { allFamilies: true });
  t.deepEqual(failures, [], 'each of 3 pods pings and fetches from the 6 addresses (3 pods × 2 families), 4 of each family across nodes');
  t.log(`pods up and all-to-all over both families in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // --- 3. the dual-stack Service from every node and from a pod ---
  const svc = JSON.parse(await kubectl(['get', 'svc', 'ds', '-o', 'json'])) as { spec: { clusterIPs: string[]; ports: { nodePort: number }[] } };
  const clusterIps = svc.spec.clusterIPs;
  t.deepEqual(clusterIps.map(familyOf), [4, 6], `PreferDualStack gives a ClusterIP of each family (${clusterIps.join(', ')})`);
  const nodePort = svc.spec.ports[0]!.nodePort;
  const targets = [...clusterIps.map((ip) => hostPort(ip, 80)), ...nodes.flatMap((n) => internalIps(n).map((ip) => hostPort(ip, nodePort)))];
  const unanswered: string[] = [];
  for (const n of NODES) {
    for (const target of targets) {
      // kube-proxy may still be programming the new Service: a few tries.
      await until(t, `${n} → ${target}`, 30_000, async () => {
        const r = await nodeExec(n, ['curl', '-gs', '--max-time', '3', `http://${target}/`]);
        return r.code === 0 && r.stdout.startsWith('ds-') ? true : undefined;
      }).catch(() => unanswered.push(`${n} → ${target}`));
    }
  }
  t.deepEqual(unanswered, [], 'both ClusterIPs, and the NodePort on every node address of each family, answer from every node');
  for (const ip of clusterIps) {
    const fromPod = await kubectl(['exec', pods[0]!.metadata.name, '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} 80`]);
    t.regex(fromPod, /^ds-/m, `ClusterIP ${ip} from a pod`);
  }

  // --- 4. weft's IPv6 routes: each node routes the others' IPv6 pod CIDRs ---
  if (CNI === 'weft') {
    for (const n of NODES) {
      const routes = await inNode(n, 'ip -6 route show proto 119');
      for (const m of NODES.filter((x) => x !== n)) {
        const v6 = cidrsOf[m]!.find((c) => familyOf(c) === 6)!;
        t.true(routes.includes(v6), `${n} routes ${m}'s ${v6} (proto 119): ${routes.trim() || '(none)'}`);
      }
    }
  }

  const { leftovers } = await down({ log: (l) => t.log(l) });
  tookDown();
  t.deepEqual(leftovers, []);
});
