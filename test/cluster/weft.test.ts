// make cluster-test: weft installed the way a user installs it, in the real
// cluster (tools/cluster/cluster.ts). The cluster comes up with the weft
// image imported but no pod network; the test then
//   1. installs weft with `kubectl apply -k` of the cluster's pinned overlay
//      (tools/cluster/weft: manifests/ with pull policy Never, the image by
//      digest) and waits for the rollout and Ready nodes;
//   2. runs a Deployment spread over the three nodes: every pod pings, and
//      fetches over HTTP, every other pod;
//   3. reaches a ClusterIP Service and a NodePort Service (on every node's
//      address) from every node, and the ClusterIP one from a pod;
//   4. deletes a Node object: its routes leave the other nodes;
//   5. uninstalls with `kubectl delete -f manifests/` and the steps in
//      docs/install.md (read from it), and checks each node's links, routes,
//      iptables, nft tables and CNI files are as they were before the install;
// and tears the cluster down, also on failure.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { must } from '../../testbed/shell.ts';
import { apiNodes, down, importImage, isReady, KUBECONFIG, kubectl, nodeExec, PINNED_OVERLAY, REPO, STATE, up } from '../../tools/cluster/cluster.ts';
import { allToAllFailures, HTTPD, runningPods, spreadDeployment } from '../../tools/cluster/workloads.ts';
import { toolboxImageArchive } from '../../tools/image/build.ts';
import { inNode, NODES, ownCluster, until } from './helpers.ts';

/**
 * What a weft install could leave on a node: link names, routes, iptables
 * rules (not kube-proxy's KUBE-* ones, which follow Services), nft tables,
 * and the files in the CNI and weft dirs.
 */
async function nodeSnapshot(node: string): Promise<Record<string, string[]>> {
  const lines = (s: string) =>
    s
      .split('\n')
      .map((l) => l.trimEnd())
      .filter(Boolean);
  return {
    links: lines(await inNode(node, 'ip -o link show'))
      .map((l) => l.split(': ')[1]!.replace(/@.*/, ''))
      .sort(),
    routes: lines(await inNode(node, 'ip route show table all')).sort(),
    iptables: lines(await inNode(node, 'iptables-save; ip6tables-save'))
      .filter((l) => !l.startsWith('#') && !l.includes('KUBE-'))
      .map((l) => l.replace(/\[\d+:\d+\]/, '')),
    nftTables: lines(await inNode(node, 'nft list tables')).sort(),
    files: lines(await inNode(node, 'find /opt/cni/bin /etc/cni/net.d /var/lib/cni /run/weft -not -type d 2>/dev/null || true')).sort(),
  };
}

