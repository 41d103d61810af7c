// Where weftd finds the API server: a kubeconfig when one is named (for
// development and for running outside the cluster), else the pod's
// service account, as a DaemonSet pod has it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { messageOf } from '../text/error-message.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A kubeconfig path (opts.kubeconfig, weftd's --kubeconfig, else $KUBECONFIG), else the in-cluster service account. */
export function loadKubeConfig(opts: { kubeconfig?: string }): KubeConfig {
  const path = opts.kubeconfig || process.env.KUBECONFIG;
  if (path) return loadKubeConfigFile(path, opts.kubeconfig ? '--kubeconfig' : 'KUBECONFIG');
  const inCluster = loadInCluster();
  if ('problem' in inCluster) {
    throw new Error(
      `no way to reach the API server: give weftd a kubeconfig (--kubeconfig or KUBECONFIG), ` +
        `or run it in a pod with a service account (${inCluster.problem})`,
    );
  }
  return inCluster.kubeConfig;
}

function loadKubeConfigFile(path: string, source: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new Error(`cannot load the kubeconfig ${path} (from ${source}): ${messageOf(err)}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(`the kubeconfig ${path} (from ${source}) has no current context with a cluster: set its current-context`);
  }
  return kc;
}

/**
 * The API server from KUBERNETES_SERVICE_HOST/PORT, and the service account's
 * token and CA under root + SERVICE_ACCOUNT_DIR (root is for tests).
 */
export function loadInCluster(root = ''): { kubeConfig: KubeConfig } | { problem: string } {
  if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
    return { problem: 'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set' };
  }
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
  const kc = new KubeConfig();
  // This names the token file rather than copying the token: client-node reads
  // it again every minute, so the kubelet's rotations reach us. In a projected
  // volume (the manifests' kube-api-access, like the one automounting adds)
  // token is a symlink through ..data, which the kubelet swaps atomically.
  kc.loadFromCluster(root);
  return { kubeConfig: kc };
}
