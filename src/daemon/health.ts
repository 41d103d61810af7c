// /healthz (the loop is alive), /readyz (first full sync done and the subnet
// file written) and /metrics, for the DaemonSet's probes and Prometheus.
import { type Server, createServer } from 'node:http';
import type { Registry } from 'prom-client';

export type HealthState = { alive(): boolean; ready(): boolean; readyReason(): string };

export function parseListenAddress(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  const port = Number(addr.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--health-addr ${JSON.stringify(addr)} is not HOST:PORT: write it like 0.0.0.0:9402 (port 0 picks a free one)`);
  }
  return { host: addr.slice(0, colon).replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

export async function serveHealth(addr: string, state: HealthState, registry: Registry): Promise<Server> {
  const { host, port } = parseListenAddress(addr);
  const server = createServer((req, res) => {
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    switch (req.url) {
      case '/healthz':
        return state.alive() ? send(200, 'ok\n') : send(500, 'reconcile loop stalled\n');
      case '/readyz':
        return state.ready() ? send(200, 'ok\n') : send(503, `${state.readyReason()}\n`);
      case '/metrics':
        registry.metrics().then((body) => send(200, body, registry.contentType), (err: Error) => send(500, `${err.message}\n`));
        return;
      default:
        return send(404, 'weftd serves /healthz, /readyz and /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${addr} (--health-addr): ${err.message}`)));
    server.listen(port, host, resolve);
  });
  return server;
}
