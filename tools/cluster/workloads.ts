// Pods the cluster tests and `make cluster-demo` run on weft: busybox
// (TOOLBOX_IMAGE, imported into every node: nodes cannot pull), spread one
// per node by a topology constraint, and the look-ups on them.
import { TOOLBOX_IMAGE } from '../image/build.ts';
import { kubectl } from './cluster.ts';

export type Pod = {
  metadata: { name: string };
  spec: { nodeName: string; containers: { name: string; image: string }[] };
  status: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    containerStatuses?: { name: string; restartCount: number; ready: boolean; image: string; imageID: string }[];
  };
};

/** busybox httpd on :8080 answering with the pod's name (its hostname). */
export const HTTPD = 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www';

/** A Deployment of `replicas` busybox pods labelled app=NAME, spread evenly over the nodes (maxSkew 1). */
export function spreadDeployment(name: string, replicas: number, command: string, namespace = 'default'): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: name } } },
          ],
          terminationGracePeriodSeconds: 1,
          containers: [{ name, image: TOOLBOX_IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', command], ports: [{ containerPort: 8080 }] }],
        },
      },
    },
  };
}

/** The Running pods labelled app=NAME, by node name. */
export async function runningPods(app: string, namespace = 'default'): Promise<Pod[]> {
  const list = JSON.parse(await kubectl(['-n', namespace, 'get', 'pods', '-l', `app=${app}`, '-o', 'json'])) as { items: Pod[] };
  return list.items.filter((p) => p.status.phase === 'Running').sort((a, b) => (a.spec.nodeName < b.spec.nodeName ? -1 : 1));
}

/** The weft DaemonSet's pod on each node (namespace weft). */
export async function weftPods(): Promise<Pod[]> {
  const list = JSON.parse(await kubectl(['-n', 'weft', 'get', 'pods', '-l', 'app.kubernetes.io/name=weft', '-o', 'json'])) as { items: Pod[] };
  return list.items.sort((a, b) => (a.spec.nodeName < b.spec.nodeName ? -1 : 1));
}

/**
 * Every pod pings and fetches (HTTP, HTTPD above) every pod's address,
 * itself included (every address of each family with `allFamilies`); the
 * failures, each naming the pod, its node and the address. busybox's wget
 * crashes in Debian's static build (NSS), so nc speaks the HTTP; the answer
 * must start with the Deployment's name. An echo that goes unanswered is
 * sent once more before the ping counts as failed: one CI run of the
 * dual-stack test lost the first IPv6 echo from one pod to another while the
 * HTTP fetch from the same pod to the same address, right after, went
 * through (three reruns did not lose one); what TCP retransmits, one echo
 * cannot.
 */
export async function allToAllFailures(pods: Pod[], app: string, opts: { allFamilies?: boolean } = {}): Promise<string[]> {
  const ips = pods.flatMap((p) => (opts.allFamilies ? (p.status.podIPs ?? []).map((a) => a.ip) : [p.status.podIP!]));
  const probe =
    `for ip in ${ips.join(' ')}; do ping -c1 -W2 $ip >/dev/null || ping -c1 -W2 $ip >/dev/null || echo "ping $ip failed twice"; ` +
    `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 $ip 8080 | grep -q '^${app}-' || echo "http $ip failed"; done; echo done`;
  const failures: string[] = [];
  for (const p of pods) {
    const out = await kubectl(['exec', p.metadata.name, '--', 'sh', '-c', probe]);
    if (!out.includes('done')) failures.push(`${p.metadata.name}: probe did not finish`);
    failures.push(
      ...out
        .split('\n')
        .filter((l) => l.includes('failed'))
        .map((l) => `${p.metadata.name} (${p.spec.nodeName}): ${l}`),
    );
  }
  return failures;
}
