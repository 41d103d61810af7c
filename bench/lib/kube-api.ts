// A bare HTTPS client for the benchmark's own API server: keep-alive
// connections and no client library in between, so creating thousands of
// Nodes is limited by the API server, and the moment a request is sent can be
// stamped right before its bytes are written.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';

export type ApiCredentials = { server: string; caFile: string; certFile: string; keyFile: string };
export type ApiResponse = { status: number; body: string };

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with kernel timestamps). */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

export class KubeApi {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(creds: ApiCredentials, maxSockets = 64) {
    this.url = new URL(creds.server);
    this.agent = new Agent({
      keepAlive: true,
      maxSockets,
      ca: readFileSync(creds.caFile),
      cert: readFileSync(creds.certFile),
      key: readFileSync(creds.keyFile),
    });
  }

  /**
   * One request. onSend is called right before the request's body is handed
   * to the socket (after the connection is there when one is free).
   */
  send(method: string, path: string, body?: unknown, onSend?: () => void): Promise<ApiResponse> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request({
        host: this.url.hostname,
        port: this.url.port,
        method,
        path,
        agent: this.agent,
        headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        timeout: 60_000,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
      req.on('error', reject);
      onSend?.();
      req.end(data);
    });
  }

  async must(method: string, path: string, body?: unknown, onSend?: () => void): Promise<ApiResponse> {
    const r = await this.send(method, path, body, onSend);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
    return r;
  }

  createNode(node: unknown, onSend?: () => void): Promise<ApiResponse> {
    return this.must('POST', '/api/v1/nodes', node, onSend);
  }

  async deleteNode(name: string): Promise<void> {
    const r = await this.send('DELETE', `/api/v1/nodes/${encodeURIComponent(name)}`);
    if (r.status !== 200 && r.status !== 202 && r.status !== 404) throw new Error(`DELETE node ${name}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  }

  /** The Node object (parsed), or undefined when there is none. */
  async getNode(name: string): Promise<Record<string, unknown> | undefined> {
    const r = await this.send('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`GET node ${name}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  }

  /**
   * Watches Nodes from now on (the current resourceVersion), calling onEvent
   * with performance.now() as each event's line arrives: when any watcher,
   * weftd's among them, could first have heard of the change.
   */
  async watchNodes(onEvent: (type: string, name: string, recvPerfMs: number) => void): Promise<{ stop(): void }> {
    const list = JSON.parse((await this.must('GET', '/api/v1/nodes?limit=1')).body) as { metadata: { resourceVersion: string } };
    const path = `/api/v1/nodes?watch=true&allowWatchBookmarks=false&timeoutSeconds=3600&resourceVersion=${list.metadata.resourceVersion}`;
    return await new Promise((resolve, reject) => {
      const req = request({ host: this.url.hostname, port: this.url.port, method: 'GET', path, agent: this.agent }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`watch nodes: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        let buffered = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          const recv = performance.now();
          buffered += chunk;
          let nl;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (!line.trim()) continue;
            const e = JSON.parse(line) as { type: string; object?: { metadata?: { name?: string } } };
            onEvent(e.type, e.object?.metadata?.name ?? '', recv);
          }
        });
        res.on('error', () => {});
        resolve({ stop: () => req.destroy() });
      });
      req.on('error', (err) => reject(err));
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs fn over items with at most `concurrency` in flight; the first error stops new work and is thrown. */
export async function inParallel<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure;
}
