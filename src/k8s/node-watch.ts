// weftd's view of the cluster's Nodes: a paginated list, then a watch from the
// list's resourceVersion, kept alive through API server restarts, expired
// resourceVersions and connections that died without a word. Only each
// Node's compact NodeInfo is kept, and each change is handed on by node, so
// that an event costs the overlay that one node.
//
// An informer (client-go's, client-node's ListWatch) would keep whole Node
// objects and has no watchdog, hence this small loop. Lists and events are
// read as raw JSON: typed model objects (client-node's listNode took 3.0 s
// against 0.8 s for the raw pages at 5000 Nodes) would be built only for all
// but a few fields to be thrown away.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from './api-client.ts';
import { describeApiError, httpStatusOf } from './api-errors.ts';
import { exponentialBackoff } from './backoff.ts';
import { type NodeInfo, type NodeObject, sameNodeInfo, toNodeInfo } from './node-info.ts';

export type { NodeInfo } from './node-info.ts';

/** Why a watch ended and was started again. */
export type RestartReason = 'watchdog' | 'error' | 'gone' | 'closed';

export type NodeWatchOptions = {
  /**
   * Restart a watch that has delivered nothing (no event, no bookmark) for
   * this long; also the most one list page may take. Default 60000.
   */
  watchdogMs?: number;
  /** First retry delay after a failed list or watch; default 500. */
  minBackoffMs?: number;
  /** The retry delay doubles up to this; default 30000. */
  maxBackoffMs?: number;
  /**
   * Nodes per list page (limit/continue); default 250. A page is parsed
   * whole, and a Node's JSON runs to kilobytes (images, conditions), so
   * larger pages leave more RSS behind; each page is a round trip. In
   * bench-overlay, pages of 500 left 19 MB more RSS after listing 1000
   * Nodes than pages of 100, whose 50 round trips made listing 5000 Nodes
   * take 2.3 s instead of 1.3 s with pages of 250.
   */
  pageSize?: number;
  log?: (msg: string) => void;
  /** Each watch (re)start after the first, with why the one before ended. */
  onRestart?: (reason: RestartReason) => void;
  /** Each failed list or watch. */
  onApiError?: (err: unknown) => void;
};

/** One Node that changed in what weftd reads: its view now, or undefined when it is gone. */
export type NodeChange = { name: string; node: NodeInfo | undefined };

export type NodeWatch = {
  /** The current view: a new array of the (shared, unchanging) NodeInfos. */
  snapshot(): NodeInfo[];
  get(name: string): NodeInfo | undefined;
  /** True once the first full list has landed. */
  synced(): boolean;
  /** How many full lists have landed (the first, and each relist). */
  lists(): number;
  stop(): Promise<void>;
};

const NODES_PATH = '/api/v1/nodes';

// The API server ends each watch after timeoutSeconds. Like client-go, ask for
// 5 to 10 minutes at random, so the watches of thousands of nodes do not all
// reconnect together.
const WATCH_TIMEOUT_S = 300;

type WatchEnd = { reason: RestartReason | 'stopped'; resourceVersion: string; error?: unknown };

/**
 * `onChange` gets the Nodes that changed: after each (re)list, every one that
 * differs from the view before it (all of them the first time, maybe none);
 * after a watch event, that one Node.
 */
