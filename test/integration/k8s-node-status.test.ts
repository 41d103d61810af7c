// What weftd writes on its own Node, against a real kube-apiserver: the VTEP
// annotations, the NetworkUnavailable condition, reading a Node back, the
// errors an operator sees when RBAC or the node name is wrong, and all of it
// as weftd runs in a pod: with the manifests' ClusterRole and admission policy
// and nothing more, through a pod-bound token. One control plane serves the
// whole file. Needs tools/kube-tools.sh (and kubectl for the manifests).

import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import type { ApiClient } from '../../src/k8s/api-client.ts';
import { loadApiClient, loadInCluster, SERVICE_ACCOUNT_DIR } from '../../src/k8s/client.ts';
import { publishVteps, readNode, setNetworkAvailable } from '../../src/k8s/node-status.ts';
import { macForName, vtepMacFor } from '../../src/net/mac.ts';
import { type ControlPlane, podBoundToken, startControlPlane } from '../../testbed/apiserver.ts';
import { kubectlFor, MANIFESTS } from '../../testbed/kubectl.ts';

const test = anyTest as TestFn<{ cp: ControlPlane; kc: ApiClient; core: CoreV1Api }>;

test.before(async (t) => {
  const cp = await startControlPlane();
  // weftd's client as weftd loads it from --kubeconfig; client-node's, as an independent reader.
  const kc = loadApiClient({ kubeconfig: cp.kubeconfig });
  t.context = { cp, kc, core: cp.adminConfig().makeApiClient(CoreV1Api) };
});

test.after.always(async (t) => {
  await t.context.cp?.stop();
});

const vtep = { ip: '192.0.2.10', mac: '0e:00:00:00:00:0a' };

test('publishVteps sets the VTEP annotations and keeps the others', async (t) => {
  const { kc, core } = t.context;
  await core.createNode({
    body: { metadata: { name: 'st-a', annotations: { 'example.com/keep': 'yes' } }, spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] } },
  });

  await publishVteps(kc, 'st-a', { 4: vtep });
  const node = await core.readNode({ name: 'st-a' });
  t.deepEqual(node.metadata?.labels ?? {}, {}, 'nothing but the annotations');
  t.like(node.metadata?.annotations, {
    'example.com/keep': 'yes',
    'weft.dev/vtep-ip': '192.0.2.10',
    'weft.dev/vtep-mac': '0e:00:00:00:00:0a',
    'weft.dev/backend': 'vxlan',
  });
  t.true(
    node.metadata?.managedFields?.some((f) => f.manager === 'weftd' && f.subresource === 'status'),
    "the patch is recorded as weftd's, through the status subresource",
  );

  // A new VTEP MAC (the device was recreated) replaces the old one.
  await publishVteps(kc, 'st-a', { 4: { ...vtep, mac: '0e:00:00:00:00:0b' } });
  t.deepEqual(await readNode(kc, 'st-a'), {
    name: 'st-a',
    podCidrs: ['10.244.1.0/24'],
    annotations: { 'weft.dev/vtep-ip': '192.0.2.10', 'weft.dev/vtep-mac': '0e:00:00:00:00:0b', 'weft.dev/backend': 'vxlan' },
    resourceVersion: (await core.readNode({ name: 'st-a' })).metadata!.resourceVersion!,
    created: Date.parse(String((await core.readNode({ name: 'st-a' })).metadata!.creationTimestamp)),
  });
});

test('publishVteps sets the pair of each underlay family, and removes the pair of a family the node no longer has', async (t) => {
  const { kc, core } = t.context;
  await core.createNode({ body: { metadata: { name: 'st-g', annotations: { 'example.com/keep': 'yes' } } } });
  const v4 = { ip: '192.0.2.20', mac: vtepMacFor('st-g', 4) };
  const v6 = { ip: '2001:db8::20', mac: vtepMacFor('st-g', 6) };
  const weft = async () => (await readNode(kc, 'st-g'))?.annotations;

  await publishVteps(kc, 'st-g', { 4: v4, 6: v6 });
  t.deepEqual(await weft(), {
    'weft.dev/vtep-ip': v4.ip,
    'weft.dev/vtep-mac': v4.mac,
    'weft.dev/vtep-ip6': v6.ip,
    'weft.dev/vtep-mac6': v6.mac,
    'weft.dev/backend': 'vxlan',
  });
  // The IPv4 underlay is gone (an IPv6-only node now): its pair goes with it.
  await publishVteps(kc, 'st-g', { 6: v6 });
  t.deepEqual(await weft(), { 'weft.dev/vtep-ip6': v6.ip, 'weft.dev/vtep-mac6': v6.mac, 'weft.dev/backend': 'vxlan' });
  await publishVteps(kc, 'st-g', { 4: v4 });
  t.deepEqual(await weft(), { 'weft.dev/vtep-ip': v4.ip, 'weft.dev/vtep-mac': v4.mac, 'weft.dev/backend': 'vxlan' });
  t.is((await core.readNode({ name: 'st-g' })).metadata?.annotations?.['example.com/keep'], 'yes', 'other annotations stay');
});

