// weftd's view of the cluster's Nodes: a paginated list, then a watch from the
// list's resourceVersion, kept alive through API server restarts, expired
// resourceVersions and connections that died without a word. Only each
// Node's compact NodeInfo is kept, and each change is handed on by node, so
// that an event costs the overlay that one node.
//
// client-node's informer (ListWatch) would keep whole Node objects and has no
// watchdog, hence this small loop. The list reads raw JSON pages: client-node's
// typed listNode turns every Node into model objects first (at 5000 Nodes,
// 3.0 s against 0.8 s for the raw pages), only for all but a few fields to be
// thrown away.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, HttpMethod, IsomorphicFetchHttpLibrary, type KubeConfig, RequestContext, Watch } from '@kubernetes/client-node';
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

/** One Node that changed in what weftd reads: its view now, or undefined when it is gone. */
export type NodeChange = { name: string; node: NodeInfo | undefined };

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

/**
 * `onChange` gets the Nodes that changed: after each (re)list, every one that
 * differs from the view before it (all of them the first time, maybe none);
 * after a watch event, that one Node.
 */
export function watchNodes(kc: KubeConfig, onChange: (changes: NodeChange[]) => void, opts: NodeWatchOptions = {}): NodeWatch {
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
      const page = await listPage(kc, pageSize, next, signal);
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
    listed = true;
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

type NodeListPage = { items?: NodeObject[]; metadata?: { continue?: string; resourceVersion?: string } };

/** One page of GET /api/v1/nodes as plain JSON, with the kubeconfig's server, credentials and TLS. */
async function listPage(kc: KubeConfig, limit: number, next: string | undefined, signal: AbortSignal): Promise<NodeListPage> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster: set its current-context');
  const url = new URL(cluster.server.replace(/\/+$/, '') + NODES_PATH);
  url.searchParams.set('limit', String(limit));
  if (next) url.searchParams.set('continue', next);
  const request = new RequestContext(url.toString(), HttpMethod.GET);
  request.setHeaderParam('Accept', 'application/json');
  await kc.applySecurityAuthentication(request);
  request.setSignal(signal);
  const response = await new IsomorphicFetchHttpLibrary().send(request).toPromise();
  const body = await response.body.text();
  if (response.httpStatusCode !== 200) {
    throw new ApiException(response.httpStatusCode, `listing nodes: HTTP ${response.httpStatusCode}`, body, response.headers);
  }
  return JSON.parse(body) as NodeListPage;
}
