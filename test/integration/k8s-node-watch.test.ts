// The node watch against a real kube-apiserver: a paginated first list, events
// that matter and events that do not, an API server outage, a network
// partition with a relay in between, an expired resourceVersion, and the
// watchdog. One control plane serves the whole file; the tests run one at a
// time, as some of them take the API server away. Needs tools/kube-tools.sh.

import { connect, createServer, type Socket } from 'node:net';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import type { ApiClient } from '../../src/k8s/api-client.ts';
import { type NodeWatch, type NodeWatchOptions, type RestartReason, watchNodes } from '../../src/k8s/node-watch.ts';
import { type ControlPlane, startControlPlane } from '../../testbed/apiserver.ts';
import { eventually } from '../../testbed/eventually.ts';
import { inParallel } from '../../testbed/parallel.ts';

const test = anyTest as TestFn<{ cp: ControlPlane; kc: ApiClient; core: CoreV1Api }>;

test.before(async (t) => {
  const cp = await startControlPlane();
  t.context = { cp, kc: cp.adminApi(), core: cp.adminConfig().makeApiClient(CoreV1Api) };
});

test.after.always(async (t) => {
  await t.context.cp?.stop();
});

/** A Node as kube-controller-manager's IPAM leaves it: podCIDR and podCIDRs both set. */
function nodeBody(name: string, podCidr: string, annotations: Record<string, string> = {}): V1Node {
  return { metadata: { name, annotations }, spec: { podCIDR: podCidr, podCIDRs: [podCidr] } };
}

/** The conditions here read the watch's own view: cheap, so polled every 20 ms. */
const waitFor = (condition: () => boolean, what: string, timeoutMs = 15_000): Promise<true> => eventually(what, condition, timeoutMs, 20);

/** A watch with short retry delays, recording what it reports; stopped in teardown. */
function recordedWatch(t: ExecutionContext, kc: ApiClient, opts: NodeWatchOptions = {}) {
  const seen = { changes: 0, reported: [] as string[], restarts: [] as RestartReason[], apiErrors: [] as unknown[], logs: [] as string[] };
  const watch: NodeWatch = watchNodes(
    kc,
    (changes) => {
      seen.changes++;
      for (const c of changes) seen.reported.push(`${c.name} ${c.node ? `at ${c.node.podCidrs.join(',') || 'no CIDR'}` : 'gone'}`);
    },
    {
      minBackoffMs: 100,
      maxBackoffMs: 500,
      log: (msg) => seen.logs.push(msg),
      onRestart: (reason) => seen.restarts.push(reason),
      onApiError: (err) => seen.apiErrors.push(err),
      ...opts,
    },
  );
  t.teardown(() => watch.stop());
  return { watch, seen };
}

/** The names in the watch's view that start with prefix (a test's own nodes). */
const names = (watch: NodeWatch, prefix: string): string[] =>
  watch
    .snapshot()
    .map((n) => n.name)
    .filter((name) => name.startsWith(prefix))
    .sort();

test.serial('the first list pages through every node, then events keep the view current', async (t) => {
  const { kc, core } = t.context;
  const count = 600;
  const created = Date.now();
  await inParallel(
    Array.from({ length: count }, (_, i) => i),
    50,
    (i) => core.createNode({ body: nodeBody(`bulk-${i}`, `10.128.${i >> 8}.${i & 255}/32`) }),
  );
  t.log(`created ${count} nodes in ${Date.now() - created} ms`);

  const { watch, seen } = recordedWatch(t, kc, { pageSize: 50 });
  t.false(watch.synced());
  await waitFor(() => watch.synced(), 'the first list');
  t.is(names(watch, 'bulk-').length, count);
  t.is(seen.changes, 1, 'one onChange for the whole list');
  const listed = seen.logs.find((line) => line.includes('listed'));
  t.log(listed);
  t.regex(listed ?? '', new RegExp(`listed ${count} nodes in ${count / 50} pages`));
  t.deepEqual(watch.get('bulk-257'), {
    name: 'bulk-257',
    podCidrs: ['10.128.1.1/32'],
    annotations: {},
    resourceVersion: watch.get('bulk-257')!.resourceVersion,
    created: Date.parse(String((await core.readNode({ name: 'bulk-257' })).metadata!.creationTimestamp)),
  });

  await inParallel(
    Array.from({ length: count }, (_, i) => i),
    50,
    (i) => core.deleteNode({ name: `bulk-${i}` }),
  );
  await waitFor(() => names(watch, 'bulk-').length === 0, 'the deletions');
  t.is(seen.changes, 1 + count);
});

