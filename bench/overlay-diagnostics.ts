// Where a reconcile pass and a start-up spend their time, measured from the
// outside at each size: the iproute2 processes one weftd pass runs (the same
// commands, in the same node namespace, timed as spawn-to-exit), a few
// cheaper alternatives for comparison, and the API server's own cost of the
// paginated Node list weftd reads at start-up (raw HTTPS + JSON.parse, no
// client library).
import { spawnSync } from 'node:child_process';
import { childEnv, failureOf, runTimed } from './lib/run.ts';
import { percentile, round2 } from './lib/stats.ts';
import type { KubeApi } from './lib/kube-api.ts';

export type CommandCost = { what: string; ms: number; outputKb: number };
export type Diagnostics = { peers: number; commands: CommandCost[]; rawListMs: number; rawListMb: number; listPages: number };

const RUNS = 7;

function timeCommand(what: string, file: string, args: string[], input?: string): CommandCost {
  const samples: number[] = [];
  let outputKb = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = input === undefined
      ? runTimed(file, args, { env: childEnv({}), timeoutMs: 60_000 })
      : runTimedWithInput(file, args, input);
    const failure = failureOf(r);
    if (failure) throw new Error(`diagnostics: ${failure}`);
    samples.push(r.ms);
    outputKb = r.stdout.length / 1024;
  }
  return { what, ms: percentile(samples, 50), outputKb: round2(outputKb) };
}

// runTimed has no stdin; batches need one.
function runTimedWithInput(file: string, args: string[], input: string) {
  const start = process.hrtime.bigint();
  const r = spawnSync(file, args, { input, encoding: 'utf8', env: childEnv({}), maxBuffer: 512 << 20 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { command: [file, ...args].join(' '), status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error?.message ?? null, ms };
}

/** One pass's kernel I/O at this size; `existing` is one programmed neighbour (ip, mac) for a no-op replace. */
export function passCommandCosts(netns: string, device: string, routeProtocol: number, existing: { ip: string; mac: string; fdbMac: string; fdbDst: string }): CommandCost[] {
  const ip = (what: string, batch: string[], json = true) => timeCommand(what, 'nsenter', [`--net=/run/netns/${netns}`, '--', 'ip', ...(json ? ['-j', '-d'] : []), '-batch', '-'], `${batch.join('\n')}\n`);
  const bridge = (what: string, batch: string[], json = true) => timeCommand(what, 'nsenter', [`--net=/run/netns/${netns}`, '--', 'bridge', ...(json ? ['-j', '-d'] : []), '-batch', '-'], `${batch.join('\n')}\n`);
  return [
    ip('weftd: ip -j -d link show (ensureDevice)', [`link show dev ${device}`]),
    ip('weftd: ip -j -d neigh + route dump', [`neigh show dev ${device}`, `route show table main proto ${routeProtocol}`]),
    bridge('weftd: bridge -j -d fdb dump', [`fdb show dev ${device}`]),
    ip('weftd: ip -batch, 1 neigh replace (apply)', [`neigh replace ${existing.ip} lladdr ${existing.mac} dev ${device} nud permanent`], false),
    bridge('weftd: bridge -batch, 1 fdb replace (apply)', [`fdb replace ${existing.fdbMac} dev ${device} dst ${existing.fdbDst} self permanent`], false),
    ip('alt: ip -j neigh (nud permanent) + route dump, no -d', [`neigh show dev ${device} nud permanent`, `route show table main proto ${routeProtocol}`]),
    timeCommand('alt: ip neigh + route dump, text', 'nsenter', [`--net=/run/netns/${netns}`, '--', 'ip', '-batch', '-'], `neigh show dev ${device} nud permanent\nroute show table main proto ${routeProtocol}\n`),
    timeCommand('floor: spawn `true` in the netns', 'nsenter', [`--net=/run/netns/${netns}`, '--', 'true']),
  ];
}

/** The paginated list weftd does at start-up, raw (limit 500, as weftd's default page size). */
export async function rawListCost(api: KubeApi): Promise<{ ms: number; mb: number; pages: number }> {
  const samples: number[] = [];
  let bytes = 0;
  let pages = 0;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    let next: string | undefined;
    bytes = 0;
    pages = 0;
    do {
      const r = await api.must('GET', `/api/v1/nodes?limit=500${next ? `&continue=${encodeURIComponent(next)}` : ''}`);
      bytes += r.body.length;
      pages++;
      const page = JSON.parse(r.body) as { metadata: { continue?: string } };
      next = page.metadata.continue || undefined;
    } while (next);
    samples.push(performance.now() - start);
  }
  return { ms: percentile(samples, 50), mb: bytes / 2 ** 20, pages };
}
