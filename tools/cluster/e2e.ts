// make cluster-e2e: upstream Kubernetes e2e networking tests against weft in
// the real cluster. Builds (once) the trimmed e2e.test, agnhost and its
// offline image (tools/kube/e2e/build.sh), brings a fresh cluster up with weft
// installed (`--cni=weft`: kubectl apply -k tools/cluster/weft), imports the
// agnhost image into every node under the exact name the tests use, runs the
// focused tests, prints each one's result, and removes the cluster again,
// also on failure or Ctrl-C. Logs and the ginkgo JSON report go to
// .cache/e2e/<stack>/. `--stack=dual` runs a dual-stack cluster and the
// upstream [Feature:IPv6DualStack] specs instead; `--cni=reference` runs the
// same against the reference bridge network (to tell weft's failures from
// the cluster's).
//
//   node tools/cluster/e2e.ts [--stack=ipv4|dual] [--cni=weft|reference]
//   E2E_FOCUS='regex' node tools/cluster/e2e.ts
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { abortUp, BIN, type CniMode, down, importImage, KUBECONFIG, KUBECTL_GLOBAL, REPO, STACKS, STATE, type Stack, up } from './cluster.ts';

/** The tests the IPv4 step is about; each a ginkgo focus regex. */
export const DEFAULT_FOCUS = [
  'Networking Granular Checks: Pods should function for intra-pod communication: http ',
  'Networking Granular Checks: Pods should function for intra-pod communication: udp ',
  'Networking Granular Checks: Pods should function for node-pod communication: http ',
  'Networking Granular Checks: Pods should function for node-pod communication: udp ',
  'Services should allow pods to hairpin back to themselves through services',
  'HostPort validates that there is no conflict between pods with same hostPort but different hostIP and protocol',
];
const DUAL_STACK = '[sig-network] [Feature:IPv6DualStack] ';
const SECONDARY_FAMILY = `${DUAL_STACK}Granular Checks: Services Secondary IP Family [LinuxOnly] `;
/**
 * The upstream dual-stack specs (test/e2e/network/dual_stack.go; all 23 work
 * without a cloud) that test the pod network, each matched within its full
 * name, so a renamed spec shows as not run. Left out: SCTP (this kernel has
 * none: an SCTP socket fails with "Protocol not supported"; the IPv4 step
 * runs no SCTP either), and "should update endpoints" and "client IP based
 * session affinity" (http, udp): they take the pod-Service path again and
 * test kube-proxy's endpoint updates and affinity, for 5½ of the 15 minutes
 * all 22 took (all passed on the reference network).
 */
export const DUAL_STACK_FOCUS = [
  `${DUAL_STACK}should have ipv4 and ipv6 internal node ip`,
  `${DUAL_STACK}should create pod, add ipv6 and ipv4 ip to pod ips`,
  `${DUAL_STACK}should create pod, add ipv6 and ipv4 ip to host ips`,
  `${DUAL_STACK}should be able to reach pod on ipv4 and ipv6 ip`,
  `${DUAL_STACK}should create a single stack service with cluster ip from primary service range`,
  `${DUAL_STACK}should create service with ipv4 cluster ip`,
  `${DUAL_STACK}should create service with ipv6 cluster ip`,
  `${DUAL_STACK}should create service with ipv4,v6 cluster ip`,
  `${DUAL_STACK}should create service with ipv6,v4 cluster ip`,
  `${SECONDARY_FAMILY}should function for pod-Service: http`,
  `${SECONDARY_FAMILY}should function for pod-Service: udp`,
  `${SECONDARY_FAMILY}should function for node-Service: http`,
  `${SECONDARY_FAMILY}should function for node-Service: udp`,
  `${SECONDARY_FAMILY}should function for endpoint-Service: http`,
  `${SECONDARY_FAMILY}should function for endpoint-Service: udp`,
  `${SECONDARY_FAMILY}should be able to handle large requests: http`,
  `${SECONDARY_FAMILY}should be able to handle large requests: udp`,
  `${SECONDARY_FAMILY}should function for service endpoints using hostNetwork`,
];

type SpecReport = {
  ContainerHierarchyTexts?: string[];
  LeafNodeText: string;
  LeafNodeType?: string;
  State: string;
  RunTime?: number;
  Failure?: { Message?: string };
};

const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const stack = (flag('stack') ?? 'ipv4') as Stack;
const cni = (flag('cni') ?? 'weft') as CniMode;
const OUT = join(REPO, '.cache', 'e2e', stack);

let interrupted = false;
const focus = process.env.E2E_FOCUS ? [process.env.E2E_FOCUS] : stack === 'dual' ? DUAL_STACK_FOCUS : DEFAULT_FOCUS;
let summarized = false;

/**
 * The line .ci/run counts, named by stack (it expects one per stack): each
 * spec that ran and passed, and as failed each that failed and each focused
 * one that did not run (nothing ran at all when the cluster or the build
 * failed first).
 */
function summary(passed: number, failed: number): void {
  summarized = true;
  console.log(`e2e specs (${stack}${cni === 'weft' ? '' : `, ${cni}`}): ${passed} passed, ${failed} failed`);
}

