// weftd's two small HTTP servers. The health server (--health-addr, on
// 127.0.0.1 by default: the kubelet probes a hostNetwork pod there) serves
// /healthz (the loop is alive), /readyz (see readiness.ts) and /skipped (the
// nodes the overlay leaves out and why, for `weftd status`: only the running
// daemon knows which peer the kernel refused or lost a conflict). The
// metrics server (--metrics-addr, off unless asked for) serves /metrics.
//
// Any pod on the node can reach an address weftd listens on, so neither
// server lets a client hold weftd's attention: a cap on connections, one
// request per connection, deadlines for headers, requests and idle sockets,
// GET and HEAD only, and a metrics page rendered at most about once a second.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Skipped } from '../overlay/types.ts';
import { quote } from '../text/quote.ts';

export type HealthState = { alive(): boolean; ready(): { ready: boolean; reason: string }; skipped(): Skipped[] };

export const SKIPPED_PATH = '/skipped';

/** The limits each server holds every client to. */
export const HTTP_LIMITS = {
  maxConnections: 32,
  headersTimeoutMs: 2_000,
  requestTimeoutMs: 5_000,
  idleTimeoutMs: 5_000,
  metricsCacheMs: 1_000,
} as const;

export function parseListenAddress(addr: string, flag = '--health-addr'): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  const port = Number(addr.slice(colon + 1));
  if (colon < 0 || addr.slice(colon + 1) === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${flag} ${quote(addr)} is not HOST:PORT: write it like 127.0.0.1:9402 (port 0 picks a free one)`);
  }
  return { host: addr.slice(0, colon).replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

type Reply = { code: number; body: string; type?: string };
type Route = () => Reply | Promise<Reply>;

function send(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.code, { 'content-type': reply.type ?? 'text/plain; charset=utf-8', connection: 'close' });
  res.end(req.method === 'HEAD' ? undefined : reply.body);
}

async function listen(addr: string, flag: string, routes: Record<string, Route>): Promise<Server> {
  const { host, port } = parseListenAddress(addr, flag);
  const known = Object.keys(routes).join(', ');
  // Node checks the header and request deadlines on this interval (30 s by default).
  const server = createServer({ connectionsCheckingInterval: 250 }, (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(req, res, { code: 405, body: 'weftd answers GET and HEAD only\n' });
    }
    const route = routes[req.url ?? ''];
    if (!route) return send(req, res, { code: 404, body: `weftd serves ${known} here\n` });
    Promise.resolve()
      .then(route)
      .then(
        (reply) => send(req, res, reply),
        (err: unknown) => send(req, res, { code: 500, body: `${err instanceof Error ? err.message : String(err)}\n` }),
      );
  });
  server.maxConnections = HTTP_LIMITS.maxConnections;
  server.maxRequestsPerSocket = 1;
  server.headersTimeout = HTTP_LIMITS.headersTimeoutMs;
  server.requestTimeout = HTTP_LIMITS.requestTimeoutMs;
  server.keepAliveTimeout = 0;
  server.setTimeout(HTTP_LIMITS.idleTimeoutMs, (socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${addr} (${flag}): ${err.message}`, { cause: err })));
    server.listen(port, host, resolve);
  });
  return server;
}

export function serveHealth(addr: string, state: HealthState): Promise<Server> {
  return listen(addr, '--health-addr', {
    '/healthz': () => (state.alive() ? { code: 200, body: 'ok\n' } : { code: 500, body: 'reconcile loop stalled\n' }),
    '/readyz': () => {
      const { ready, reason } = state.ready();
      return ready ? { code: 200, body: 'ok\n' } : { code: 503, body: `${reason}\n` };
    },
    [SKIPPED_PATH]: () => ({ code: 200, body: `${JSON.stringify(state.skipped())}\n`, type: 'application/json' }),
  });
}

/** A scrape storm renders the registry at most once per HTTP_LIMITS.metricsCacheMs. */
export function serveMetrics(addr: string, registry: Registry): Promise<Server> {
  let cached: { at: number; page: Promise<string> } | undefined;
  const page = (): Promise<string> => {
    if (!cached || Date.now() - cached.at > HTTP_LIMITS.metricsCacheMs) cached = { at: Date.now(), page: registry.metrics() };
    return cached.page;
  };
  return listen(addr, '--metrics-addr', {
    '/metrics': async () => ({ code: 200, body: await page(), type: registry.contentType }),
  });
}
