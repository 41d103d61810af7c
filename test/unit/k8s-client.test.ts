// Where weftd finds the API server and how its own client talks to it: the
// kubeconfig forms it takes and refuses, the service account's token read
// again after a rotation, TLS checked against the given CA, errors kept.
// Serial: these tests set the environment variables that loadApiClient reads.

import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ApiClient, ApiError } from '../../src/k8s/api-client.ts';
import { describeApiError } from '../../src/k8s/api-errors.ts';
import { loadApiClient, loadInCluster, SERVICE_ACCOUNT_DIR } from '../../src/k8s/client.ts';
import { readKubeconfig } from '../../src/k8s/kubeconfig.ts';
import { microTime } from '../../src/k8s/node-events.ts';
import { LineSplitter } from '../../src/k8s/node-watch.ts';
import { makePki } from '../../tools/pki.ts';

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

type Seen = { method: string; url: string; authorization?: string; contentType?: string; body: string };

/** A server on loopback that records each request and answers with `answer`; closed in teardown. */
async function listen(
  t: ExecutionContext,
  answer: (req: IncomingMessage, res: ServerResponse) => void,
  tls?: { cert: Buffer; key: Buffer },
): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
      answer(req, res);
    });
  };
  const server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, seen };
}

const json = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

test.serial('a kubeconfig path is used; the option wins over KUBECONFIG', async (t) => {
  const dir = await isolate(t);
  const option = join(dir, 'option.yaml');
  const env = join(dir, 'env.yaml');
  await writeFile(option, kubeconfig('https://option.example:6443'));
  await writeFile(env, kubeconfig('https://env.example:6443'));
  process.env.KUBECONFIG = env;
  t.is(loadApiClient({ kubeconfig: option }).server.origin, 'https://option.example:6443');
  t.is(loadApiClient({}).server.origin, 'https://env.example:6443');
});