test.serial('adds, edits and deletes reach onChange; heartbeats and foreign annotations do not', async (t) => {
  const { kc, core } = t.context;
  const { watch, seen } = recordedWatch(t, kc);
  await waitFor(() => watch.synced(), 'the first list');
  const afterList = seen.changes;

  await core.createNode({ body: nodeBody('ev-a', '10.244.1.0/24', { 'example.com/owner': 'ops' }) });
  await waitFor(() => watch.get('ev-a') !== undefined, 'ev-a to appear');
  t.deepEqual(watch.get('ev-a')?.podCidrs, ['10.244.1.0/24']);
  t.deepEqual(watch.get('ev-a')?.annotations, {}, 'only weft.dev/ annotations are kept');
  t.is(seen.changes, afterList + 1);

  await mergePatch(core, 'ev-a', { metadata: { annotations: { 'weft.dev/vtep-ip': '192.0.2.1' } } });
  await waitFor(() => watch.get('ev-a')?.annotations['weft.dev/vtep-ip'] === '192.0.2.1', 'the weft annotation');
  t.is(seen.changes, afterList + 2);

  // What weftd does not read: a kubelet heartbeat, someone else's annotation, a label.
  const resourceVersionBefore = watch.get('ev-a')!.resourceVersion;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await core.patchNodeStatus(
    {
      name: 'ev-a',
      body: { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] } },
    },
    strategicMerge,
  );
  await mergePatch(core, 'ev-a', { metadata: { annotations: { 'example.com/owner': 'dev' }, labels: { zone: 'b' } } });
  // Events arrive in order: once this one is in, the three before it are too.
  await core.createNode({ body: nodeBody('ev-marker', '10.244.9.0/24') });
  await waitFor(() => watch.get('ev-marker') !== undefined, 'the marker node');
  t.is(seen.changes, afterList + 3, 'only the marker node called onChange');
  t.not(watch.get('ev-a')!.resourceVersion, resourceVersionBefore, 'the skipped events still updated the view');

  await core.deleteNode({ name: 'ev-a' });
  await waitFor(() => watch.get('ev-a') === undefined, 'ev-a to go');
  t.is(seen.changes, afterList + 4);
  t.deepEqual(
    seen.reported.slice(-4),
    ['ev-a at 10.244.1.0/24', 'ev-a at 10.244.1.0/24', 'ev-marker at 10.244.9.0/24', 'ev-a gone'],
    'each event names its node',
  );
  await core.deleteNode({ name: 'ev-marker' });
  await waitFor(() => watch.get('ev-marker') === undefined, 'ev-marker to go');
  t.deepEqual(seen.restarts, []);
});

test.serial('an API server outage keeps the view, and the watch comes back', async (t) => {
  const { cp, kc, core } = t.context;
  await core.createNode({ body: nodeBody('outage-a', '10.244.2.0/24') });
  const { watch, seen } = recordedWatch(t, kc);
  await waitFor(() => watch.get('outage-a') !== undefined, 'outage-a');
  const before = names(watch, 'outage-');

  await cp.stopApiServer();
  const down = Date.now();
  await waitFor(() => seen.apiErrors.length >= 3, 'failed retries during the outage');
  t.deepEqual(names(watch, 'outage-'), before, 'the view stays during the outage');
  t.true(watch.synced());
  t.true(seen.restarts.length >= 2 && seen.restarts.every((r) => r === 'error'), seen.restarts.join());
  await cp.startApiServer();
  t.log(`API server down for ${Date.now() - down} ms; restarts: ${seen.restarts.join(', ')}`);

  await core.createNode({ body: nodeBody('outage-b', '10.244.3.0/24') });
  await waitFor(() => watch.get('outage-b') !== undefined, 'a node created after the outage');
  t.deepEqual(names(watch, 'outage-'), ['outage-a', 'outage-b']);
  await core.deleteNode({ name: 'outage-a' });
  await core.deleteNode({ name: 'outage-b' });
});

