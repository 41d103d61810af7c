// What the measured node's kernel must hold for each fake peer, and the
// netlink monitor events that prove it was there, and when.
import type { KernelEvent } from './lib/netlink-monitor.ts';
import type { FakePeer } from './overlay-fake-nodes.ts';

/** A set of kernel entries we wait for; done when each was seen with the right value. */
export class Expectation {
  /** Entry → when the kernel had it (wall-clock ms, from the monitor's timestamp). */
  readonly seen = new Map<string, number>();
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  readonly expected: Map<string, string>;
  readonly notBeforeMs: number;
  constructor(expected: Map<string, string>, notBeforeMs: number) {
    this.expected = expected;
    this.notBeforeMs = notBeforeMs;
  }

  offer(id: string, e: KernelEvent): void {
    if (e.deleted || e.tsMs < this.notBeforeMs || this.seen.has(id) || this.expected.get(id) !== e.value) return;
    this.seen.set(id, e.tsMs);
    if (this.seen.size === this.expected.size) this.resolveDone();
  }

  complete(): boolean {
    return this.seen.size === this.expected.size;
  }

  firstTsMs(): number {
    return Math.min(...this.seen.values());
  }

  lastTsMs(): number {
    return Math.max(...this.seen.values());
  }
}

const entryId = (kind: string, key: string) => `${kind} ${key}`;

export function entriesOf(p: FakePeer): [string, string][] {
  return [
    [entryId('fdb', p.vtepMac), p.vtepIp],
    [entryId('neigh', p.via), p.vtepMac],
    [entryId('route', p.podCidr), p.via],
  ];
}

export class Watcher {
  private readonly waiting = new Map<string, Expectation>();
  /** Deletions of fake peers' entries while a daemon runs: it should never make any. */
  unexpectedDeletions = 0;

  onEvent = (e: KernelEvent): void => {
    const id = entryId(e.kind, e.key);
    if (e.deleted) {
      if (e.kind === 'fdb' ? e.key.startsWith('0e:') : e.key.startsWith('10.')) this.unexpectedDeletions++;
      return;
    }
    const x = this.waiting.get(id);
    if (!x) return;
    x.offer(id, e);
    if (x.seen.has(id)) this.waiting.delete(id);
  };

  expect(entries: [string, string][], notBeforeMs: number): Expectation {
    const x = new Expectation(new Map(entries), notBeforeMs);
    for (const [id] of entries) this.waiting.set(id, x);
    return x;
  }

  forget(x: Expectation): void {
    for (const id of x.expected.keys()) if (this.waiting.get(id) === x) this.waiting.delete(id);
  }
}
