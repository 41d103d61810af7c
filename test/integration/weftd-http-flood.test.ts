// Any pod on a node can reach an address weftd listens on. A client that
// floods weftd's metrics server with connections, pipelined requests or
// headers trickled a byte at a time must not stall weftd: the kubelet's
// probes keep answering, a new Node still gets its route, and weftd stays
// far below its 256 MiB memory limit. weftd runs in a node namespace against
// a real API server; the flood runs inside the same namespace.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { VTEP_IP, VTEP_MAC } from '../../src/k8s/annotations.ts';
import { macForName } from '../../src/net/mac.ts';
import { Cluster, type ClusterNode } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';
import { REPO } from '../../testbed/paths.ts';
import { sh } from '../../testbed/shell.ts';

const FLOOD_SECONDS = 6;
const MEMORY_LIMIT_KIB = 256 * 1024;

function rssKib(node: ClusterNode): number {
  const pid = node.weftd?.child.pid;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
}

async function routeTo(node: ClusterNode, cidr: string): Promise<boolean> {
  const r = await sh('ip', ['-n', node.netns, '-j', 'route', 'show', cidr]);
  return r.stdout.includes('"dst"');
}

for (const mode of ['connections', 'pipelined', 'slow-headers'] as const) {
  test.serial(`a ${mode} flood of the metrics server stalls neither probes nor reconcile`, async (t) => {
    t.timeout(120_000);
    const c = await Cluster.start(2);
    t.teardown(() => c.destroy());
    const [n1] = c.nodes as [ClusterNode, ClusterNode];
    for (const node of c.nodes) await c.startWeftd(node);
    await eventually('node1 is ready', async () => ((await c.weftdHttp(n1, '/readyz')).status === 200 ? true : undefined), 30_000);

    const flood = sh('ip', [
      'netns',
      'exec',
      n1.netns,
      process.execPath,
      join(REPO, 'testbed', 'http-flood.ts'),
      mode,
      '127.0.0.1',
      '9403',
      '200',
      String(FLOOD_SECONDS),
    ]);
    await new Promise((r) => setTimeout(r, 500));
    // A Node created mid-flood: its route on node1 shows the watch and the
    // reconcile pass still run.
    const name = `late-${mode}`;
    await c.core.createNode({
      body: {
        metadata: { name, annotations: { [VTEP_IP]: '10.229.0.99', [VTEP_MAC]: macForName(name) } },
        spec: { podCIDR: '10.244.99.0/24', podCIDRs: ['10.244.99.0/24'] },
      },
    });
    const probes: { status: number; ms: number }[] = [];
    let routed = false;
    const until = Date.now() + (FLOOD_SECONDS - 1) * 1000;
    let peakKib = 0;
    while (Date.now() < until) {
      const began = Date.now();
      const r = await c.weftdHttp(n1, '/readyz', 2000);
      probes.push({ status: r.status, ms: Date.now() - began });
      routed ||= await routeTo(n1, '10.244.99.0/24');
      peakKib = Math.max(peakKib, rssKib(n1));
      await new Promise((res) => setTimeout(res, 300));
    }
    const report = JSON.parse((await flood).stdout.trim().split('\n').at(-1) ?? '{}') as { opened?: number; responses?: number };
    t.log(
      `${mode}: ${report.opened} connections opened, ${report.responses} responses; probes ${probes.map((p) => `${p.status}/${p.ms}ms`).join(' ')}; peak RSS ${peakKib} KiB`,
    );
    t.true((report.opened ?? 0) >= 200, 'the flood really ran');
    t.true(probes.length >= 5);
    t.deepEqual(
      probes.filter((p) => p.status !== 200 || p.ms > 1000),
      [],
      'every probe answered 200 within a second',
    );
    t.true(routed, 'the Node created during the flood got its route');
    t.true(peakKib < MEMORY_LIMIT_KIB - 56 * 1024, `peak RSS ${peakKib} KiB stays well below the 256 MiB limit`);
    t.is((await c.weftdHttp(n1, '/metrics')).status, 200, 'metrics answer again once the flood is over');
  });
}
