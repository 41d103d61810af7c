// make cluster-demo: weft in a real Kubernetes cluster on this machine. Brings
// the cluster up (tools/cluster/cluster.ts: control plane, three nodes with
// containerd, kubelet, kube-proxy) with no pod network, installs weft with
// kubectl (the image pinned by digest), runs a pod on each node, has every
// pod ping the others, shows `kubectl get pods -o wide` and `weftd status`
// from a node, and removes everything, also on failure or Ctrl-C.
import { existsSync } from 'node:fs';
import { toolboxImageArchive } from '../image/build.ts';
import { abortUp, down, importImage, KUBECONFIG, kubectl, PINNED_OVERLAY, REPO, STATE, up } from './cluster.ts';
import { runningPods, spreadDeployment, weftPods } from './workloads.ts';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`== ${s}`)}`);
const indent = (s: string) => s.trimEnd().replace(/^/gm, '    ');
const kubectlShown = `kubectl --kubeconfig ${KUBECONFIG.replace(`${REPO}/`, '')}`;

let interrupted = false;

async function demo(): Promise<void> {
  step('a Kubernetes cluster: control plane on the host, three nodes (namespaces) with containerd, kubelet and kube-proxy');
  await up({ cni: 'weft', installWeft: false, nodes: 3, log: (l) => console.log(`  ${l}`) });
  await importImage(await toolboxImageArchive((l) => console.log(`  ${l}`)));
  console.log(indent(await kubectl(['get', 'nodes', '-o', 'wide'])));

  step(`installing weft: ${kubectlShown} apply -k ${PINNED_OVERLAY.replace(`${REPO}/`, '')}  (manifests/, image pinned by digest)`);
  console.log(indent(await kubectl(['apply', '-k', PINNED_OVERLAY])));
  console.log(indent(await kubectl(['-n', 'weft', 'rollout', 'status', 'ds/weft', '--timeout=180s'])));
  console.log(indent(await kubectl(['wait', '--for=condition=Ready', 'nodes', '--all', '--timeout=120s'])));

  step('a pod on each node (busybox), spread by a topology constraint');
  await kubectl(['apply', '-f', '-'], JSON.stringify(spreadDeployment('hello', 3, 'exec sleep 1d')));
  await kubectl(['rollout', 'status', 'deploy/hello', '--timeout=180s']);
  console.log(`${kubectlShown} get pods -A -o wide`);
  console.log(indent(await kubectl(['get', 'pods', '-A', '-o', 'wide'])));

  step('every pod pings every other pod (across nodes through the VXLAN overlay)');
  const pods = await runningPods('hello');
  for (const from of pods) {
    for (const to of pods.filter((p) => p !== from)) {
      const out = await kubectl(['exec', from.metadata.name, '--', 'ping', '-c', '2', '-W', '2', to.status.podIP!]).catch((err: Error) => err.message);
      const summary = /\d+ packets transmitted.*/.exec(out)?.[0] ?? out.trim();
      console.log(`  ${from.spec.nodeName} ${from.status.podIP} → ${to.spec.nodeName} ${to.status.podIP}: ${summary}`);
    }
  }

  const weft = (await weftPods()).find((p) => p.spec.nodeName === 'node1')!;
  step(`weftd status on node1: ${kubectlShown} -n weft exec ${weft.metadata.name} -- weftd status`);
  console.log(indent(await kubectl(['-n', 'weft', 'exec', weft.metadata.name, '-c', 'weftd', '--', 'weftd', 'status'])));
}

async function main(): Promise<number> {
  if (existsSync(STATE)) {
    console.error(`a cluster (or its remains) is at ${STATE}: run make cluster-down first; the demo brings up its own`);
    return 1;
  }
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.log('\ninterrupted: removing the cluster');
    abortUp();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  let code = 0;
  try {
    await demo();
  } catch (err) {
    console.error(`\ndemo failed: ${(err as Error).message}`);
    code = interrupted ? 130 : 1;
  }
  step('removing the cluster: every process, namespace, mount, cgroup and host setting it changed');
  const { leftovers } = await down({ log: (l) => console.log(`  ${l}`) });
  console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return leftovers.length ? 1 : code;
}

main().then((code) => process.exit(code));
