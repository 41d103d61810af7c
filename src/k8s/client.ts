// Where weftd finds the API server: a kubeconfig when one is named (for
// development and for running outside the cluster), else the pod's
// service account, as a DaemonSet pod has it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from './api-client.ts';
import { readKubeconfig } from './kubeconfig.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A kubeconfig path (opts.kubeconfig, weftd's --kubeconfig, else $KUBECONFIG), else the in-cluster service account. */
export function loadApiClient(opts: { kubeconfig?: string }): ApiClient {
  const path = opts.kubeconfig || process.env.KUBECONFIG;
  if (path) return new ApiClient(readKubeconfig(path, opts.kubeconfig ? '--kubeconfig' : 'KUBECONFIG'));
  const inCluster = loadInCluster();
  if ('problem' in inCluster) {
    throw new Error(
      `no way to reach the API server: give weftd a kubeconfig (--kubeconfig or KUBECONFIG), ` +
        `or run it in a pod with a service account (${inCluster.problem})`,
    );
  }
  return inCluster.client;
}

/**
 * The API server from KUBERNETES_SERVICE_HOST/PORT, and the service account's
 * token and CA under root + SERVICE_ACCOUNT_DIR (root is for tests).
 */
export function loadInCluster(root = ''): { client: ApiClient } | { problem: string } {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return { problem: 'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set' };
  const dir = root + SERVICE_ACCOUNT_DIR;
  for (const file of ['token', 'ca.crt']) {
    if (!existsSync(join(dir, file))) {
      return {
        problem:
          `${join(dir, file)} does not exist: is a service-account token mounted in this container? ` +
          `(manifests/weft.yaml turns automountServiceAccountToken off and projects the kube-api-access volume into the weftd container alone)`,
      };
    }
  }
  return {
    client: new ApiClient({
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      caFile: join(dir, 'ca.crt'),
      // The file, not the token: it is read for every request, so the
      // kubelet's rotations reach us. In a projected volume (the manifests'
      // kube-api-access, like the one automounting adds) token is a symlink
      // through ..data, which the kubelet swaps atomically.
      tokenFile: join(dir, 'token'),
    }),
  };
}
