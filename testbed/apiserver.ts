import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, type CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ApiClient, ApiError } from '../src/k8s/api-client.ts';
import { describeApiError } from '../src/k8s/api-errors.ts';
import { freePorts } from '../tools/free-ports.ts';
import { makePki } from '../tools/pki.ts';
import { startJanitor } from './janitor.ts';
import { CACHE_BIN, requireBuilt } from './paths.ts';
import { type Launched, launch, waitReady } from './process.ts';

const loopback = '127.0.0.1';

export interface ControlPlaneOptions {
  /** Where etcd and kube-apiserver are; default .cache/bin. */
  binDir?: string;
  /** --service-cluster-ip-range; default 10.96.0.0/16. */
  serviceClusterIPRange?: string;
  /**
   * Appended to kube-apiserver's flags, after ours: a repeated single-value
   * flag takes the last value, a list flag adds to our list.
   */
  apiServerArgs?: string[];
  /** How long etcd and then kube-apiserver each get to become ready; default 60 s. */
  readyTimeoutMs?: number;
}

export interface ControlPlane {
  /** Path of a kubeconfig for the system:masters admin. */
  kubeconfig: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** The CA that signed the serving and client certificates. */
  caFile: string;
  /** The admin's client certificate and key, as in the kubeconfig. */
  certFile: string;
  keyFile: string;
  /** The admin's client configuration, for the API server or for `server` in front of it (a relay). */
  adminConfig(server?: string): KubeConfig;
  /** weftd's own client with the admin's credentials, to `server` (default: this API server). */
  adminApi(server?: string): ApiClient;
  /** Kills kube-apiserver (like a crash), leaving etcd and its data alone. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port and waits for /readyz. */
  startApiServer(): Promise<void>;
  /** Kills both processes and removes the temp dir; safe to call twice. */
  stop(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = opts.binDir ?? CACHE_BIN;
  const built = (name: string) => requireBuilt(join(binDir, name), 'run tools/kube-tools.sh (about 5 minutes the first time)');
  const etcdBin = built('etcd');
  const apiServerBin = built('kube-apiserver');
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;

  const dir = await mkdtemp(join(tmpdir(), 'weft-control-plane-'));
  const janitor = startJanitor(JANITOR, [dir]);
  let etcd: Launched | undefined;
  let apiServer: Launched | undefined;
  const stopAll = async (): Promise<void> => {
    await Promise.all([apiServer?.stop('SIGKILL'), etcd?.stop('SIGKILL')]);
    await janitor.release();
  };

  try {
    const pki = await makeTestPki(dir);
    const [etcdPort, etcdPeerPort, apiPort] = await freePorts(3);
    const etcdUrl = `http://${loopback}:${etcdPort}`;
    const server = `https://${loopback}:${apiPort}`;

    etcd = start(etcdBin, join(dir, 'etcd.log'), [
      `--name=weft-test`,
      `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://${loopback}:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://${loopback}:${etcdPeerPort}`,
      `--initial-cluster=weft-test=http://${loopback}:${etcdPeerPort}`,
      // The data is thrown away after the test; fsync only costs time.
      '--unsafe-no-fsync',
      // A lone member still waits out one election timeout (1 s by default)
      // before it leads and serves; with no peers, short timers are safe.
      '--heartbeat-interval=10',
      '--election-timeout=100',
      '--log-level=warn',
    ]);
    await waitReady(etcd, 'etcd to be healthy', readyTimeoutMs, () => probe(`${etcdUrl}/health`));

    const apiServerArgs = [
      `--bind-address=${loopback}`,
      `--advertise-address=${loopback}`,
      `--secure-port=${apiPort}`,
      `--etcd-servers=${etcdUrl}`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caFile}`,
      // Node and RBAC as on a real cluster, so tests see a ServiceAccount
      // refused what its Role does not grant.
      '--authorization-mode=Node,RBAC',
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${pki.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${opts.serviceClusterIPRange ?? '10.96.0.0/16'}`,
      '--allow-privileged=true',
      // Without a controller-manager no namespace gets its "default"
      // ServiceAccount, and this plugin would then refuse every Pod.
      '--disable-admission-plugins=ServiceAccount',
      // Endpoints may not hold a loopback address, so keeping the "kubernetes"
      // Service's endpoints at 127.0.0.1 would only log errors.
      '--endpoint-reconciler-type=none',
      ...(opts.apiServerArgs ?? []),
    ];
    const apiServerLog = join(dir, 'kube-apiserver.log');
    // As the admin: anonymous requests may be refused until RBAC's default
    // roles exist, late in the start-up.
    const tls = adminTls(pki);
    const startApiServer = async (): Promise<void> => {
      apiServer = start(apiServerBin, apiServerLog, apiServerArgs);
      await waitReady(apiServer, 'kube-apiserver to be ready', readyTimeoutMs, () => probe(`${server}/readyz`, tls));
    };
    await startApiServer();

    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, kubeconfigFor(server, pki));

