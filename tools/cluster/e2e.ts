// make cluster-e2e: upstream Kubernetes e2e networking tests against weft in
// the real cluster. Builds (once) the trimmed e2e.test, agnhost and its
// offline image (tools/kube/e2e/build.sh), brings a fresh cluster up with weft
// installed (`--cni=weft`: kubectl apply -k tools/cluster/weft), imports the
// agnhost image into every node under the exact name the tests use, runs the
// focused tests, prints each one's result, and removes the cluster again,
// also on failure or Ctrl-C. Logs and the ginkgo JSON report go to .cache/e2e/.
//
//   node tools/cluster/e2e.ts                  # the default focus below
//   E2E_FOCUS='regex' node tools/cluster/e2e.ts
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { abortUp, BIN, down, importImage, KUBECONFIG, KUBECTL_GLOBAL, REPO, STATE, up } from './cluster.ts';

/** The tests this step is about; each a ginkgo focus regex. */
export const DEFAULT_FOCUS = [
  'Networking Granular Checks: Pods should function for intra-pod communication: http ',
  'Networking Granular Checks: Pods should function for intra-pod communication: udp ',
  'Networking Granular Checks: Pods should function for node-pod communication: http ',
  'Networking Granular Checks: Pods should function for node-pod communication: udp ',
  'Services should allow pods to hairpin back to themselves through services',
  'HostPort validates that there is no conflict between pods with same hostPort but different hostIP and protocol',
];
const OUT = join(REPO, '.cache', 'e2e');

type SpecReport = {
  ContainerHierarchyTexts?: string[];
  LeafNodeText: string;
  LeafNodeType?: string;
  State: string;
  RunTime?: number;
  Failure?: { Message?: string };
};

let interrupted = false;
const focus = process.env.E2E_FOCUS ? [process.env.E2E_FOCUS] : DEFAULT_FOCUS;
let summarized = false;

/**
 * The line .ci/run counts: each spec that ran and passed, and as failed each
 * that failed and each focused one that did not run (nothing ran at all
 * when the cluster or the build failed first).
 */
function summary(passed: number, failed: number): void {
  summarized = true;
  console.log(`e2e specs: ${passed} passed, ${failed} failed`);
}

async function main(): Promise<number> {
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
    await up({ cni: 'weft', nodes: 3 });
    if (interrupted) return 130;
    for (const a of archives) await importImage(a);
    if (existsSync(join(REPO, 'tools/cluster/coredns')) && archives.some((a) => a.includes('coredns'))) {
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
      `--ginkgo.json-report=${join(OUT, 'report.json')}`,
      `--report-dir=${OUT}`,
      ...focus.map((f) => `--ginkgo.focus=${f.replace(/[()[\]]/g, '\\$&')}`),
    ];
    const log = join(OUT, 'e2e.log');
    console.log(`running e2e.test (${focus.length} focus patterns); log: ${log.replace(`${REPO}/`, '')}`);
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