export function watchNodes(api: ApiClient, onChange: (changes: NodeChange[]) => void, opts: NodeWatchOptions = {}): NodeWatch {
  const watchdogMs = opts.watchdogMs ?? 60_000;
  const pageSize = opts.pageSize ?? 250;
  const log = opts.log ?? (() => {});
  const backoff = exponentialBackoff(opts.minBackoffMs ?? 500, opts.maxBackoffMs ?? 30_000);
  const stopping = new AbortController();
  let nodes = new Map<string, NodeInfo>();
  let lists = 0;

  // A throwing callback must not end the watch.
  const call = (name: string, callback: () => void): void => {
    try {
      callback();
    } catch (err) {
      log(`node watch: ${name} threw: ${err instanceof Error ? err.stack : String(err)}`);
    }
  };
  const changed = (changes: NodeChange[]): void => call('onChange', () => onChange(changes));
  const apiError = (err: unknown): void => call('onApiError', () => opts.onApiError?.(err));
  // A retry delay that stop() cuts short.
  const pause = (ms: number): Promise<void> => sleep(ms, undefined, { signal: stopping.signal }).catch(() => {});

  /** Lists every Node page by page, then swaps the whole map: nodes that vanished meanwhile go. */
  async function list(): Promise<string> {
    const started = performance.now();
    const fresh = new Map<string, NodeInfo>();
    const changes: NodeChange[] = [];
    let pages = 0;
    let next: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(watchdogMs)]);
      const page = await api.json<NodeListPage>('GET', NODES_PATH, { query: { limit: pageSize, continue: next }, signal });
      pages++;
      for (const node of page.items ?? []) {
        const info = toNodeInfo(node);
        if (!info) continue;
        const before = nodes.get(info.name);
        fresh.set(info.name, info);
        if (!before || !sameNodeInfo(before, info)) changes.push({ name: info.name, node: info });
      }
      next = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion;
    } while (next);
    if (!resourceVersion) throw new Error('the API server sent a node list without a resourceVersion');
    for (const name of nodes.keys()) if (!fresh.has(name)) changes.push({ name, node: undefined });
    nodes = fresh;
    lists++;
    log(`node watch: listed ${fresh.size} nodes in ${pages} pages in ${Math.round(performance.now() - started)} ms`);
    changed(changes);
    return resourceVersion;
  }

  function apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', node: NodeObject): void {
    const info = toNodeInfo(node);
    if (!info) return;
    if (type === 'DELETED') {
      if (nodes.delete(info.name)) changed([{ name: info.name, node: undefined }]);
      return;
    }
    const previous = nodes.get(info.name);
    nodes.set(info.name, info);
    // Most MODIFIED events are the kubelet's status heartbeats: nothing weftd uses.
    if (!previous || !sameNodeInfo(previous, info)) changed([{ name: info.name, node: info }]);
  }

  /** One watch, from resourceVersion until it ends; never rejects. */
  function watchFrom(resourceVersion: string): Promise<WatchEnd> {
    return new Promise((resolve) => {
      let lastSeen = resourceVersion;
      const connection = new AbortController();
      let ended = false;
      const end = (reason: WatchEnd['reason'], error?: unknown): void => {
        if (ended) return;
        ended = true;
        clearTimeout(watchdog);
        stopping.signal.removeEventListener('abort', onStop);
        connection.abort();
        resolve({ reason, resourceVersion: lastSeen, error });
      };
      const watchdog = setTimeout(() => end('watchdog'), watchdogMs);
      const onStop = (): void => end('stopped');
      stopping.signal.addEventListener('abort', onStop);

      const onEvent = (event: WatchEvent): void => {
        if (ended) return;
        watchdog.refresh();
        if (event.type === 'ERROR') {
          const status = watchErrorStatus(event.object);
          end(status.statusCode === 410 ? 'gone' : 'error', status);
          return;
        }
        const node = event.object as NodeObject;
        lastSeen = node.metadata?.resourceVersion || lastSeen;
        if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') apply(event.type, node);
      };

      const query = {
        watch: true,
        allowWatchBookmarks: true,
        resourceVersion,
        timeoutSeconds: WATCH_TIMEOUT_S + Math.floor(Math.random() * WATCH_TIMEOUT_S),
      };
      api.stream(NODES_PATH, { query, signal: connection.signal }).then(
        (response) => {
          // Answered 200: the API server took the watch.
          backoff.reset();
          const lines = new LineSplitter();
          response.on('data', (chunk: Buffer) => {
            for (const line of lines.push(chunk)) {
              let event: WatchEvent;
              try {
                event = JSON.parse(line) as WatchEvent;
              } catch (err) {
                end('error', new Error(`the API server sent a watch event that is not JSON: ${line.slice(0, 200)}`, { cause: err }));
                return;
              }
              onEvent(event);
            }
          });
          response.on('end', () => end('closed'));
          response.on('error', (err) => end('error', err));
          response.on('close', () => end(response.complete ? 'closed' : 'error', new Error('the watch connection broke')));
        },
        (err: unknown) => end(httpStatusOf(err) === 410 ? 'gone' : 'error', err),
      );
    });
  }

  async function run(): Promise<void> {
    let resourceVersion: string | undefined; // undefined: list first
    let lastEnd: RestartReason | undefined;
    while (!stopping.signal.aborted) {
      if (resourceVersion === undefined) {
        try {
          resourceVersion = await list();
          backoff.reset();
        } catch (err) {
          if (stopping.signal.aborted) return;
          const delay = backoff.next();
          log(`node watch: listing nodes failed: ${describeApiError(err)}; retrying in ${delay} ms`);
          apiError(err);
          await pause(delay);
          continue;
        }
      }
      if (lastEnd !== undefined) {
        const reason = lastEnd;
        call('onRestart', () => opts.onRestart?.(reason));
      }
      const end = await watchFrom(resourceVersion);
      if (end.reason === 'stopped') return;
      lastEnd = end.reason;
      const delay = backoff.next();
      if (end.reason === 'gone') {
        // Events since resourceVersion are gone from the API server's
        // history, deletions among them: only a new list can tell.
        log(`node watch: resourceVersion ${end.resourceVersion} expired (${describeApiError(end.error)}); relisting in ${delay} ms`);
        resourceVersion = undefined;
      } else {
        resourceVersion = end.resourceVersion;
        const why =
          end.reason === 'error'
            ? `the watch failed: ${describeApiError(end.error)}`
            : end.reason === 'watchdog'
              ? `nothing from the API server for ${watchdogMs} ms`
              : 'the API server ended the watch';
        log(`node watch: ${why}; watching again from resourceVersion ${resourceVersion} in ${delay} ms`);
        if (end.reason === 'error') apiError(end.error);
      }
      await pause(delay);
    }
  }

  const running = run().catch((err: unknown) => {
    // Only a bug in this file gets here; say so rather than go quiet.
    log(`node watch: stopped by an internal error: ${err instanceof Error ? err.stack : String(err)}`);
  });

  return {
    snapshot: () => [...nodes.values()],
    get: (name) => nodes.get(name),
    synced: () => lists > 0,
    lists: () => lists,
    async stop() {
      stopping.abort();
      await running;
    },
  };
}

/** A watch ERROR event's Status as an Error carrying its HTTP code, like Watch's own errors. */
function watchErrorStatus(object: unknown): Error & { statusCode?: number } {
  const status = (object ?? {}) as { code?: unknown; message?: unknown };
  const error: Error & { statusCode?: number } = new Error(typeof status.message === 'string' ? status.message : `watch ERROR event ${JSON.stringify(object)}`);
  if (typeof status.code === 'number') error.statusCode = status.code;
  return error;
}

type NodeListPage = { items?: NodeObject[]; metadata?: { continue?: string; resourceVersion?: string } };

type WatchEvent = { type?: string; object?: unknown };

/** Cuts a byte stream into its newline-ended lines: a watch sends one JSON event per line, in chunks that fall anywhere. */
export class LineSplitter {
  #partial: Buffer[] = [];

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      const line = this.#partial.length > 0 ? Buffer.concat([...this.#partial, piece]).toString('utf8') : piece.toString('utf8');
      this.#partial = [];
      if (line.trim() !== '') lines.push(line);
      start = nl + 1;
    }
    if (start < chunk.length) this.#partial.push(chunk.subarray(start));
    return lines;
  }
}
