// manifests/ against a real kube-apiserver, through kubectl as an operator
// runs it: the API server validates and admits every object, `kubectl apply
// -k` installs them (and a second apply changes nothing), the weft
// ServiceAccount may do exactly what weftd does and nothing more, and the CNI
// config in the ConfigMap runs with the reference portmap plugin. Needs
// tools/kube-tools.sh (etcd, kube-apiserver, kubectl) and, for the CNI part,
// root, dist/weft, cnitool and Debian's containernetworking-plugins.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startControlPlane } from '../../testbed/apiserver.ts';
import { type CniVerb, cnitool as runCnitool } from '../../testbed/cnitool.ts';
import { claimSubnet, makeNetns, tempDir } from '../../testbed/fixtures.ts';
import { findObject, type Kubectl, type KubeObject, kubectlFor, MANIFESTS, renderManifests } from '../../testbed/kubectl.ts';
import { DIST } from '../../testbed/paths.ts';
import { sh } from '../../testbed/shell.ts';

const SERVICE_ACCOUNT = 'system:serviceaccount:weft:weft';

// Every object in manifests/, as kubectl names them in its output.
const OBJECTS = [
  'namespace/weft',
  'serviceaccount/weft',
  'clusterrole.rbac.authorization.k8s.io/weft',
  'clusterrolebinding.rbac.authorization.k8s.io/weft',
  'configmap/weft-config',
  'daemonset.apps/weft',
];

/** `kubectl apply` output as object → what happened ("created", "unchanged (server dry run)"...). */
function applied(stdout: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const space = line.indexOf(' ');
    result[line.slice(0, space)] = line.slice(space + 1);
  }
  return result;
}

function allAre(what: string): Record<string, string> {
  return Object.fromEntries(OBJECTS.map((o) => [o, what]));
}

/** A fresh control plane and kubectl as its admin. */
async function startWithKubectl(t: ExecutionContext): Promise<Kubectl> {
  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  return kubectlFor(t, { kubeconfig: cp.kubeconfig });
}

test('the API server validates and admits every object (server-side dry run)', async (t) => {
  const admin = await startWithKubectl(t);
  // A dry run creates nothing, so the namespaced objects would be refused
  // for want of their namespace (NamespaceLifecycle admission): create the
  // Namespace, as the manifests define it, for real first.
  const namespace = findObject(await renderManifests(admin), 'Namespace', 'weft');
  await admin.ok(['apply', '-f', '-'], JSON.stringify(namespace));

  // --validate=strict: an unknown or duplicated field is an error, not a warning.
  const dryRun = await admin.run(['apply', '--dry-run=server', '--validate=strict', '-f', MANIFESTS]);
  t.is(dryRun.exitCode, 0, dryRun.stderr);
  t.deepEqual(applied(dryRun.stdout), { ...allAre('created (server dry run)'), 'namespace/weft': 'unchanged (server dry run)' });
  // Deprecated APIs and Pod Security violations in a DaemonSet's template
  // come back as warnings.
  t.is(dryRun.stderr, '');

  const after = await admin.run(['get', '-n', 'weft', 'daemonset/weft']);
  t.regex(after.stderr, /NotFound/, 'a dry run stores nothing');
});

