// A bare HTTPS client for the benchmark's own API server: keep-alive
// connections and no client library in between, so creating thousands of
// Nodes is limited by the API server, and the moment a request is sent can be
// stamped right before its bytes are written.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { LineSplitter } from '../../src/k8s/node-watch.ts';

export type ApiCredentials = { server: string; caFile: string; certFile: string; keyFile: string };
export type ApiResponse = { status: number; body: string };

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with kernel timestamps). */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A watch the bench holds open; `stop` ends it. */
export type Watch = { stop(): void };

export class KubeApi {
  private readonly agent: Agent;
  private readonly url: URL;
  private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer };

  constructor(creds: ApiCredentials, maxSockets = 64) {
    this.url = new URL(creds.server);
    this.tls = { ca: readFileSync(creds.caFile), cert: readFileSync(creds.certFile), key: readFileSync(creds.keyFile) };
    this.agent = new Agent({ keepAlive: true, maxSockets, ...this.tls });
  }

  /**
   * One request. onSend is called right before the request's body is handed
   * to the socket (after the connection is there when one is free).
   */
  send(method: string, path: string, body?: unknown, onSend?: () => void): Promise<ApiResponse> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          method,
          path,
          agent: this.agent,
          headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
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

  deleteNode(name: string): Promise<ApiResponse> {
    return this.must('DELETE', `/api/v1/nodes/${encodeURIComponent(name)}`);
  }

  /** The Node list's current resourceVersion: a watch from it sees only what comes after. */
  async nodesResourceVersion(): Promise<string> {
    const r = await this.must('GET', '/api/v1/nodes?limit=1');
    const rv = (JSON.parse(r.body) as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
    if (!rv) throw new Error('GET /api/v1/nodes: no resourceVersion in the answer');
    return rv;
  }

  /**
   * Watches Nodes from `resourceVersion` on a connection of its own and calls
   * `onAdded` with each new Node's name and when its event arrived (wallMs).
   * Resolves once the API server has taken the watch.
   */
  watchAddedNodes(resourceVersion: string, onAdded: (name: string, atMs: number) => void): Promise<Watch> {
    const path = `/api/v1/nodes?watch=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    return new Promise((resolve, reject) => {
      const req = request({ host: this.url.hostname, port: this.url.port, path, ...this.tls }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${path}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        const lines = new LineSplitter();
        res.on('data', (chunk: Buffer) => {
          const atMs = wallMs();
          for (const line of lines.push(chunk)) {
            const event = JSON.parse(line) as { type?: string; object?: { metadata?: { name?: string } } };
            const name = event.object?.metadata?.name;
            if (event.type === 'ADDED' && name) onAdded(name, atMs);
          }
        });
        res.on('error', () => {});
        resolve({ stop: () => req.destroy() });
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
