// A hostile HTTP client for weftd's servers, run inside a node's network
// namespace: it holds connections open, pipelines requests, or trickles
// header bytes, reconnecting whenever the server drops it, for a bounded
// time. It prints one JSON line: how many connections it opened and how many
// responses it got.
//   node testbed/http-flood.ts MODE HOST PORT CONNECTIONS SECONDS
import { connect, type Socket } from 'node:net';

type Mode = 'connections' | 'pipelined' | 'slow-headers';

const [mode, host, portText, countText, secondsText] = process.argv.slice(2) as [Mode, string, string, string, string];
const port = Number(portText);
const until = Date.now() + Number(secondsText) * 1000;
let opened = 0;
let responses = 0;

function attack(): void {
  if (Date.now() >= until) return;
  opened++;
  const socket: Socket = connect({ host, port });
  let timer: NodeJS.Timeout | undefined;
  socket.on('data', (d) => {
    responses += (d.toString('latin1').match(/HTTP\/1\.1 \d{3}/g) ?? []).length;
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    clearInterval(timer);
    // Back off a little so a refused connection does not spin a core.
    setTimeout(attack, 20);
  });
  socket.on('connect', () => {
    if (mode === 'pipelined') {
      socket.write('GET /metrics HTTP/1.1\r\nHost: weftd\r\n\r\n'.repeat(200));
    } else if (mode === 'slow-headers') {
      socket.write('GET /metrics HTTP/1.1\r\n');
      timer = setInterval(() => socket.write('X-a: b\r\n'), 300);
    }
  });
  setTimeout(() => socket.destroy(), Math.max(0, until - Date.now()));
}

for (let i = 0; i < Number(countText); i++) attack();
setTimeout(
  () => {
    process.stdout.write(`${JSON.stringify({ mode, opened, responses })}\n`);
    process.exit(0);
  },
  Math.max(0, until - Date.now()) + 200,
);
