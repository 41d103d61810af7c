// Watches a network namespace's kernel tables as they change: `ip -4 -ts
// monitor neigh route` and `bridge -timestamp monitor fdb`, run inside the
// namespace. Each entry comes with the time iproute2 received the kernel's
// notification (wall clock, microseconds), which is when the entry was there.
import { createInterface } from 'node:readline';
import { eventually } from '../../testbed/eventually.ts';
import { type Launched, launch } from '../../testbed/process.ts';
import { must, sh } from '../../testbed/shell.ts';

export type EntryKind = 'fdb' | 'neigh' | 'route';

export type KernelEvent = {
  kind: EntryKind;
  /** fdb: MAC; neigh: IP; route: destination CIDR. */
  key: string;
  /** fdb: remote IP (dst); neigh: MAC (lladdr); route: gateway (via). */
  value: string;
  deleted: boolean;
  /** Wall-clock ms (from iproute2's timestamp). */
  tsMs: number;
};

export type Monitor = {
  /** Resolves once both monitors have shown an event we caused, so none of the next is missed. */
  ready: Promise<void>;
  /** Lines iproute2 wrote on stderr (e.g. "No buffer space available": events were lost). */
  problems(): string[];
  stop(): Promise<void>;
};

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `[2026-11-24T05:29:43.304718] rest` (ip -ts, TZ=UTC) → ms and the rest. */
export function parseIpTs(line: string): { tsMs: number; rest: string } | undefined {
  const m = /^\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})\] ?(.*)$/.exec(line);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, us, rest] = m;
  return { tsMs: Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!) + Number(us) / 1000, rest: rest! };
}

/** `Timestamp: Tue Nov 24 05:29:43 2026 317210 usec` (bridge -timestamp, TZ=UTC) → ms. */
export function parseBridgeTs(line: string): number | undefined {
  const m = /^Timestamp: \w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4}) (\d+) usec/.exec(line);
  if (!m) return undefined;
  const [, mon, d, h, mi, s, y, us] = m;
  return Date.UTC(+y!, MONTHS.indexOf(mon!), +d!, +h!, +mi!, +s!) + Number(us) / 1000;
}

/** Routing protocols `ip monitor` prints by name (rt_protos); it leaves out "proto boot" altogether. */
const PROTOCOL_NAMES: Record<number, string> = { 3: 'boot' };

/** One `ip monitor` message about `device` (neighbour, or route of `routeProtocol`), else undefined. */
export function parseIpEvent(rest: string, device: string, routeProtocol: number): Omit<KernelEvent, 'tsMs'> | undefined {
  const deleted = rest.startsWith('Deleted ');
  const body = deleted ? rest.slice(8) : rest;
  if (!body.includes(` dev ${device} `)) return undefined;
  const neigh = /^(\d+\.\d+\.\d+\.\d+) dev \S+ lladdr ([0-9a-f:]{17}) .*PERMANENT/.exec(body);
  if (neigh) return { kind: 'neigh', key: neigh[1]!, value: neigh[2]!, deleted };
  const route = /^(\d+\.\d+\.\d+\.\d+(?:\/\d+)?) via (\S+) dev \S+(?: .*proto (\S+))?/.exec(body);
  const protocol = route?.[3] ?? PROTOCOL_NAMES[3];
  if (route && (protocol === String(routeProtocol) || protocol === PROTOCOL_NAMES[routeProtocol] || protocol === 'weft')) {
    const dst = route[1]!.includes('/') ? route[1]! : `${route[1]}/32`;
    return { kind: 'route', key: dst, value: route[2]!, deleted };
  }
  return undefined;
}

/** One `bridge monitor fdb` line about a remote entry on `device`, else undefined. */
export function parseFdbEvent(line: string, device: string): Omit<KernelEvent, 'tsMs'> | undefined {
  const deleted = line.startsWith('Deleted ');
  const body = deleted ? line.slice(8) : line;
  const m = /^([0-9a-f:]{17}) dev (\S+) dst (\S+)/.exec(body);
  if (!m || m[2] !== device) return undefined;
  return { kind: 'fdb', key: m[1]!, value: m[3]!, deleted };
}

function start(netns: string, args: string[], problems: string[]): Launched {
  // TZ=UTC: iproute2 prints local time; UTC needs no zone table to read back.
  const monitor = launch(args, { pipe: true, env: { TZ: 'UTC' } });
  createInterface({ input: monitor.child.stderr! }).on('line', (l) => problems.push(`${args.slice(0, 4).join(' ')} (${netns}): ${l}`));
  return monitor;
}

/**
 * Starts both monitors in `netns` (a name under /run/netns). Probe events
 * (a blackhole route and an FDB entry on `probeDev`, both removed again)
 * prove each monitor is listening before `ready` resolves.
 */
export function monitorNetns(netns: string, device: string, routeProtocol: number, probeDev: string, onEvent: (e: KernelEvent) => void): Monitor {
  const problems: string[] = [];
  const ip = start(netns, ['ip', '-n', netns, '-4', '-ts', '-rc', String(64 << 20), 'monitor', 'neigh', 'route'], problems);
  const bridge = start(netns, ['bridge', '-n', netns, '-timestamp', 'monitor', 'fdb'], problems);
  const probeRoute = '192.0.2.254/32';
  const probeMac = '02:00:5e:00:53:fe';
  let routeSeen = false;
  let fdbSeen = false;

  createInterface({ input: ip.child.stdout! }).on('line', (line) => {
    const parsed = parseIpTs(line);
    if (!parsed) return;
    if (parsed.rest.startsWith(`blackhole ${probeRoute.split('/')[0]}`)) routeSeen = true;
    const e = parseIpEvent(parsed.rest, device, routeProtocol);
    if (e) onEvent({ ...e, tsMs: parsed.tsMs });
  });
  let pendingTs: number | undefined;
  createInterface({ input: bridge.child.stdout! }).on('line', (line) => {
    const ts = parseBridgeTs(line);
    if (ts !== undefined) {
      pendingTs = ts;
      return;
    }
    if (line.includes(probeMac)) fdbSeen = true;
    const e = parseFdbEvent(line, device);
    if (e && pendingTs !== undefined) onEvent({ ...e, tsMs: pendingTs });
  });

  const ready = (async () => {
    await eventually(
      `the netlink monitors in ${netns} to show a probe event`,
      async () => {
        // Removed first: a replace that changes nothing is no event, so a
        // probe made before a monitor listened would never be seen.
        if (!routeSeen) {
          await sh('ip', ['-n', netns, 'route', 'del', 'blackhole', probeRoute]);
          await must('ip', ['-n', netns, 'route', 'add', 'blackhole', probeRoute]);
        }
        if (!fdbSeen) {
          await sh('bridge', ['-n', netns, 'fdb', 'del', probeMac, 'dev', probeDev, 'self']);
          await must('bridge', ['-n', netns, 'fdb', 'add', probeMac, 'dev', probeDev, 'self', 'permanent']);
        }
        return routeSeen && fdbSeen;
      },
      10_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; ${problems.join('; ')}`);
    });
    await must('ip', ['-n', netns, 'route', 'del', 'blackhole', probeRoute]);
    await must('bridge', ['-n', netns, 'fdb', 'del', probeMac, 'dev', probeDev, 'self']);
  })();

  return {
    ready,
    problems: () => [...problems],
    async stop() {
      await Promise.all([ip.stop(), bridge.stop()]);
    },
  };
}