test.serial('a YAML kubeconfig: data fields decoded, relative paths taken from its folder, as kubectl does', async (t) => {
  const dir = await isolate(t);
  const path = join(dir, 'config');
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
current-context: x
contexts:
- name: x
  context: {cluster: c, user: u}
clusters:
- name: other
  cluster: {server: "https://wrong.example"}
- name: c
  cluster:
    server: https://api.example:6443
    certificate-authority-data: ${Buffer.from('CA PEM').toString('base64')}
    tls-server-name: kubernetes
users:
- name: u
  user:
    client-certificate: certs/admin.crt
    client-key: /abs/admin.key
    tokenFile: token
`,
  );
  t.deepEqual(readKubeconfig(path, 'test'), {
    server: 'https://api.example:6443',
    caData: Buffer.from('CA PEM'),
    tlsServerName: 'kubernetes',
    certFile: join(dir, 'certs/admin.crt'),
    keyFile: '/abs/admin.key',
    tokenFile: join(dir, 'token'),
  });
});

test.serial('a kubeconfig weftd cannot use names itself, what is wrong and the fix', async (t) => {
  const dir = await isolate(t);
  const base = JSON.parse(kubeconfig('https://api.example:6443')) as Record<string, unknown>;
  const cases: [string, string, RegExp][] = [
    ['not a mapping', '- just\n- a list\n', /it is not a YAML or JSON mapping/],
    ['bad YAML', 'clusters: [\n', /cannot load the kubeconfig .*bad YAML.*\(from --kubeconfig\): /],
    ['no context', JSON.stringify({ ...base, 'current-context': '' }), /has no current context with a cluster: set its current-context/],
    ['unknown context', JSON.stringify({ ...base, 'current-context': 'y' }), /has no context named y in contexts: add it or fix the name/],
    ['unknown cluster', JSON.stringify({ ...base, clusters: [] }), /has no cluster named c in clusters/],
    ['no server', JSON.stringify({ ...base, clusters: [{ name: 'c', cluster: {} }] }), /its cluster c has no server: set clusters\[\]\.cluster\.server/],
    [
      'not a URL',
      JSON.stringify({ ...base, clusters: [{ name: 'c', cluster: { server: 'api:6443:x' } }] }),
      /is not (a URL|http\(s\)): give it as https:\/\/host:port/,
    ],
    [
      'proxy',
      JSON.stringify({ ...base, clusters: [{ name: 'c', cluster: { server: 'https://a', 'proxy-url': 'http://p' } }] }),
      /proxy-url, which weftd does not support/,
    ],
    [
      'exec plugin',
      JSON.stringify({ ...base, users: [{ name: 'u', user: { exec: { command: 'aws' } } }] }),
      /through an exec credential plugin, which weftd does not run: give weftd a kubeconfig with a token, tokenFile or client certificate/,
    ],
    [
      'auth provider',
      JSON.stringify({ ...base, users: [{ name: 'u', user: { 'auth-provider': { name: 'gcp' } } }] }),
      /through an auth provider, which weftd does not run/,
    ],
    [
      'bad base64',
      JSON.stringify({ ...base, clusters: [{ name: 'c', cluster: { server: 'https://a', 'certificate-authority-data': 'not base64!' } }] }),
      /its certificate-authority-data is not base64/,
    ],
    [
      'missing CA file',
      JSON.stringify({ ...base, clusters: [{ name: 'c', cluster: { server: 'https://a', 'certificate-authority': 'nowhere.crt' } }] }),
      /cannot read the certificate authority file .*nowhere\.crt: ENOENT/,
    ],
  ];
  for (const [name, text, message] of cases) {
    const path = join(dir, `${name}.yaml`);
    await writeFile(path, text);
    const err = t.throws(() => loadApiClient({ kubeconfig: path }), undefined, name);
    t.regex(err?.message ?? '', message, name);
    if (!/missing CA file|not a URL/.test(name)) t.true(err?.message.startsWith(`cannot load the kubeconfig ${path} (from --kubeconfig): `), name);
  }
  const missing = join(dir, 'missing.yaml');
  t.throws(() => loadApiClient({ kubeconfig: missing }), { message: new RegExp(`^cannot load the kubeconfig ${missing} \\(from --kubeconfig\\): ENOENT`) });
});

test.serial("without a kubeconfig, the pod's service account is used; an IPv6 service host is bracketed", async (t) => {
  const root = await isolate(t);
  const accountDir = join(root, SERVICE_ACCOUNT_DIR);
  await mkdir(accountDir, { recursive: true });
  await writeFile(join(accountDir, 'token'), 'token');
  await writeFile(join(accountDir, 'ca.crt'), 'ca');
  t.deepEqual(loadInCluster(root), { problem: 'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set' });
  process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '6443';
  const loaded = loadInCluster(root);
  if ('problem' in loaded) return t.fail(loaded.problem);
  t.is(loaded.client.server.origin, 'https://10.96.0.1:6443');
  process.env.KUBERNETES_SERVICE_HOST = 'fd00:10:96::1';
  const v6 = loadInCluster(root);
  if ('problem' in v6) return t.fail(v6.problem);
  t.is(v6.client.server.origin, 'https://[fd00:10:96::1]:6443');
});

test.serial("a projected token volume's layout works, the CA is checked, and a rotated token is used at the next request", async (t) => {
  // As the kubelet writes manifests/weft.yaml's kube-api-access volume (and
  // the automounted one): the files in a timestamped dir, ..data a symlink to
  // it, and token, ca.crt and namespace symlinks through ..data. A rotation
  // writes a new dir and swaps ..data by rename.
  const root = await isolate(t);
  const pki = join(root, 'pki');
  await makePki(pki, { caSubject: '/CN=test-ca', days: 1, server: { name: 'server', subject: '/CN=api', altNames: ['IP:127.0.0.1'] }, clients: {} });
  const tls = { cert: await readFile(join(pki, 'server.crt')), key: await readFile(join(pki, 'server.key')) };
  const { port, seen } = await listen(t, json(200, { metadata: { name: 'n1' } }), tls);

  const accountDir = join(root, SERVICE_ACCOUNT_DIR);
  await mkdir(accountDir, { recursive: true });
  const generation = async (name: string, token: string): Promise<void> => {
    await mkdir(join(accountDir, name));
    await writeFile(join(accountDir, name, 'token'), token);
    await writeFile(join(accountDir, name, 'ca.crt'), await readFile(join(pki, 'ca.crt')));
    await writeFile(join(accountDir, name, 'namespace'), 'weft');
    await symlink(name, join(accountDir, '..data_tmp'));
    await rename(join(accountDir, '..data_tmp'), join(accountDir, '..data'));
  };
  await generation('..2025_01_01_00_00_00.1', 'first-token\n');
  for (const file of ['token', 'ca.crt', 'namespace']) await symlink(join('..data', file), join(accountDir, file));
  process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
  process.env.KUBERNETES_SERVICE_PORT = String(port);
  const loaded = loadInCluster(root);
  if ('problem' in loaded) return t.fail(loaded.problem);
  const api = loaded.client;
  t.teardown(() => api.close());

  t.deepEqual(await api.json('GET', '/api/v1/nodes/n1'), { metadata: { name: 'n1' } });
  await generation('..2025_01_01_00_50_00.2', 'second-token');
  await api.json('GET', '/api/v1/nodes/n1');
  t.deepEqual(
    seen.map((s) => s.authorization),
    ['Bearer first-token', 'Bearer second-token'],
  );

  // Another CA does not vouch for this server: no request goes out.
  const other = join(root, 'other');
  await makePki(other, { caSubject: '/CN=other-ca', days: 1, server: { name: 'server', subject: '/CN=x', altNames: ['IP:127.0.0.1'] }, clients: {} });
  const stranger = new ApiClient({ server: `https://127.0.0.1:${port}`, caFile: join(other, 'ca.crt'), token: 't' });
  const refused = await t.throwsAsync(stranger.json('GET', '/api/v1/nodes/n1'));
  t.regex(refused?.message ?? '', new RegExp(`^GET /api/v1/nodes/n1: no answer from the API server at https://127.0.0.1:${port}$`));
  t.regex(describeApiError(refused), /certificate/);
  t.is(seen.length, 2);
});

