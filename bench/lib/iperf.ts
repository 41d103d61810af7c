// iperf3 between network namespaces: a server left running in the
// destination namespace (killed with this process), and timed client runs
// whose JSON report is boiled down to what the benchmark compares.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { SYSTEM_PATH } from '../../test/support/host.ts';

const SYSTEM_ENV = { PATH: SYSTEM_PATH };

export type IperfRun = { gbps: number; retransmits: number; senderCpu: number; receiverCpu: number };

export function startIperfServer(netns: string, bind: string, port: number): ChildProcess {
  return spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'ip', 'netns', 'exec', netns, 'iperf3', '-s', '-B', bind, '-p', String(port)], {
    stdio: 'ignore',
    env: SYSTEM_ENV,
  });
}

/** Waits until the server accepts connections (iperf3 -s takes a moment to listen). */
export async function waitIperfServer(fromNetns: string, address: string, port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      execFileSync('ip', ['netns', 'exec', fromNetns, 'iperf3', '-c', address, '-p', String(port), '-n', '64K', '-J'], { env: SYSTEM_ENV, stdio: 'pipe', timeout: 5_000 });
      return;
    } catch (err) {
      last = String((err as { stdout?: Buffer }).stdout ?? (err as Error).message).slice(0, 300);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`iperf3 server ${address}:${port} not reachable from ${fromNetns}: ${last}`);
}

/** One TCP run of `seconds` (the first `omit` seconds of slow start left out). */
export function iperfClient(fromNetns: string, address: string, port: number, seconds: number, omit = 1, streams = 1): IperfRun {
  const out = execFileSync('ip', ['netns', 'exec', fromNetns, 'iperf3', '-c', address, '-p', String(port), '-t', String(seconds), '-O', String(omit), '-P', String(streams), '-J'], {
    env: SYSTEM_ENV,
    encoding: 'utf8',
    timeout: (seconds + omit + 30) * 1000,
  });
  const r = JSON.parse(out) as {
    error?: string;
    end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number }; cpu_utilization_percent: { host_total: number; remote_total: number } };
  };
  if (r.error) throw new Error(`iperf3 ${fromNetns} → ${address}: ${r.error}`);
  return {
    gbps: r.end.sum_received.bits_per_second / 1e9,
    retransmits: r.end.sum_sent.retransmits ?? 0,
    senderCpu: r.end.cpu_utilization_percent.host_total,
    receiverCpu: r.end.cpu_utilization_percent.remote_total,
  };
}
