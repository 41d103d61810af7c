// /healthz (the loop is alive), /readyz (see readiness.ts) and /metrics, for
// the DaemonSet's probes and Prometheus; /skipped, the nodes the overlay
// leaves out and why, for `weftd status` (only the running daemon knows
// which peer the kernel refused or lost a conflict).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Skipped } from '../overlay/types.ts';

export type HealthState = { alive(): boolean; ready(): { ready: boolean; reason: string }; skipped(): Skipped[] };

export const SKIPPED_PATH = '/skipped';

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
      case '/readyz': {
        const { ready, reason } = state.ready();
        return ready ? send(200, 'ok\n') : send(503, `${reason}\n`);
      }
      case SKIPPED_PATH:
        return send(200, `${JSON.stringify(state.skipped())}\n`, 'application/json');
      case '/metrics':
        registry.metrics().then(
          (body) => send(200, body, registry.contentType),
          (err: Error) => send(500, `${err.message}\n`),
        );
        return;
      default:
        return send(404, `weftd serves /healthz, /readyz, /metrics and ${SKIPPED_PATH}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${addr} (--health-addr): ${err.message}`, { cause: err })));
    server.listen(port, host, resolve);
  });
  return server;
}