test.serial('with neither, the error names both ways', async (t) => {
  const root = await isolate(t);
  process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  t.regex((loadInCluster(root) as { problem: string }).problem, /serviceaccount\/token does not exist/);
  // This machine has no service account either (it is not a pod).
  t.throws(() => loadApiClient({}), {
    message: /^no way to reach the API server: give weftd a kubeconfig \(--kubeconfig or KUBECONFIG\), or run it in a pod with a service account \(.*\)$/,
  });
});

test('requests carry the query, the JSON body and its patch type; an error answer keeps its status and Status', async (t) => {
  const { port, seen } = await listen(t, (req, res) => {
    if (req.method === 'PATCH') return json(200, { ok: true })(req, res);
    json(403, { kind: 'Status', code: 403, message: 'nodes "n1" is forbidden: no' })(req, res);
  });
  const api = new ApiClient({ server: `http://127.0.0.1:${port}/prefix/`, basicAuth: { username: 'u', password: 'p' } });
  t.teardown(() => api.close());
  await api.json('PATCH', '/api/v1/nodes/n1/status', {
    query: { fieldManager: 'weftd', skip: undefined },
    body: { a: 1 },
    contentType: 'application/merge-patch+json',
  });
  t.like(seen[0], {
    method: 'PATCH',
    url: '/prefix/api/v1/nodes/n1/status?fieldManager=weftd',
    authorization: `Basic ${Buffer.from('u:p').toString('base64')}`,
    contentType: 'application/merge-patch+json',
    body: '{"a":1}',
  });
  const denied = await t.throwsAsync(api.json('GET', '/api/v1/nodes/n1'));
  t.true(denied instanceof ApiError);
  t.is((denied as ApiError).statusCode, 403);
  t.is(describeApiError(denied), 'HTTP 403: nodes "n1" is forbidden: no');
});

test('a JSON answer that arrives cut anywhere, even inside a character, reads back whole', async (t) => {
  let pieces: Buffer[] = [];
  const { port } = await listen(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    // Each piece in its own write, a turn of the loop apart, so that the client reads them apart.
    const send = (i: number): void => {
      if (i === pieces.length) return void res.end();
      res.write(pieces[i], () => setImmediate(() => send(i + 1)));
    };
    send(0);
  });
  const api = new ApiClient({ server: `http://127.0.0.1:${port}` });
  t.teardown(() => api.close());
  const bodies = fc.record({
    items: fc.array(fc.record({ name: fc.string({ unit: 'grapheme' }), label: fc.string({ unit: 'grapheme-composite' }) }), { maxLength: 8 }),
  });
  await fc.assert(
    fc.asyncProperty(bodies, fc.array(fc.nat(), { maxLength: 12 }), async (body, cuts) => {
      const bytes = Buffer.from(JSON.stringify(body));
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      pieces = [...points, bytes.length].map((at, i, all) => bytes.subarray(i === 0 ? 0 : all[i - 1], at)).filter((p) => p.length > 0);
      t.deepEqual(await api.json('GET', '/api/v1/nodes'), body);
    }),
    { numRuns: 40 },
  );
});

test('a watch stream cut anywhere gives back the same lines', (t) => {
  const events = fc.array(
    fc.record({ type: fc.constantFrom('ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK'), object: fc.record({ name: fc.string({ unit: 'grapheme' }) }) }),
    { maxLength: 20 },
  );
  fc.assert(
    fc.property(events, fc.array(fc.nat(), { maxLength: 30 }), (list, cuts) => {
      const bytes = Buffer.from(list.map((e) => `${JSON.stringify(e)}\n`).join(''));
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const splitter = new LineSplitter();
      const lines: string[] = [];
      let from = 0;
      for (const at of [...points, bytes.length]) {
        lines.push(...splitter.push(bytes.subarray(from, at)));
        from = at;
      }
      t.deepEqual(
        lines.map((l) => JSON.parse(l)),
        list,
      );
    }),
  );
});

test("an event's time has the microseconds the API server requires", (t) => {
  t.is(microTime(new Date(Date.UTC(2026, 10, 27, 20, 1, 2, 345))), '2026-11-27T20:01:02.345000Z');
});