    let stopped = false;
    return {
      kubeconfig,
      server,
      caFile: pki.caFile,
      certFile: pki.adminCert,
      keyFile: pki.adminKey,
      adminConfig(through = server) {
        const kc = new KubeConfig();
        // The serving certificate is for 127.0.0.1, whatever the port.
        kc.loadFromClusterAndUser(
          { name: 'weft-test', server: through, caFile: pki.caFile, skipTLSVerify: false },
          { name: 'admin', certFile: pki.adminCert, keyFile: pki.adminKey },
        );
        return kc;
      },
      adminApi(through = server) {
        return new ApiClient({ server: through, caFile: pki.caFile, certFile: pki.adminCert, keyFile: pki.adminKey });
      },
      async stopApiServer() {
        await apiServer?.stop('SIGKILL');
      },
      async startApiServer() {
        if (stopped) throw new Error('startApiServer: this control plane was stopped; start a new one');
        if (apiServer?.exitStatus() === undefined) {
          throw new Error('startApiServer: kube-apiserver is still running; call stopApiServer() first');
        }
        await startApiServer();
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * A token of a ServiceAccount bound to a Pod scheduled to `node`, as the
 * kubelet gets for a projected serviceAccountToken volume: the Pod object is
 * created here with spec.nodeName set (with no kubelet it stays Pending,
 * which is all the TokenRequest API looks at), and the token's user then
 * carries the extras authentication.kubernetes.io/node-name (and pod-name).
 * The Node must exist first: the API server reads it for the node claims.
 */
export async function podBoundToken(
  core: CoreV1Api,
  opts: { namespace: string; serviceAccount: string; pod: string; node: string; expirationSeconds?: number },
): Promise<string> {
  const pod = await core.createNamespacedPod({
    namespace: opts.namespace,
    body: {
      metadata: { name: opts.pod },
      spec: { nodeName: opts.node, serviceAccountName: opts.serviceAccount, containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10' }] },
    },
  });
  const request = await core.createNamespacedServiceAccountToken({
    namespace: opts.namespace,
    name: opts.serviceAccount,
    body: {
      spec: {
        audiences: [],
        expirationSeconds: opts.expirationSeconds ?? 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: opts.pod, uid: pod.metadata?.uid },
      },
    },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`the TokenRequest for ${opts.namespace}/${opts.serviceAccount} bound to pod ${opts.pod} returned no token`);
  return token;
}

/** A client configuration for the API server at `server` that authenticates with a bearer token. */
export function tokenConfig(server: string, caFile: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'weft-test', server, caFile, skipTLSVerify: false }, { name: 'token', token });
  return kc;
}

/** weftd's own client for the API server at `server`, authenticated with a bearer token. */
export function tokenApi(server: string, caFile: string, token: string): ApiClient {
  return new ApiClient({ server, caFile, token });
}

/** A failed call of either client in one line: client-node's ApiException read as weftd reads its own ApiError. */
export function describeEitherApiError(err: unknown): string {
  if (err instanceof ApiException)
    return describeApiError(new ApiError(err.code, typeof err.body === 'string' ? err.body : JSON.stringify(err.body ?? ''), 'client-node'));
  return describeApiError(err);
}

// rm retries: a just-killed etcd may still be finishing a write.
const JANITOR = 'for try in 1 2 3 4 5; do rm -rf -- "$0" && exit; sleep 0.2; done';

// Appending: a restarted kube-apiserver keeps its earlier log above. Unref'd:
// a test that never calls stop() must still let its process end.
function start(bin: string, log: string, args: string[]): Launched {
  return launch([bin, ...args], { log, unref: true });
}

// --- PKI ---------------------------------------------------------------

interface Pki {
  caFile: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPublicKey: string;
}

async function makeTestPki(dir: string): Promise<Pki> {
  // O=system:masters: the group every authorizer lets do anything.
  await makePki(dir, {
    caSubject: '/CN=weft-test-ca',
    days: 2,
    server: { name: 'server', subject: '/CN=kube-apiserver', altNames: [`IP:${loopback}`] },
    clients: { admin: '/O=system:masters/CN=weft-test-admin' },
  });
  const file = (name: string): string => join(dir, name);
  return {
    caFile: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    adminCert: file('admin.crt'),
    adminKey: file('admin.key'),
    serviceAccountKey: file('sa.key'),
    serviceAccountPublicKey: file('sa.pub'),
  };
}

function kubeconfigFor(server: string, pki: Pki): string {
  // JSON is YAML, and every kubeconfig reader takes it.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'weft-test', cluster: { server, 'certificate-authority': pki.caFile } }],
      users: [{ name: 'admin', user: { 'client-certificate': pki.adminCert, 'client-key': pki.adminKey } }],
      contexts: [{ name: 'weft-test', context: { cluster: 'weft-test', user: 'admin' } }],
      'current-context': 'weft-test',
    },
    null,
    2,
  );
}

/** The admin's credentials, as node:https takes them. */
function adminTls(pki: Pki): AdminTls {
  return { ca: readFileSync(pki.caFile), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) };
}

interface AdminTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Whether GET url answers 200; over https as the admin when tls is given. */
function probe(url: string, tls?: AdminTls): Promise<boolean> {
  return new Promise((resolve) => {
    const send = tls === undefined ? httpRequest : httpsRequest;
    const req = send(url, { ...tls, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}
