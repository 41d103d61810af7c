import test from 'ava';
import { exponentialBackoff } from '../../src/k8s/backoff.ts';

const noJitter = () => 0;

test('delays double from min up to max, and reset starts over', (t) => {
  const backoff = exponentialBackoff(500, 3000, noJitter);
  t.deepEqual(
    [1, 2, 3, 4, 5].map(() => backoff.next()),
    [500, 1000, 2000, 3000, 3000],
  );
  backoff.reset();
  t.is(backoff.next(), 500);
});

test('jitter stretches a delay by up to a fifth, never past max', (t) => {
  const backoff = exponentialBackoff(1000, 1500, () => 1);
  t.is(backoff.next(), 1200);
  t.is(backoff.next(), 1500);
  const random = exponentialBackoff(1000, 60_000);
  for (let i = 0; i < 50; i++) {
    random.reset();
    const delay = random.next();
    t.true(delay >= 1000 && delay <= 1200, String(delay));
  }
});
