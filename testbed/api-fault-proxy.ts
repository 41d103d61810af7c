// An HTTP proxy in front of a real kube-apiserver that fails chosen requests,
// for tests of what a client does when the API server answers an error. It
// forwards everything else as it is (bodies and watch streams included) over
// TLS as the control plane's admin, and answers the first `times` requests
// matching a fault itself, with a Kubernetes Status like the API server's.
//
//   const proxy = await startApiFaultProxy(cp, join(dir, 'api.sock'), [
//     { method: 'PATCH', path: '/api/v1/nodes/node1/status', times: 3 },
//   ]);
//   t.teardown(() => proxy.stop());
//
// It listens on a Unix socket, which a process in another network namespace
// reaches through socat; the kubeconfig it writes names the address that
// socat listens on.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type ClientRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { ControlPlane } from './apiserver.ts';

export type Fault = {
  method: string;
  /** The request path without its query, e.g. /api/v1/nodes/node1/status. */
  path: string;
  /** Only requests whose Content-Type starts with this (a patch's strategy), when given. */
  contentType?: string;
  /** How many matching requests fail; later ones are forwarded. */
  times: number;
  /** Default 500. */
  status?: number;
};

export type ApiFaultProxy = {
  socketPath: string;
  /** The requests answered with an error, in order. */
  injected: { method: string; path: string; contentType: string; status: number }[];
  /** Writes a kubeconfig for a client that reaches this proxy at `server` (http://HOST:PORT). */
  writeKubeconfig(path: string, server: string): void;
  /** Closes the socket and every connection, watches included; safe to call twice. */
  stop(): Promise<void>;
};

export async function startApiFaultProxy(cp: ControlPlane, socketPath: string, faults: Fault[]): Promise<ApiFaultProxy> {
  const upstream = new URL(cp.server);
  const agent = new Agent({ ca: readFileSync(cp.caFile), cert: readFileSync(cp.certFile), key: readFileSync(cp.keyFile), keepAlive: true });
  const remaining = faults.map((f) => ({ ...f }));
  const injected: ApiFaultProxy['injected'] = [];
  const open = new Set<ClientRequest>();

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const out = httpsRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        agent,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    open.add(out);
    out.once('close', () => open.delete(out));
    out.once('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`api-fault-proxy: ${err.message}\n`);
    });
    // A client that goes away (a watch stopped) ends the upstream request too.
    res.once('close', () => out.destroy());
    req.pipe(out);
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    const contentType = req.headers['content-type'] ?? '';
    const fault = remaining.find(
      (f) => f.times > 0 && f.method === req.method && f.path === path && (f.contentType === undefined || contentType.startsWith(f.contentType)),
    );
    if (!fault) return forward(req, res);
    fault.times--;
    const status = fault.status ?? 500;
    injected.push({ method: req.method ?? '', path, contentType, status });
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        code: status,
        reason: 'InternalError',
        message: `injected by the test's api-fault-proxy (${req.method} ${path})`,
      }),
    );
  });
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });

  let stopped: Promise<void> | undefined;
  return {
    socketPath,
    injected,
    writeKubeconfig(path, serverUrl) {
      // Plain HTTP to the proxy, which alone holds credentials; client-node
      // takes an http:// server only with insecure-skip-tls-verify.
      writeFileSync(
        path,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'fault-proxy', cluster: { server: serverUrl, 'insecure-skip-tls-verify': true } }],
          users: [{ name: 'anonymous', user: {} }],
          contexts: [{ name: 'fault-proxy', context: { cluster: 'fault-proxy', user: 'anonymous' } }],
          'current-context': 'fault-proxy',
        }),
      );
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const out of open) out.destroy();
        server.close(() => {
          agent.destroy();
          rmSync(socketPath, { force: true });
          resolve();
        });
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
