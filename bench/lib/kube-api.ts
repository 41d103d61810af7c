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

  close(): void {
    this.agent.destroy();
  }
}