test('setNetworkAvailable clears NetworkUnavailable and keeps the other conditions', async (t) => {
  const { kc, core } = t.context;
  await core.createNode({ body: { metadata: { name: 'st-b' } } });
  // As a cloud provider and the kubelet leave a new node.
  const earlier = '2020-01-01T00:00:00Z';
  await core.patchNodeStatus(
    {
      name: 'st-b',
      body: {
        status: {
          conditions: [
            { type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: earlier, lastTransitionTime: earlier },
            { type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', lastHeartbeatTime: earlier, lastTransitionTime: earlier },
          ],
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );

  const before = Date.now();
  await setNetworkAvailable(kc, 'st-b', 'weft is up: VXLAN device weft.1');
  await setNetworkAvailable(kc, 'st-b', 'weft is up: VXLAN device weft.1');
  const conditions = (await core.readNode({ name: 'st-b' })).status?.conditions ?? [];
  t.deepEqual(conditions.map((c) => c.type).sort(), ['NetworkUnavailable', 'Ready'], 'merged by type: one of each');
  const network = conditions.find((c) => c.type === 'NetworkUnavailable');
  t.like(network, { status: 'False', reason: 'WeftIsUp', message: 'weft is up: VXLAN device weft.1' });
  for (const time of [network?.lastTransitionTime, network?.lastHeartbeatTime]) {
    t.true(time !== undefined && time.getTime() >= before - 1000 && time.getTime() <= Date.now(), String(time));
  }
  t.like(
    conditions.find((c) => c.type === 'Ready'),
    { status: 'True', reason: 'KubeletReady' },
  );
});

test('readNode gives the compact view, and undefined for a missing node', async (t) => {
  const { kc, core } = t.context;
  await core.createNode({
    body: {
      metadata: { name: 'st-c', annotations: { 'weft.dev/vtep-ip': '192.0.2.11', 'example.com/other': 'x' }, labels: { zone: 'a' } },
      spec: { podCIDR: '10.244.3.0/24', podCIDRs: ['10.244.3.0/24', 'fd00:3::/64'] },
    },
  });
  const info = await readNode(kc, 'st-c');
  t.deepEqual(Object.keys(info ?? {}).sort(), ['annotations', 'created', 'name', 'podCidrs', 'resourceVersion']);
  t.deepEqual(info?.podCidrs, ['10.244.3.0/24', 'fd00:3::/64']);
  t.deepEqual(info?.annotations, { 'weft.dev/vtep-ip': '192.0.2.11' });
  t.is(await readNode(kc, 'no-such-node'), undefined);
});

// A port nothing listens on. Not one the kernel just handed out and took
// back: tests running alongside may bind that one next (seen as ECONNRESET).
// Port 2 is privileged and no test or tool here ever listens on it.
const CLOSED_PORT = 2;

test('a missing node or an unreachable API server is named with the fix', async (t) => {
  const { kc, cp } = t.context;
  const missing = await t.throwsAsync(publishVteps(kc, 'no-such-node', { 4: vtep }));
  t.regex(missing?.message ?? '', /cannot publish the VTEP on node no-such-node: no such Node .*check weftd's --node-name \(NODE_NAME/);
  t.is((missing?.cause as { statusCode?: number } | undefined)?.statusCode, 404, 'the API error is kept as the cause');

  const unreachable = cp.adminApi(`https://127.0.0.1:${CLOSED_PORT}`);
  const down = await t.throwsAsync(readNode(unreachable, 'st-a'));
  t.regex(down?.message ?? '', /cannot read node st-a: the API server did not answer \(ECONNREFUSED.*\); check that kube-apiserver is up/);
});

// Serial: it points the process's environment at the API server, as the
// kubelet does for a pod, while the in-cluster configuration is loaded.
test.serial('in a pod without RBAC for nodes, every call names the node and the ClusterRole', async (t) => {
  const { cp, core } = t.context;
  await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'weftd' } } });
  const { status } = await core.createNamespacedServiceAccountToken({
    namespace: 'default',
    name: 'weftd',
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const asWeftd = await inPod(t, cp, status!.token!, 'default');
  await core.createNode({ body: { metadata: { name: 'st-d' } } });

  const patch = await t.throwsAsync(publishVteps(asWeftd, 'st-d', { 4: vtep }));
  t.regex(
    patch?.message ?? '',
    /^weftd's service account may not patch the status of node st-d \(HTTP 403: .*\): apply manifests\/weft\.yaml's ClusterRole, which grants patch on nodes\/status$/,
  );
  const condition = await t.throwsAsync(setNetworkAvailable(asWeftd, 'st-d', 'up'));
  t.regex(condition?.message ?? '', /^weftd's service account may not patch the status of node st-d .*nodes\/status/);
  const read = await t.throwsAsync(readNode(asWeftd, 'st-d'));
  t.regex(read?.message ?? '', /^weftd's service account may not get node st-d /);
});

// Serial, as above. The manifests' ClusterRole and admission policy, and the
// token a kubelet gets for a weft pod on st-e: everything weftd does to its
// own Node works with that alone, and the same writes to another Node do not.
test.serial("in a weft pod, the manifests' ClusterRole and policy are all weftd needs for its own Node, and refuse it any other", async (t) => {
  const { cp, core } = t.context;
  await kubectlFor(t, { kubeconfig: cp.kubeconfig }).ok(['apply', '-f', MANIFESTS]);
  for (const name of ['st-e', 'st-f']) {
    await core.createNode({
      body: { metadata: { name, annotations: { 'example.com/keep': 'yes' } }, spec: { podCIDR: '10.244.5.0/24', podCIDRs: ['10.244.5.0/24'] } },
    });
  }
  const token = await podBoundToken(core, { namespace: 'weft', serviceAccount: 'weft', pod: 'weft-st-e', node: 'st-e' });
  const asWeftd = await inPod(t, cp, token, 'weft');
  const own = { ip: '192.0.2.14', mac: macForName('st-e') };

  // RBAC and the policy reach the authorizer and admission through watches, a
  // moment after the apply: until the policy refuses a write to st-f, it may
  // go through (or RBAC may refuse it).
  let refused: Error | undefined;
  const until = Date.now() + 10_000;
  while (!refused?.message.includes('admission policy') && Date.now() < until) {
    refused = await publishVteps(asWeftd, 'st-f', { 4: own }).then(
      () => undefined,
      (err: Error) => err,
    );
    if (!refused) await new Promise((r) => setTimeout(r, 100));
  }
  t.regex(
    refused?.message ?? 'allowed',
    /^cannot publish the VTEP on node st-f: an admission policy refused it \(HTTP 403: .*may not update Node st-f, only its own\)/,
  );
  const other = await t.throwsAsync(setNetworkAvailable(asWeftd, 'st-f', 'up'));
  t.regex(other?.message ?? '', /^cannot mark the network available on node st-f: an admission policy refused it/);

  // On its own Node, with the policy in force, all of weftd's calls go through.
  await publishVteps(asWeftd, 'st-e', { 4: own });
  await setNetworkAvailable(asWeftd, 'st-e', 'weft is up: VXLAN device weft.1');
  const info = await readNode(asWeftd, 'st-e');
  t.deepEqual(info?.annotations, { 'weft.dev/vtep-ip': '192.0.2.14', 'weft.dev/vtep-mac': own.mac, 'weft.dev/backend': 'vxlan' });
  const node = await core.readNode({ name: 'st-e' });
  t.is(node.metadata?.annotations?.['example.com/keep'], 'yes');
  t.like(
    node.status?.conditions?.find((c) => c.type === 'NetworkUnavailable'),
    { status: 'False', reason: 'WeftIsUp' },
  );
});

/**
 * A client configuration as weftd loads it in a pod: the token, CA and
 * namespace at the service-account path under a temp root, and the API
 * server in KUBERNETES_SERVICE_HOST/PORT while loadInCluster reads them.
 */
async function inPod(t: ExecutionContext, cp: ControlPlane, token: string, namespace: string): Promise<ApiClient> {
  const root = await mkdtemp(join(tmpdir(), 'weft-pod-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const accountDir = join(root, SERVICE_ACCOUNT_DIR);
  await mkdir(accountDir, { recursive: true });
  await writeFile(join(accountDir, 'token'), token);
  await copyFile(cp.caFile, join(accountDir, 'ca.crt'));
  await writeFile(join(accountDir, 'namespace'), namespace);

  const url = new URL(cp.server);
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  process.env.KUBERNETES_SERVICE_HOST = url.hostname;
  process.env.KUBERNETES_SERVICE_PORT = url.port;
  try {
    const inCluster = loadInCluster(root);
    if ('problem' in inCluster) throw new Error(inCluster.problem);
    return inCluster.client;
  } finally {
    restoreEnv('KUBERNETES_SERVICE_HOST', saved.host);
    restoreEnv('KUBERNETES_SERVICE_PORT', saved.port);
  }
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