test.serial('a partition: changes made meanwhile arrive when the watch resumes', async (t) => {
  const { cp, core } = t.context;
  const relay = await startRelay(t, cp);
  await core.createNode({ body: nodeBody('part-a', '10.244.4.0/24') });
  await core.createNode({ body: nodeBody('part-b', '10.244.5.0/24') });
  const { watch, seen } = recordedWatch(t, relay.kubeConfig);
  await waitFor(() => names(watch, 'part-').length === 2, 'both nodes');

  relay.refuse();
  await core.deleteNode({ name: 'part-b' });
  await mergePatch(core, 'part-a', { metadata: { annotations: { 'weft.dev/vtep-mac': '0e:00:00:00:00:01' } } });
  await waitFor(() => seen.apiErrors.length >= 2, 'failed retries during the partition');
  t.deepEqual(names(watch, 'part-'), ['part-a', 'part-b'], 'the view stays during the partition');

  relay.forward();
  await waitFor(() => watch.get('part-b') === undefined, 'the deletion made during the partition');
  await waitFor(() => watch.get('part-a')?.annotations['weft.dev/vtep-mac'] !== undefined, 'the edit made during the partition');
  t.false(seen.restarts.includes('gone'), `resumed from its resourceVersion, no relist: ${seen.restarts.join()}`);
  t.is(watch.lists(), 1, 'a resumed watch is no new list');
  await core.deleteNode({ name: 'part-a' });
});

test.serial('an expired resourceVersion relists: nodes deleted while away go', async (t) => {
  const { cp, core } = t.context;
  const relay = await startRelay(t, cp);
  // gone-a registered, but kube-controller-manager gives it its pod CIDRs
  // only while the watch is away.
  await core.createNode({ body: { metadata: { name: 'gone-a' } } });
  await core.createNode({ body: nodeBody('gone-b', '10.244.7.0/24') });
  const { watch, seen } = recordedWatch(t, relay.kubeConfig);
  await waitFor(() => names(watch, 'gone-').length === 2, 'both nodes');
  t.is(watch.lists(), 1);

  relay.refuse();
  await core.deleteNode({ name: 'gone-b' });
  await mergePatch(core, 'gone-a', { spec: { podCIDR: '10.244.6.0/24', podCIDRs: ['10.244.6.0/24', 'fd00:6::/64'] } });
  // A restarted API server's watch cache starts at etcd's current revision, so
  // the watch's older resourceVersion is expired (410 Gone) once it is back.
  await cp.stopApiServer();
  await cp.startApiServer();
  const changesBefore = seen.changes;
  const reportedBefore = seen.reported.length;
  relay.forward();

  await waitFor(() => seen.restarts.includes('gone'), 'a 410 Gone and a relist');
  await waitFor(() => watch.get('gone-b') === undefined, 'the node deleted while away to go');
  t.is(watch.lists(), 2, 'the relist counts as a full list (weftd collects its garbage after the pass that follows)');
  t.deepEqual(names(watch, 'gone-'), ['gone-a']);
  t.deepEqual(watch.get('gone-a')?.podCidrs, ['10.244.6.0/24', 'fd00:6::/64']);
  t.true(seen.changes > changesBefore, 'the relist called onChange');
  t.deepEqual(
    seen.reported
      .slice(reportedBefore)
      .filter((r) => r.startsWith('gone-'))
      .sort(),
    ['gone-a at 10.244.6.0/24,fd00:6::/64', 'gone-b gone'],
    'the relist reports each node that changed or went while away, by name',
  );
  t.true(
    seen.logs.some((line) => /expired .*410/.test(line)),
    seen.logs.join('\n'),
  );

  await core.createNode({ body: nodeBody('gone-c', '10.244.8.0/24') });
  await waitFor(() => watch.get('gone-c') !== undefined, 'a node created after the relist');
  await core.deleteNode({ name: 'gone-a' });
  await core.deleteNode({ name: 'gone-c' });
});

