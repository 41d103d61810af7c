// iperf3 between network namespaces: a server left running in the
// destination namespace, and timed client runs whose JSON report is boiled
// down to what the benchmark compares.
import { eventually } from '../../testbed/eventually.ts';
import { type Launched, launch } from '../../testbed/process.ts';
import { must } from '../../testbed/shell.ts';

export type IperfRun = { gbps: number; retransmits: number; senderCpu: number; receiverCpu: number };

export function startIperfServer(netns: string, bind: string, port: number): Launched {
  return launch(['ip', 'netns', 'exec', netns, 'iperf3', '-s', '-B', bind, '-p', String(port)]);
}

/** Waits until the server accepts connections (iperf3 -s takes a moment to listen). */
export async function waitIperfServer(fromNetns: string, address: string, port: number): Promise<void> {
  await eventually(
    `iperf3 server ${address}:${port} to answer ${fromNetns}`,
    () => must('ip', ['netns', 'exec', fromNetns, 'iperf3', '-c', address, '-p', String(port), '--connect-timeout', '2000', '-n', '64K', '-J']),
    15_000,
    200,
  );
}

/** One TCP run of `seconds` (the first `omit` seconds of slow start left out). */
export async function iperfClient(fromNetns: string, address: string, port: number, seconds: number, omit = 1, streams = 1): Promise<IperfRun> {
  const out = await must('ip', [
    'netns',
    'exec',
    fromNetns,
    'iperf3',
    '-c',
    address,
    '-p',
    String(port),
    '-t',
    String(seconds),
    '-O',
    String(omit),
    '-P',
    String(streams),
    '-J',
  ]);
  const r = JSON.parse(out) as {
    error?: string;
    end: {
      sum_received: { bits_per_second: number };
      sum_sent: { retransmits?: number };
      cpu_utilization_percent: { host_total: number; remote_total: number };
    };
  };
  if (r.error) throw new Error(`iperf3 ${fromNetns} → ${address}: ${r.error}`);
  return {
    gbps: r.end.sum_received.bits_per_second / 1e9,
    retransmits: r.end.sum_sent.retransmits ?? 0,
    senderCpu: r.end.cpu_utilization_percent.host_total,
    receiverCpu: r.end.cpu_utilization_percent.remote_total,
  };
}
