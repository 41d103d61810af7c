// weftd's view of the cluster's Nodes: a paginated list, then a watch from the
// list's resourceVersion, kept alive through API server restarts, expired
// resourceVersions and connections that died without a word. Only each
// Node's compact NodeInfo is kept.
//
// client-node's informer (ListWatch) would keep whole Node objects and has no
// watchdog, hence this small loop on CoreV1Api.listNode and Watch.
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig, Observable, type ObservableMiddleware, type RequestContext, type ResponseContext, Watch } from '@kubernetes/client-node';
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
  /** Nodes per list page (limit/continue); default 500. */
  pageSize?: number;
  log?: (msg: string) => void;
  /** Each watch (re)start after the first, with why the one before ended. */
  onRestart?: (reason: RestartReason) => void;
  /** Each failed list or watch, as client-node reported it. */
  onApiError?: (err: unknown) => void;
};

export type NodeWatch = {
  /** The current view: a new array of the (shared, unchanging) NodeInfos. */
  snapshot(): NodeInfo[];
  get(name: string): NodeInfo | undefined;
  /** True once the first full list has landed. */
  synced(): boolean;
  stop(): Promise<void>;
};

const NODES_PATH = '/api/v1/nodes';

// The API server ends each watch after timeoutSeconds. Like client-go, ask for
// 5 to 10 minutes at random, so the watches of thousands of nodes do not all
// reconnect together.
const WATCH_TIMEOUT_S = 300;

type WatchEnd = { reason: RestartReason | 'stopped'; resourceVersion: string; error?: unknown };

export function watchNodes(kc: KubeConfig, onChange: () => void, opts: NodeWatchOptions = {}): NodeWatch {
  const watchdogMs = opts.watchdogMs ?? 60_000;
  const pageSize = opts.pageSize ?? 500;
  const log = opts.log ?? (() => {});
  const backoff = exponentialBackoff(opts.minBackoffMs ?? 500, opts.maxBackoffMs ?? 30_000);
  const stopping = new AbortController();
  let nodes = new Map<string, NodeInfo>();
  let listed = false;

  // A throwing callback must not end the watch; inside Watch's event callback
  // it would even vanish without a trace (Watch takes it for bad JSON).
  const call = (name: string, callback: () => void): void => {
    try {
      callback();
    } catch (err) {
      log(`node watch: ${name} threw: ${err instanceof Error ? err.stack : String(err)}`);
    }
  };
  const changed = (): void => call('onChange', onChange);
  const apiError = (err: unknown): void => call('onApiError', () => opts.onApiError?.(err));
  // A retry delay that stop() cuts short.
  const pause = (ms: number): Promise<void> => sleep(ms, undefined, { signal: stopping.signal }).catch(() => {});

  /** Lists every Node page by page, then swaps the whole map: nodes that vanished meanwhile go. */
  async function list(): Promise<string> {
    const started = performance.now();
    const core = kc.makeApiClient(CoreV1Api);
    const fresh = new Map<string, NodeInfo>();
    let pages = 0;
    let next: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(watchdogMs)]);
      const page = await core.listNode({ limit: pageSize, _continue: next }, withSignal(signal));
      pages++;
      for (const node of page.items) {
        const info = toNodeInfo(node);
        if (info) fresh.set(info.name, info);
      }
      next = page.metadata?._continue;
      resourceVersion = page.metadata?.resourceVersion;
    } while (next);
    if (!resourceVersion) throw new Error('the API server sent a node list without a resourceVersion');
    nodes = fresh;
    listed = true;
    log(`node watch: listed ${fresh.size} nodes in ${pages} pages in ${Math.round(performance.now() - started)} ms`);
    changed();
    return resourceVersion;
  }

  function apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', node: NodeObject): void {
    const info = toNodeInfo(node);
    if (!info) return;
    if (type === 'DELETED') {
      if (nodes.delete(info.name)) changed();
      return;
    }
    const previous = nodes.get(info.name);
    nodes.set(info.name, info);
    // Most MODIFIED events are the kubelet's status heartbeats: nothing weftd uses.
    if (!previous || !sameNodeInfo(previous, info)) changed();
  }

  /** One watch, from resourceVersion until it ends; never rejects. */
  function watchFrom(resourceVersion: string): Promise<WatchEnd> {
    return new Promise((resolve) => {
      let lastSeen = resourceVersion;
      let connection: AbortController | undefined;
      let ended = false;
      const end = (reason: WatchEnd['reason'], error?: unknown): void => {
        if (ended) return;
        ended = true;
        clearTimeout(watchdog);
        stopping.signal.removeEventListener('abort', onStop);
        connection?.abort();
        resolve({ reason, resourceVersion: lastSeen, error });
      };
      const watchdog = setTimeout(() => end('watchdog'), watchdogMs);
      const onStop = (): void => end('stopped');
      stopping.signal.addEventListener('abort', onStop);

      const onEvent = (type: string, object: unknown): void => {
        if (ended) return;
        watchdog.refresh();
        if (type === 'ERROR') {
          const status = watchErrorStatus(object);
          end(status.statusCode === 410 ? 'gone' : 'error', status);
          return;
        }
        const node = object as NodeObject;
        lastSeen = node.metadata?.resourceVersion || lastSeen;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') apply(type, node);
      };
      const onDone = (err: unknown): void => {
        if (err === null || err === undefined) end('closed');
        else end(httpStatusOf(err) === 410 ? 'gone' : 'error', err);
      };

      // Past our watchdog, so that ours decides when a quiet watch is dead.
      const watch = watchWithIdleTimeout(kc, 2 * watchdogMs);
      const params = {
        allowWatchBookmarks: true,
        resourceVersion,
        timeoutSeconds: WATCH_TIMEOUT_S + Math.floor(Math.random() * WATCH_TIMEOUT_S),
      };
      watch.watch(NODES_PATH, params, onEvent, onDone).then(
        (controller) => {
          connection = controller;
          // Resolved before done was called: the API server took the watch.
          if (ended) controller.abort();
          else backoff.reset();
        },
        (err: unknown) => end('error', err),
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
    synced: () => listed,
    async stop() {
      stopping.abort();
      await running;
    },
  };
}

/**
 * A Watch that gives up on a connection after `idleMs` without a byte.
 * client-node's Watch has a private idle timeout of 30 s, which would cut a
 * healthy but idle watch short; it has no option for it, so the field is set
 * here, in one place, and test/unit/k8s-client.test.ts proves by behaviour
 * that setting it still changes when a quiet watch ends.
 */
export function watchWithIdleTimeout(kc: KubeConfig, idleMs: number): Watch {
  const watch = new Watch(kc);
  Object.assign(watch, { requestTimeoutMs: idleMs });
  return watch;
}

/** A watch ERROR event's Status as an Error carrying its HTTP code, like Watch's own errors. */
function watchErrorStatus(object: unknown): Error & { statusCode?: number } {
  const status = (object ?? {}) as { code?: unknown; message?: unknown };
  const error: Error & { statusCode?: number } = new Error(typeof status.message === 'string' ? status.message : `watch ERROR event ${JSON.stringify(object)}`);
  if (typeof status.code === 'number') error.statusCode = status.code;
  return error;
}

/** Request options that attach signal, so a list page can be cut short. */
function withSignal(signal: AbortSignal): { middleware: ObservableMiddleware[]; middlewareMergeStrategy: 'append' } {
  const attach: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [attach], middlewareMergeStrategy: 'append' };
}
