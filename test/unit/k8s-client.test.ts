// Where weftd finds the API server, and what it relies on inside client-node.
// Serial: these tests set the environment variables that loadKubeConfig reads.
import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { loadInCluster, loadKubeConfig, SERVICE_ACCOUNT_DIR } from '../../src/k8s/client.ts';

const kubeconfig = (server: string) => JSON.stringify({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'c', cluster: { server } }],
  users: [{ name: 'u', user: { token: 't' } }],
  contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
  'current-context': 'x',
});

const ENV = ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'] as const;

/** A temp dir, and an environment without the variables above, both undone after the test. */
async function isolate(t: ExecutionContext): Promise<string> {
  const saved = Object.fromEntries(ENV.map((name) => [name, process.env[name]]));
  for (const name of ENV) delete process.env[name];
  const dir = await mkdtemp(join(tmpdir(), 'weft-kubeconfig-'));
  t.teardown(async () => {
    for (const name of ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

test.serial('a kubeconfig path is used; the option wins over KUBECONFIG', async (t) => {
  const dir = await isolate(t);
  const option = join(dir, 'option.yaml');
  const env = join(dir, 'env.yaml');
  await writeFile(option, kubeconfig('https://option.example:6443'));
  await writeFile(env, kubeconfig('https://env.example:6443'));
  process.env.KUBECONFIG = env;
  t.is(loadKubeConfig({ kubeconfig: option }).getCurrentCluster()?.server, 'https://option.example:6443');
  t.is(loadKubeConfig({}).getCurrentCluster()?.server, 'https://env.example:6443');
});

test.serial('a kubeconfig that cannot be used says which and why', async (t) => {
  const dir = await isolate(t);
  const missing = join(dir, 'missing.yaml');
  t.throws(() => loadKubeConfig({ kubeconfig: missing }), {
    message: new RegExp(`^cannot load the kubeconfig ${missing} \\(from --kubeconfig\\): ENOENT`),
  });
  const noContext = join(dir, 'no-context.yaml');
  await writeFile(noContext, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }));
  process.env.KUBECONFIG = noContext;
  t.throws(() => loadKubeConfig({}), { message: /from KUBECONFIG\) has no current context with a cluster/ });
});

test.serial('without a kubeconfig, the pod\'s service account is used', async (t) => {
  const root = await isolate(t);
  const accountDir = join(root, SERVICE_ACCOUNT_DIR);
  await mkdir(accountDir, { recursive: true });
  await writeFile(join(accountDir, 'token'), 'token');
  await writeFile(join(accountDir, 'ca.crt'), 'ca');
  t.deepEqual(loadInCluster(root), { problem: 'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set' });
  process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  const loaded = loadInCluster(root);
  if ('problem' in loaded) return t.fail(loaded.problem);
  t.is(loaded.kubeConfig.getCurrentCluster()?.server, 'https://10.96.0.1:443');
  t.is(loaded.kubeConfig.getCurrentCluster()?.caFile, join(accountDir, 'ca.crt'));
});

test.serial('with neither, the error names both ways', async (t) => {
  const root = await isolate(t);
  process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  t.regex((loadInCluster(root) as { problem: string }).problem, /serviceaccount\/token does not exist/);
  // This machine has no service account either (it is not a pod).
  t.throws(() => loadKubeConfig({}), {
    message: /^no way to reach the API server: give weftd a kubeconfig \(--kubeconfig or KUBECONFIG\), or run it in a pod with a service account \(.*\)$/,
  });
});

test.serial('client-node 2.0.1 still has the Watch timeout the node watch moves past its watchdog', (t) => {
  // node-watch.ts sets this private field; an upgrade that renames it would
  // silently cut quiet watches at 30 s again.
  const watch = new Watch(new KubeConfig());
  t.is((watch as unknown as { requestTimeoutMs?: unknown }).requestTimeoutMs, 30_000);
});