async function main(): Promise<number> {
  if (!STACKS.includes(stack)) throw new Error(`--stack=${stack}: use ${STACKS.join(' or ')}`);
  if (cni !== 'weft' && cni !== 'reference') throw new Error(`--cni=${cni}: use weft or reference`);
  if (existsSync(STATE)) {
    console.error(`a cluster (or its remains) is at ${STATE}: run make cluster-down first; cluster-e2e brings up its own`);
    return 1;
  }
  let child: ReturnType<typeof spawn> | undefined;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.log('\ninterrupted: stopping the tests and removing the cluster');
    abortUp();
    child?.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const t0 = Date.now();
  const built = await promisify(execFile)(join(REPO, 'tools/kube/e2e/build.sh'), [], { cwd: REPO, maxBuffer: 16 << 20 }).catch(
    (err: { stderr?: string; message: string }) => {
      throw new Error(`tools/kube/e2e/build.sh: ${err.stderr || err.message}`);
    },
  );
  process.stderr.write(built.stderr);
  const archives = built.stdout.trim().split('\n');
  console.log(`e2e tools ready in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${archives.join(', ')}`);

  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  try {
    await up({ cni, stack, nodes: 3 });
    if (interrupted) return 130;
    for (const a of archives) await importImage(a);
    // Cluster DNS for the IPv4 specs (the hairpin one dials a Service by
    // name); the dual-stack ones dial addresses only. On the reference
    // network CoreDNS could not start anyway: pods there are not
    // masqueraded, and the API server's host has no route back to them.
    if (stack === 'ipv4' && existsSync(join(REPO, 'tools/cluster/coredns')) && archives.some((a) => a.includes('coredns'))) {
      const r = await promisify(execFile)(join(BIN, 'kubectl'), [...KUBECTL_GLOBAL, 'apply', '-k', join(REPO, 'tools/cluster/coredns')]);
      console.log(r.stdout.trim());
      await promisify(execFile)(join(BIN, 'kubectl'), [
        '--kubeconfig',
        KUBECONFIG,
        '-n',
        'kube-system',
        'rollout',
        'status',
        'deploy/coredns',
        '--timeout=120s',
      ]);
      console.log('CoreDNS ready (kube-system/coredns, 10.96.0.10)');
    }
    const args = [
      `--kubeconfig=${KUBECONFIG}`,
      `--kubectl-path=${join(BIN, 'kubectl')}`,
      '--provider=local',
      '--ginkgo.no-color',
      '--ginkgo.v',
      // A bound on the whole run: a failed hostNetwork UDP dial in the
      // dual-stack specs sleeps 10 hours before it reports (dual_stack.go).
      '--ginkgo.timeout=30m',
      `--ginkgo.json-report=${join(OUT, 'report.json')}`,
      `--report-dir=${OUT}`,
      ...focus.map((f) => `--ginkgo.focus=${f.replace(/[()[\]]/g, '\\$&')}`),
    ];
    const log = join(OUT, 'e2e.log');
    console.log(`running e2e.test (${stack}, ${cni}, ${focus.length} focus patterns); log: ${log.replace(`${REPO}/`, '')}`);
    const started = Date.now();
    const fd = openSync(log, 'w');
    child = spawn(join(BIN, 'e2e.test'), args, { cwd: REPO, stdio: ['ignore', fd, fd], env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` } });
    closeSync(fd);
    const code = await new Promise<number>((r) => child!.on('exit', (c) => r(c ?? 1)));
    console.log(`e2e.test exited ${code} after ${((Date.now() - started) / 1000).toFixed(0)} s`);
    let failed = code !== 0;
    try {
      const report = JSON.parse(readFileSync(join(OUT, 'report.json'), 'utf8')) as { SpecReports?: SpecReport[] }[];
      const ran = report.flatMap((r) => r.SpecReports ?? []).filter((s) => s.LeafNodeType === 'It' && s.State !== 'skipped');
      for (const s of ran) {
        const name = [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' ');
        console.log(
          `${s.State.toUpperCase().padEnd(7)} ${name} (${((s.RunTime ?? 0) / 1e9).toFixed(0)} s)${s.Failure?.Message ? `\n        ${s.Failure.Message.split('\n')[0]}` : ''}`,
        );
      }
      let notRun = 0;
      for (const f of focus) {
        const re = new RegExp(f.replace(/[()[\]]/g, '\\$&'));
        if (!ran.some((s) => re.test([...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' ')))) {
          console.log(`SKIPPED ${f.trim()} (not run: no spec matched, or ginkgo skipped it)`);
          failed = true;
          notRun++;
        }
      }
      const passed = ran.filter((s) => s.State === 'passed').length;
      summary(passed, ran.length - passed + notRun);
    } catch (err) {
      console.log(`no ginkgo report: ${(err as Error).message}`);
      failed = true;
    }
    return interrupted ? 130 : failed ? 1 : 0;
  } finally {
    await down();
  }
}

main().then(
  (code) => {
    if (!summarized) summary(0, focus.length);
    process.exit(code);
  },
  (err) => {
    console.error((err as Error).message);
    if (!summarized) summary(0, focus.length);
    process.exit(interrupted ? 130 : 1);
  },
);
