// When the scheduler runs a pass: at once for an event that finds it idle,
// coalesced for events that come during a pass or right after one, and never
// an event pass in place of a periodic one that is due.
import { readFile } from 'node:fs';
import test from 'ava';
import { createScheduler, type PassKind } from '../../src/daemon/scheduler.ts';

const until = async (done: () => boolean): Promise<void> => {
  for (let waited = 0; !done() && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
};

test('an event that finds the scheduler idle runs at once; events right after a pass wait for the coalescing window', async (t) => {
  const runs: number[] = [];
  const s = createScheduler(
    async () => {
      runs.push(performance.now());
    },
    { coalesceMs: 400, retryMs: 10, periodicMs: 60_000, onError: () => {} },
  );
  t.teardown(() => s.stop());
  const first = performance.now();
  s.trigger();
  await until(() => runs.length === 1);
  // The window is long, so "at once" is told apart from "after the window" even on a loaded machine.
  t.true(runs[0]! - first < 300, `ran after ${Math.round(runs[0]! - first)} ms, not after the 400 ms window`);
  s.trigger();
  s.trigger();
  await until(() => runs.length === 2);
  t.true(runs[1]! - runs[0]! >= 395, `the second pass waited out the window (${Math.round(runs[1]! - runs[0]!)} ms)`);
  await new Promise((r) => setTimeout(r, 450));
  t.is(runs.length, 2, 'two events right after a pass made one more pass');
});

test('an event that finds the scheduler idle runs before any timer, as soon as the I/O that brought it is done', async (t) => {
  // From an I/O callback, as a watch event arrives, Node runs immediates
  // before timers: a pass behind setTimeout(0) (at least 1 ms in Node)
  // would come after the timer set before the event.
  const order: string[] = [];
  const s = createScheduler(
    async () => {
      order.push('pass');
    },
    { coalesceMs: 10, retryMs: 10, periodicMs: 60_000, onError: () => {} },
  );
  t.teardown(() => s.stop());
  await new Promise<void>((resolve) => {
    readFile(import.meta.filename, () => {
      setTimeout(() => {
        order.push('timer');
        resolve();
      }, 0);
      s.trigger();
    });
  });
  t.deepEqual(order, ['pass', 'timer']);
});

test('an event does not turn a due periodic pass into an event pass', async (t) => {
  const kinds: PassKind[] = [];
  let release: () => void = () => {};
  const s = createScheduler(
    async (kind) => {
      kinds.push(kind);
      if (kinds.length === 1) await new Promise<void>((r) => (release = r));
    },
    { coalesceMs: 1, retryMs: 10, periodicMs: 60_000, onError: () => {} },
  );
  t.teardown(() => s.stop());
  s.trigger('event');
  await until(() => kinds.length === 1);
  s.trigger('periodic');
  s.trigger('event');
  release();
  await until(() => kinds.length === 2);
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(kinds, ['event', 'periodic']);
});