test('kubectl apply -f manifests/ installs every object, with the image named once in weft.yaml, and -k or a second apply changes nothing', async (t) => {
  const admin = await startWithKubectl(t);
  const first = await admin.run(['apply', '-f', MANIFESTS]);
  t.is(first.exitCode, 0, first.stderr);
  t.deepEqual(applied(first.stdout), allAre('created'));
  t.is(first.stderr, '');

  // -n applies to the namespaced ones; the cluster-scoped ones ignore it.
  const objects = JSON.parse(await admin.ok(['get', '-n', 'weft', '-o', 'json', ...OBJECTS])) as { items: KubeObject[] };
  t.deepEqual(
    objects.items.map((o) => `${o.kind}/${o.metadata.name}`),
    ['Namespace/weft', 'ServiceAccount/weft', 'ClusterRole/weft', 'ClusterRoleBinding/weft', 'ConfigMap/weft-config', 'DaemonSet/weft'],
  );
  t.is(findObject(objects.items, 'Namespace', 'weft').metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');

  // The image is named once, at the &image anchor; every container gets it.
  const named = /image: &image (\S+)/.exec(readFileSync(join(MANIFESTS, 'weft.yaml'), 'utf8'))?.[1];
  t.truthy(named);
  const daemonSet = findObject<{ spec: { template: { spec: { initContainers: { image: string }[]; containers: { image: string }[] } } } }>(
    objects.items,
    'DaemonSet',
    'weft',
  );
  const pod = daemonSet.spec.template.spec;
  t.deepEqual(
    [...pod.initContainers, ...pod.containers].map((c) => c.image),
    [named, named],
  );

  // kustomize users get the very same objects.
  const second = await admin.run(['apply', '-k', MANIFESTS]);
  t.is(second.exitCode, 0, second.stderr);
  t.deepEqual(applied(second.stdout), allAre('unchanged'));
});

test('the weft ServiceAccount may do exactly what weftd does', async (t) => {
  const admin = await startWithKubectl(t);
  await admin.ok(['apply', '-f', MANIFESTS]);
  const canI = async (args: string[]): Promise<string> => (await admin.run(['auth', 'can-i', `--as=${SERVICE_ACCOUNT}`, ...args])).stdout.trim();

  // The RBAC authorizer learns of new bindings through a watch, a moment later.
  const deadline = Date.now() + 10_000;
  while ((await canI(['patch', 'nodes'])) !== 'yes') {
    if (Date.now() > deadline) throw new Error('the weft ServiceAccount still may not patch nodes 10 s after the apply');
    await new Promise((r) => setTimeout(r, 100));
  }

  const allowed = [
    ['get', 'nodes'],
    ['list', 'nodes'],
    ['watch', 'nodes'],
    ['patch', 'nodes'],
    ['patch', 'nodes', '--subresource=status'],
  ];
  const refused = [
    ['get', 'secrets', '-A'],
    ['list', 'secrets', '-n', 'weft'],
    ['get', 'configmaps', '-n', 'weft'],
    ['update', 'configmaps', '-n', 'weft'],
    ['delete', 'pods', '-A'],
    ['create', 'pods', '-n', 'weft'],
    ['create', 'nodes'],
    ['update', 'nodes'],
    ['delete', 'nodes'],
    ['update', 'nodes', '--subresource=status'],
    ['get', 'nodes', '--subresource=status'],
    ['create', 'serviceaccounts', '--subresource=token', '-n', 'weft'],
    ['update', 'daemonsets.apps', '-n', 'weft'],
    ['create', 'events', '-n', 'weft'],
    ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
    ['impersonate', 'users'],
  ];
  for (const args of allowed) t.is(await canI(args), 'yes', `may ${args.join(' ')}`);
  for (const args of refused) t.is(await canI(args), 'no', `may not ${args.join(' ')}`);

  // And the whole list: beyond weft's two rules only what system:basic-user
  // grants every authenticated identity (asking who it is and what it may do).
  const list = await admin.ok(['auth', 'can-i', '--list', `--as=${SERVICE_ACCOUNT}`]);
  const rules = list
    .split('\n')
    .slice(1)
    .filter((line) => /^\S/.test(line))
    .map((line) => line.split(/\s{2,}/))
    .map(([resource, , , verbs]) => `${resource} ${verbs}`)
    .sort();
  t.deepEqual(rules, [
    'nodes [get list watch patch]',
    'nodes/status [patch]',
    'selfsubjectaccessreviews.authorization.k8s.io [create]',
    'selfsubjectreviews.authentication.k8s.io [create]',
    'selfsubjectrulesreviews.authorization.k8s.io [create]',
  ]);
});

test("the ConfigMap's CNI config runs weft chained with the reference portmap plugin", async (t) => {
  const config = findObject<{ data: Record<string, string> }>(await renderManifests(kubectlFor(t)), 'ConfigMap', 'weft-config');
  const conflist = JSON.parse(config.data['cni-conf.json']!) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };

  // A node (its own netns, so portmap's iptables rules stay there) with the
  // subnet file weftd would have written, and a pod.
  const dir = tempDir(t);
  const node = await makeNetns(t);
  const pod = await makeNetns(t);
  const { subnet, prefix } = claimSubnet(t);
  const subnetFile = join(dir, 'subnet.json');
  writeFileSync(subnetFile, JSON.stringify({ version: 1, clusterNetworks: [subnet], subnets: [{ subnet, gateway: `${prefix}1` }], mtu: 1450, ipMasq: false }));
  // Only the file locations differ from the installed config: the plugin's
  // defaults point at the real node's /run/weft and /var/lib/cni.
  conflist.plugins[0] = { ...conflist.plugins[0], subnetFile, ipam: { dataDir: join(dir, 'ipam') } };
  const confDir = join(dir, 'net.d');
  mkdirSync(confDir);
  writeFileSync(join(confDir, '10-weft.conflist'), JSON.stringify(conflist));

  const cnitool = (verb: CniVerb) =>
    runCnitool({
      verb,
      network: conflist.name,
      confDir,
      netnsPath: pod.path,
      inNetns: node.name,
      // weft from dist/; portmap from Debian's containernetworking-plugins, as a node has it in /opt/cni/bin.
      pluginDirs: [DIST, '/usr/lib/cni'],
      env: { CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] }) },
    });
  const add = await cnitool('add');
  t.is(add.exitCode, 0, `${add.stderr}${add.stdout}`);
  const result = JSON.parse(String(add.stdout)) as { cniVersion: string; ips: { address: string }[] };
  t.is(result.cniVersion, conflist.cniVersion);
  const podIp = result.ips[0]!.address.split('/')[0]!;
  t.true(podIp.startsWith(prefix));

  const nat = await sh('ip', ['netns', 'exec', node.name, 'iptables', '-w', '-t', 'nat', '-S']);
  t.regex(String(nat.stdout), new RegExp(`--dport 18080 .*--to-destination ${podIp.replaceAll('.', '\\.')}:80`), 'portmap added the DNAT rule');

  // No CHECK: Debian's portmap 1.1.1 fails it for any pod without IPv6
  // (containernetworking/plugins#819, fixed in later releases); container
  // runtimes do not call CHECK anyway.
  const del = await cnitool('del');
  t.is(del.exitCode, 0, `${del.stderr}${del.stdout}`);
  const natAfter = await sh('ip', ['netns', 'exec', node.name, 'iptables', '-w', '-t', 'nat', '-S']);
  t.notRegex(String(natAfter.stdout), /--dport 18080/, 'DEL removed it again');
});
