// Where weftd finds the API server, and what it relies on inside client-node.
// Serial: these tests set the environment variables that loadKubeConfig reads.

import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { loadInCluster, loadKubeConfig, SERVICE_ACCOUNT_DIR } from '../../src/k8s/client.ts';
import { watchWithIdleTimeout } from '../../src/k8s/node-watch.ts';

const kubeconfig = (server: string) =>
  JSON.stringify({
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

test.serial("without a kubeconfig, the pod's service account is used", async (t) => {
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

test.serial("a projected token volume's layout works, and a rotated token is read again", async (t) => {
  // As the kubelet writes manifests/weft.yaml's kube-api-access volume (and
  // the automounted one): the files in a timestamped dir, ..data a symlink to
  // it, and token, ca.crt and namespace symlinks through ..data. A rotation
  // writes a new dir and swaps ..data by rename.
  const root = await isolate(t);
  const accountDir = join(root, SERVICE_ACCOUNT_DIR);
  await mkdir(accountDir, { recursive: true });
  const generation = async (name: string, token: string): Promise<void> => {
    await mkdir(join(accountDir, name));
    await writeFile(join(accountDir, name, 'token'), token);
    await writeFile(join(accountDir, name, 'ca.crt'), 'ca');
    await writeFile(join(accountDir, name, 'namespace'), 'weft');
    await symlink(name, join(accountDir, '..data_tmp'));
    await rename(join(accountDir, '..data_tmp'), join(accountDir, '..data'));
  };
  await generation('..2025_01_01_00_00_00.1', 'first-token');
  for (const file of ['token', 'ca.crt', 'namespace']) await symlink(join('..data', file), join(accountDir, file));
  process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  const loaded = loadInCluster(root);
  if ('problem' in loaded) return t.fail(loaded.problem);
  const kc = loaded.kubeConfig;
  t.is(kc.getContextObject(kc.getCurrentContext())?.namespace, 'weft');
  const bearer = async (): Promise<string | undefined> => {
    const opts: { headers?: Record<string, string> } = {};
    await kc.applyToHTTPSOptions(opts);
    return opts.headers?.Authorization;
  };
  t.is(await bearer(), 'Bearer first-token');

  await generation('..2025_01_01_00_50_00.2', 'second-token');
  t.is(await bearer(), 'Bearer first-token', 'client-node keeps a token for a minute');
  // client-node's FileAuth reads the file again once its copy is a minute old.
  const fileAuth = (kc as unknown as { authenticators: { lastRead?: Date | null }[] }).authenticators.find((a) => 'lastRead' in a);
  if (!fileAuth) return t.fail('client-node has no FileAuth authenticator any more: check how it reads the token file');
  fileAuth.lastRead = new Date(Date.now() - 61_000);
  t.is(await bearer(), 'Bearer second-token');
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

test.serial('the idle timeout weftd sets on a Watch is the one that ends a quiet watch', async (t) => {
  // A server on loopback that takes the watch, sends one event, then says
  // nothing: only the Watch's idle timeout can end it.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'n1' } } })}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const kc = new KubeConfig();
  // Plain HTTP on loopback: client-node allows it only with skipTLSVerify.
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });

  const endAfter = async (idleMs: number, waitMs: number): Promise<{ events: number; endedAt: number | undefined }> => {
    const started = Date.now();
    let events = 0;
    let endedAt: number | undefined;
    const controller = await watchWithIdleTimeout(kc, idleMs).watch(
      '/api/v1/nodes',
      {},
      () => events++,
      () => (endedAt ??= Date.now() - started),
    );
    await new Promise((r) => setTimeout(r, waitMs));
    controller.abort();
    return { events, endedAt };
  };
  const short = await endAfter(300, 1500);
  t.is(short.events, 1);
  t.true(short.endedAt !== undefined && short.endedAt >= 250 && short.endedAt < 1500, `a 300 ms idle timeout ended the watch at ${short.endedAt} ms`);
  const long = await endAfter(5000, 1500);
  t.is(long.endedAt, undefined, 'a 5 s idle timeout keeps a quiet watch open past 1.5 s');
});
