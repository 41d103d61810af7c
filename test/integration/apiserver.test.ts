// The control-plane helper against a real kube-apiserver: a Node written with
// @kubernetes/client-node reads back and takes a merge patch, the apiserver
// survives an outage, and ServiceAccount tokens are held to RBAC. Needs
// tools/kube-tools.sh to have built etcd and kube-apiserver.

import { type ApiException, CoreV1Api, KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import test from 'ava';
import { startControlPlane } from '../../testbed/apiserver.ts';

test('a Node round-trips through a real kube-apiserver', async (t) => {
  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  t.regex(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);

  // The kubeconfig file, as weftd and kubectl read it.
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);

  await core.createNode({
    body: { metadata: { name: 'node-a' }, spec: { podCIDR: '10.244.3.0/24' } },
  });
  const read = await core.readNode({ name: 'node-a' });
  t.is(read.spec?.podCIDR, '10.244.3.0/24');

  const annotation = 'weft.test/public-ip';
  await core.patchNode(
    { name: 'node-a', body: { metadata: { annotations: { [annotation]: '192.0.2.10' } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const patched = await core.readNode({ name: 'node-a' });
  t.is(patched.metadata?.annotations?.[annotation], '192.0.2.10');
  t.is(patched.spec?.podCIDR, '10.244.3.0/24', 'a merge patch leaves other fields alone');
});

test('kube-apiserver comes back after an outage with its data', async (t) => {
  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  const core = cp.adminConfig().makeApiClient(CoreV1Api);
  await core.createNode({ body: { metadata: { name: 'node-b' } } });

  await cp.stopApiServer();
  const refused = await t.throwsAsync(core.readNode({ name: 'node-b' }));
  // fetch reports a refused connection as its error's cause.
  t.is((refused?.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');

  await cp.startApiServer();
  const read = await core.readNode({ name: 'node-b' });
  t.is(read.metadata?.name, 'node-b', 'etcd kept the Node across the restart');
});

test('a ServiceAccount token authenticates and is held to RBAC', async (t) => {
  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  const admin = cp.adminConfig();
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);

  const namespace = 'default';
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'weftd' } } });
  const { status } = await core.createNamespacedServiceAccountToken({
    namespace,
    name: 'weftd',
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const asWeftd = new KubeConfig();
  asWeftd.loadFromClusterAndUser({ name: 'weft-test', server: cp.server, caFile: cp.caFile, skipTLSVerify: false }, { name: 'weftd', token: status?.token });
  const weftdCore = asWeftd.makeApiClient(CoreV1Api);

  const denied = await t.throwsAsync(weftdCore.listNode());
  t.is((denied as ApiException<unknown> | undefined)?.code, 403, 'no Role grants listing Nodes yet');

  await rbac.createClusterRole({
    body: {
      metadata: { name: 'weftd' },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'weftd' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'weftd' },
      subjects: [{ kind: 'ServiceAccount', name: 'weftd', namespace }],
    },
  });
  // The RBAC authorizer sees new bindings through a watch, a moment later.
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      await weftdCore.listNode();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  t.pass();
});