/** The uninstall steps of docs/install.md: the kubectl lines, and those run "on every node, as root". */
function uninstallSteps(): { kubectl: string[][]; node: string[] } {
  const doc = readFileSync(join(REPO, 'docs', 'install.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Uninstall'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('docs/install.md: no ```sh block under ## Uninstall');
  const out = { kubectl: [] as string[][], node: [] as string[] };
  let onNodes = false;
  for (const raw of block.split('\n')) {
    if (/^#.*on every node/.test(raw)) {
      onNodes = true;
      continue;
    }
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (!line || line.startsWith('#')) continue;
    if (onNodes) out.node.push(line);
    else if (line.startsWith('kubectl ')) out.kubectl.push(line.split(/\s+/).slice(1));
  }
  return out;
}

test.serial('weft installed with kubectl: pods talk across nodes, Services work, Node deletion and uninstall clean up', async (t) => {
  const tookDown = ownCluster(t);
  if (!tookDown) return;
  const steps = uninstallSteps();
  t.true(steps.node.length > 0 && steps.kubectl.length > 0, 'docs/install.md has uninstall steps');

  // --- the cluster, weft image imported but not installed ---
  let started = Date.now();
  await up({ cni: 'weft', installWeft: false, nodes: 3, log: (l) => t.log(l) });
  await importImage(await toolboxImageArchive((l) => t.log(l)));
  t.log(`cluster up, weft not installed, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const before: Record<string, Record<string, string[]>> = {};
  for (const n of NODES) before[n] = await nodeSnapshot(n);

  // --- 1. install, as docs/install.md says ---
  started = Date.now();
  t.log(await kubectl(['apply', '-k', PINNED_OVERLAY]));
  await kubectl(['-n', 'weft', 'rollout', 'status', 'ds/weft', '--timeout=180s']);
  const nodes = await until(t, 'three Ready nodes', 120_000, async () => {
    const items = await apiNodes();
    return items.length === 3 && items.every(isReady) ? items : undefined;
  });
  t.log(`weft rolled out and nodes Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // The pod spec's seccompProfile RuntimeDefault reached every weftd (mode 2: filtering).
  const seccomp = await must('sh', ['-c', 'for p in $(pgrep -f "^/usr/local/bin/weftd run"); do grep "^Seccomp:" /proc/$p/status; done']);
  t.deepEqual(
    seccomp
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+/g, ' ')),
    ['Seccomp: 2', 'Seccomp: 2', 'Seccomp: 2'],
    "three weftds, each under the runtime's seccomp filter",
  );
  const cidrOf = Object.fromEntries(nodes.map((n) => [n.metadata.name, n.spec.podCIDR!]));
  for (const n of NODES) {
    const files = await inNode(n, 'ls /opt/cni/bin /etc/cni/net.d');
    t.regex(files, /\bweft\b/, `${n}: plugin in its /opt/cni/bin`);
    t.regex(files, /10-weft\.conflist/, `${n}: conflist in its /etc/cni/net.d`);
    t.regex(files, /\bloopback\b[\s\S]*\bportmap\b/, `${n}: Debian's loopback and portmap in its /opt/cni/bin`);
  }
  const dsPods = JSON.parse(await kubectl(['-n', 'weft', 'get', 'pods', '-o', 'json'])) as {
    items: { spec: { serviceAccountName: string; nodeName: string } }[];
  };
  t.deepEqual(dsPods.items.map((p) => p.spec.nodeName).sort(), NODES, 'a weft pod on every node');
  t.true(
    dsPods.items.every((p) => p.spec.serviceAccountName === 'weft'),
    'weftd runs as ServiceAccount weft',
  );

  // --- 2. a Deployment over the three nodes; every pod reaches every other ---
  // busybox httpd answers with the pod's name.
  const deployment = spreadDeployment('web', 6, HTTPD);
  const service = (name: string, type: string) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [deployment, service('web', 'ClusterIP'), service('web-np', 'NodePort')] }),
  );
  await kubectl(['rollout', 'status', 'deploy/web', '--timeout=120s']);
  const pods = await runningPods('web');
  t.is(pods.length, 6);
  t.deepEqual([...new Set(pods.map((p) => p.spec.nodeName))].sort(), NODES, 'pods on all three nodes');
  for (const p of pods)
    t.true(inCidr(p.status.podIP!, cidrOf[p.spec.nodeName]!), `${p.metadata.name}: ${p.status.podIP} in ${p.spec.nodeName}'s ${cidrOf[p.spec.nodeName]}`);
  const failures = await allToAllFailures(pods, 'web');
  t.deepEqual(failures, [], `each of 6 pods pings and fetches from all 6 (${6 * 6} pairs, ${6 * 4} across nodes)`);

  // --- 3. Services from every node, and from a pod ---
  const clusterIp = (await kubectl(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const nodePort = (await kubectl(['get', 'svc', 'web-np', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).trim();
  const nodeIps = Object.fromEntries(
    nodes.map((n) => [
      n.metadata.name,
      (n as unknown as { status: { addresses: { type: string; address: string }[] } }).status.addresses.find((a) => a.type === 'InternalIP')!.address,
    ]),
  );
  const answers: Record<string, string> = {};
  for (const n of NODES) {
    const targets = [`${clusterIp}:80`, ...NODES.map((m) => `${nodeIps[m]}:${nodePort}`)];
    for (const target of targets) {
      // kube-proxy may still be programming the new Services: a few tries.
      answers[`${n} → ${target}`] = await until(t, `${n} → ${target}`, 30_000, async () => {
        const r = await nodeExec(n, ['curl', '-s', '--max-time', '3', `http://${target}/`]);
        return r.code === 0 && r.stdout.startsWith('web-') ? r.stdout.trim() : undefined;
      }).catch(() => 'FAILED');
    }
  }
  t.log(answers);
  t.deepEqual(
    Object.entries(answers)
      .filter(([, v]) => v === 'FAILED')
      .map(([k]) => k),
    [],
    "ClusterIP and every node's NodePort answer from every node",
  );
  const fromPod = await kubectl(['exec', pods[0]!.metadata.name, '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${clusterIp} 80`]);
  t.regex(fromPod, /^web-/m, 'ClusterIP from a pod');

  // --- 4. Node deletion: its routes leave the other nodes ---
  // The pods go first (as for the uninstall), so node3 keeps only weft's own.
  await kubectl(['delete', 'deploy/web', 'svc/web', 'svc/web-np', '--wait=true', '--timeout=120s']);
  await until(t, 'the web pods gone', 120_000, async () =>
    (JSON.parse(await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'json'])) as { items: unknown[] }).items.length === 0 ? true : undefined,
  );
  const gone = 'node3';
  const goneCidr = cidrOf[gone]!;
  const goneVtep = (await kubectl(['get', 'node', gone, '-o', 'jsonpath={.metadata.annotations.weft\\.dev/vtep-mac}'])).trim();
  for (const n of ['node1', 'node2']) {
    t.regex(await inNode(n, `ip route show ${goneCidr}`), /weft\.1/, `${n} routes ${goneCidr} over weft.1 before`);
  }
  await kubectl(['delete', 'node', gone]);
  for (const n of ['node1', 'node2']) {
    const state = await until(t, `${n} drops ${gone}'s route`, 30_000, async () => {
      const route = (await inNode(n, `ip route show ${goneCidr}`)).trim();
      const fdb = (await inNode(n, 'bridge fdb show dev weft.1')).trim();
      return route === '' && !fdb.includes(goneVtep) ? { route, fdb } : undefined;
    }).catch(() => undefined);
    t.truthy(state, `${n}: no route to ${goneCidr} and no FDB entry for ${goneVtep} after deleting Node ${gone}`);
  }

  // --- 5. uninstall: docs/install.md, then each node as before the install ---
  started = Date.now();
  for (const args of steps.kubectl) {
    const out = await kubectl(args).catch((err: Error) => `FAILED: ${err.message}`);
    t.log(`kubectl ${args.join(' ')}: ${out.trim().split('\n').join('; ')}`);
    t.false(out.startsWith('FAILED'), `kubectl ${args.join(' ')}`);
  }
  await until(t, 'namespace weft gone', 120_000, async () => ((await kubectl(['get', 'ns', '-o', 'name'])).includes('namespace/weft') ? undefined : true));
  for (const n of NODES) {
    for (const line of steps.node) {
      const r = await nodeExec(n, ['sh', '-c', line]);
      // Some steps have nothing to remove on some nodes (or /run/weft is a mount point here): logged, not failed.
      if (r.code !== 0) t.log(`${n}: \`${line}\`: ${r.stderr.trim()}`);
    }
  }
  t.log(`uninstalled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const n of NODES) {
    const after = await nodeSnapshot(n);
    for (const key of Object.keys(before[n]!)) {
      t.deepEqual(after[key], before[n]![key], `${n}: ${key} as before the install`);
    }
  }
  const annotations = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as {
    items: { metadata: { name: string; annotations?: Record<string, string> } }[];
  };
  t.deepEqual(
    annotations.items.flatMap((n) =>
      Object.keys(n.metadata.annotations ?? {})
        .filter((a) => a.startsWith('weft.dev/'))
        .map((a) => `${n.metadata.name} ${a}`),
    ),
    [],
    'no weft annotations left',
  );

  const { leftovers } = await down({ log: (l) => t.log(l) });
  tookDown();
  t.deepEqual(leftovers, []);
  t.false(existsSync(STATE));
  t.false(existsSync(KUBECONFIG));
});

function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/') as [string, string];
  const n = (a: string) => a.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const mask = bits === '0' ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (n(ip) & mask) === (n(net) & mask);
}
