// weftd's HTTP servers hold every client to the same limits: GET and HEAD
// only, one request per connection, deadlines for headers and idle sockets,
// a connection cap, and a metrics page rendered at most once a second.
// In-process, on loopback: no root needed.

import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import test from 'ava';
import { Gauge, Registry } from 'prom-client';
import { HTTP_LIMITS, serveHealth, serveMetrics } from '../../src/daemon/health.ts';

const state = { alive: () => true, ready: () => ({ ready: false, reason: 'waiting for the first full sync of Nodes' }), skipped: () => [] };

async function started(t: import('ava').ExecutionContext, server: Promise<Server>): Promise<number> {
  const s = await server;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      }),
  );
  return (s.address() as AddressInfo).port;
}

/** Writes `text` on a new connection and collects what comes back until the server closes it (or `waitMs`). */
function exchange(port: number, text: string, waitMs = 3000): Promise<{ reply: string; closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const began = Date.now();
    let reply = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(text));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply, closedAfterMs: undefined });
    }, waitMs);
    socket.on('data', (d) => (reply += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closedAfterMs: Date.now() - began });
    });
  });
}

const statusLines = (reply: string) => reply.match(/^HTTP\/1\.1 \d{3} .*$/gm) ?? [];

test('GET and HEAD answer, other methods get 405 with Allow, unknown paths 404', async (t) => {
  const port = await started(t, serveHealth('127.0.0.1:0', state));
  const get = await exchange(port, 'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
  t.deepEqual(statusLines(get.reply), ['HTTP/1.1 503 Service Unavailable']);
  t.regex(get.reply, /waiting for the first full sync of Nodes/);
  const head = await exchange(port, 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  t.deepEqual(statusLines(head.reply), ['HTTP/1.1 200 OK']);
  t.notRegex(head.reply, /\r\n\r\nok/, 'HEAD has no body');
  const post = await exchange(port, 'POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
  t.deepEqual(statusLines(post.reply), ['HTTP/1.1 405 Method Not Allowed']);
  t.regex(post.reply, /allow: GET, HEAD/i);
  t.deepEqual(
    statusLines((await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).reply),
    ['HTTP/1.1 404 Not Found'],
    'metrics are not on the health server',
  );
});

test('pipelined requests get one answer, then the connection closes', async (t) => {
  const port = await started(t, serveHealth('127.0.0.1:0', state));
  const r = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(50));
  t.is(statusLines(r.reply).length, 1);
  t.not(r.closedAfterMs, undefined, 'the server closed the connection');
});

test('a client that trickles its headers is cut off at the headers deadline', async (t) => {
  const port = await started(t, serveHealth('127.0.0.1:0', state));
  const began = Date.now();
  const closedAfter = await new Promise<number>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('GET /healthz HTTP/1.1\r\n'));
    const trickle = setInterval(() => socket.write('X-a: b\r\n'), 200);
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(trickle);
      resolve(Date.now() - began);
    });
    setTimeout(() => socket.destroy(), 20_000);
  });
  t.true(closedAfter < HTTP_LIMITS.headersTimeoutMs + 2_000, `closed after ${closedAfter} ms`);
});

test('an idle connection is closed, and connections past the cap are refused at once', async (t) => {
  const port = await started(t, serveHealth('127.0.0.1:0', state));
  const idle = await exchange(port, '', HTTP_LIMITS.idleTimeoutMs + 5_000);
  t.not(idle.closedAfterMs, undefined, 'an idle connection does not stay forever');
  const held = await Promise.all(
    Array.from(
      { length: HTTP_LIMITS.maxConnections },
      () =>
        new Promise<import('node:net').Socket>((resolve) => {
          const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
          s.on('error', () => {});
        }),
    ),
  );
  t.teardown(() => {
    for (const s of held) s.destroy();
  });
  await new Promise((r) => setTimeout(r, 200));
  const extra = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
  t.deepEqual(statusLines(extra.reply), [], 'one more connection gets no answer');
  t.not(extra.closedAfterMs, undefined, 'and is closed');
});

test('a scrape storm renders the metrics at most once a second', async (t) => {
  const registry = new Registry();
  let renders = 0;
  new Gauge({
    name: 'weft_test_renders',
    help: 'renders',
    registers: [registry],
    collect() {
      renders++;
      this.set(renders);
    },
  });
  const port = await started(t, serveMetrics('127.0.0.1:0', registry));
  const replies = await Promise.all(Array.from({ length: 20 }, () => exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')));
  t.true(replies.every((r) => statusLines(r.reply)[0] === 'HTTP/1.1 200 OK'));
  t.is(renders, 1);
  await new Promise((r) => setTimeout(r, HTTP_LIMITS.metricsCacheMs + 100));
  await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
  t.is(renders, 2, 'a second later the page is rendered anew');
});
