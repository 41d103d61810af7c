// The long-lived `ip -batch` and `bridge -batch` processes against the real
// kernel, in a namespace of the test's own: each failed line is named by its
// place in its own batch however many batches came before, a failed
// neighbour line (which ends iproute2) is reported and the next batch runs in
// a new process, and a killed or wedged process is replaced.
import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { type BatchCoprocess, createBatchCoprocess } from '../../src/linux/batch-coprocess.ts';
import { IpCommandError } from '../../src/linux/ip.ts';
import { addNetns, ipJson, removeNetns } from '../../testbed/netns.ts';
import { must } from '../../testbed/shell.ts';

async function vxlanNetns(t: ExecutionContext): Promise<string> {
  const name = `weft-co-${randomBytes(4).toString('hex')}`;
  t.teardown(() => removeNetns(name));
  await addNetns(name);
  await must('ip', ['-n', name, 'link', 'add', 'name', 'weft.1', 'type', 'vxlan', 'id', '1', 'dstport', '4789', 'nolearning']);
  await must('ip', ['-n', name, 'link', 'set', 'dev', 'weft.1', 'up']);
  return name;
}

function coprocess(t: ExecutionContext, tool: 'ip' | 'bridge', netns: string, timeoutMs?: number) {
  const restarts: string[] = [];
  const co: BatchCoprocess = createBatchCoprocess(tool, { netns, timeoutMs, onRestart: (why) => restarts.push(why) });
  t.teardown(() => co.close());
  return { co, restarts };
}

const route = (dst: string) => ['route', 'replace', dst, 'dev', 'weft.1', 'proto', '119'];
const routes = async (netns: string) => (await ipJson<{ dst: string }>(['route', 'show', 'proto', '119'], netns)).map((r) => r.dst).sort();

async function failureOf(p: Promise<void>): Promise<IpCommandError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof IpCommandError)) throw new Error(`expected an IpCommandError, got ${String(err)}`);
  return err;
}

test('each failed line is named by its place in its own batch, batch after batch, in one process', async (t) => {
  const netns = await vxlanNetns(t);
  const { co, restarts } = coprocess(t, 'ip', netns);
  await co.run([route('10.244.1.0/24')]);
  const pid = co.pid();
  for (let i = 0; i < 3; i++) {
    const err = await failureOf(co.run([route(`10.244.${10 + i}.0/24`), ['route', 'del', '10.244.99.0/24', 'proto', '119'], route(`10.244.${20 + i}.0/24`)]));
    t.deepEqual(err.failures, [{ index: 1, reason: 'RTNETLINK answers: No such process' }]);
    t.is(err.unnamed, undefined);
  }
  t.is(co.pid(), pid, 'the same process served every batch');
  t.deepEqual(restarts, []);
  t.deepEqual(await routes(netns), [
    '10.244.1.0/24',
    '10.244.10.0/24',
    '10.244.11.0/24',
    '10.244.12.0/24',
    '10.244.20.0/24',
    '10.244.21.0/24',
    '10.244.22.0/24',
  ]);
});

test('a failed neighbour line ends iproute2: reported unnamed, and the next batch runs in a new process', async (t) => {
  const netns = await vxlanNetns(t);
  const { co, restarts } = coprocess(t, 'ip', netns);
  const err = await failureOf(co.run([route('10.244.1.0/24'), ['neigh', 'del', '10.244.7.0', 'dev', 'weft.1'], route('10.244.2.0/24')]));
  t.deepEqual(err.failures, []);
  t.is(err.unnamed, 'RTNETLINK answers: No such file or directory');
  await co.run([route('10.244.3.0/24')]);
  t.deepEqual(restarts, ['ip -batch exited with status 2']);
  t.deepEqual(await routes(netns), ['10.244.1.0/24', '10.244.3.0/24'], 'the line after the failed one did not run');
});

test('bridge lines are attributed the same way', async (t) => {
  const netns = await vxlanNetns(t);
  const { co } = coprocess(t, 'bridge', netns);
  const add = (mac: string) => ['fdb', 'replace', mac, 'dev', 'weft.1', 'dst', '192.0.2.1', 'self', 'permanent'];
  const err = await failureOf(co.run([add('0e:00:00:00:00:01'), ['fdb', 'del', '0e:00:00:00:00:09', 'dev', 'weft.1', 'self'], add('0e:00:00:00:00:02')]));
  t.deepEqual(err.failures, [{ index: 1, reason: 'RTNETLINK answers: No such file or directory' }]);
  const fdb = (await must('bridge', ['-n', netns, 'fdb', 'show', 'dev', 'weft.1'])).split('\n').filter((l) => l.includes('dst 192.0.2.1'));
  t.is(fdb.length, 2);
});

test('a killed process is replaced by the next batch; a wedged one is killed after the timeout, and the next batch works', async (t) => {
  const netns = await vxlanNetns(t);
  const { co, restarts } = coprocess(t, 'ip', netns, 500);
  await co.run([route('10.244.1.0/24')]);
  process.kill(co.pid()!, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  await co.run([route('10.244.2.0/24')]);
  t.deepEqual(restarts, ['ip -batch was killed by SIGKILL']);

  const wedged = co.pid()!;
  process.kill(wedged, 'SIGSTOP');
  await t.throwsAsync(co.run([route('10.244.3.0/24')]), { message: /ip -batch gave no answer in 502 ms \(1 line\); killed it/ });
  await co.run([route('10.244.4.0/24')]);
  t.not(co.pid(), wedged);
  t.is(restarts.at(-1), 'ip -batch gave no answer in 502 ms (1 line)');
  t.deepEqual(await routes(netns), ['10.244.1.0/24', '10.244.2.0/24', '10.244.4.0/24']);
});

test('a command word that could split a line is refused before anything runs', async (t) => {
  const netns = await vxlanNetns(t);
  const { co } = coprocess(t, 'ip', netns);
  await t.throwsAsync(co.run([route('10.244.1.0/24'), ['route', 'replace', '10.244.2.0/24\nlink del weft.1']]), { message: /refusing to pass/ });
  t.deepEqual(await routes(netns), []);
  t.is((await ipJson(['link', 'show', 'dev', 'weft.1'], netns)).length, 1);
});