test.serial('the watchdog restarts a silent watch, and one whose connection hangs', async (t) => {
  const { cp, core } = t.context;
  const relay = await startRelay(t, cp);
  const { watch, seen } = recordedWatch(t, relay.kubeConfig, { watchdogMs: 1500 });
  await waitFor(() => watch.synced(), 'the first list');

  // No Node traffic at all: nothing arrives, and the watchdog fires.
  const quiet = Date.now();
  await waitFor(() => seen.restarts.includes('watchdog'), 'the watchdog on a quiet watch', 5000);
  t.log(`watchdog fired after ${Date.now() - quiet} ms of quiet`);
  await core.createNode({ body: nodeBody('dog-a', '10.244.10.0/24') });
  await waitFor(() => watch.get('dog-a') !== undefined, 'a node after the watchdog restart');

  // Bytes stop without the connection closing: only the watchdog notices,
  // and it must also give up on connections that never answer.
  relay.blackhole();
  const restartsBefore = seen.restarts.length;
  await core.createNode({ body: nodeBody('dog-b', '10.244.11.0/24') });
  await waitFor(() => seen.restarts.length >= restartsBefore + 2, 'watchdog restarts through the black hole', 8000);
  t.is(watch.get('dog-b'), undefined);
  relay.forward();
  await waitFor(() => watch.get('dog-b') !== undefined, 'the node created during the black hole');
  t.true(
    seen.restarts.slice(restartsBefore).every((r) => r === 'watchdog'),
    seen.restarts.join(),
  );
  await core.deleteNode({ name: 'dog-a' });
  await core.deleteNode({ name: 'dog-b' });
});

test.serial('stop ends the watch promptly, even while the API server is away', async (t) => {
  const { cp, kc } = t.context;
  const { watch } = recordedWatch(t, kc);
  await waitFor(() => watch.synced(), 'the first list');
  const relay = await startRelay(t, cp);
  const stuck = recordedWatch(t, relay.kubeConfig).watch;
  relay.blackhole();
  const started = Date.now();
  await Promise.all([watch.stop(), stuck.stop()]);
  t.true(Date.now() - started < 1000, `stop took ${Date.now() - started} ms`);
  t.true(watch.synced(), 'a stopped watch keeps its last view');
});

// --- helpers -----------------------------------------------------------------

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

async function mergePatch(core: CoreV1Api, name: string, body: object): Promise<void> {
  await core.patchNode({ name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

type Relay = {
  /** The admin's credentials, through the relay. */
  kubeConfig: ApiClient;
  /** Drop every connection and refuse new ones, as a partitioned network does. */
  refuse(): void;
  /** Keep connections open but lose every byte, as a dead peer behind a firewall does. */
  blackhole(): void;
  forward(): void;
  close(): Promise<void>;
};

/** A TCP relay in front of the API server that a test can break in the ways networks break; closed in teardown. */
async function startRelay(t: ExecutionContext, cp: ControlPlane): Promise<Relay> {
  const target = new URL(cp.server);
  let mode: 'forward' | 'refuse' | 'blackhole' = 'forward';
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on('data', (chunk) => {
        if (mode === 'forward') to.write(chunk);
      });
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
      from.on('error', () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const relay: Relay = {
    kubeConfig: cp.adminApi(`https://127.0.0.1:${port}`),
    refuse() {
      mode = 'refuse';
      for (const socket of sockets) socket.destroy();
    },
    blackhole() {
      mode = 'blackhole';
    },
    forward() {
      mode = 'forward';
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  t.teardown(() => relay.close());
  return relay;
}
