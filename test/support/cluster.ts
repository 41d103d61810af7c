// A multi-node weft cluster on one machine: a real control plane, N node
// network namespaces on an underlay bridge, one weftd per node running inside
// its node namespace, and pods wired by the weft plugin through cnitool run in
// the node's namespace. The API server stays on 127.0.0.1: each node reaches
// it through socat over a Unix socket (sockets on the file system cross
// network namespaces; packets never leave loopback).
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { type ControlPlane, startControlPlane } from './apiserver.ts';
import { must, sh, uniqueSuffix } from './host.ts';
import { startJanitor } from './janitor.ts';
import { launchLogged, stopProcess } from './process.ts';

const DIST = resolve('dist');
const CNITOOL = resolve('.cache/bin/cnitool');

export const CLUSTER_CIDR = '10.244.0.0/16';
export const UNDERLAY_PREFIX = '10.229.0.';

export type ClusterNode = {
  name: string;
  netns: string;
  underlayIp: string;
  podCidr: string;
  dir: string;
  subnetFile: string;
  weftd?: ChildProcess;
  weftdLog: string;
};

export type Pod = { name: string; node: ClusterNode; netns: string; ip: string };

type Cleanup = () => Promise<void> | void;

// Unref'd: a test's process may end while they run; the kernel then kills them.
const launch = (args: string[], log: string, env: Record<string, string> = {}) => launchLogged(args, log, { env, unref: true });

export class Cluster {
  readonly id = uniqueSuffix();
  readonly dir = mkdtempSync(join(tmpdir(), 'weft-cluster-'));
  readonly nodes: ClusterNode[] = [];
  readonly pods: Pod[] = [];
  cp!: ControlPlane;
  kc!: KubeConfig;
  core!: CoreV1Api;
  private readonly cleanups: Cleanup[] = [];
  private apiPort = 0;
  readonly bridge = `wu${this.id.slice(0, 6)}`;

  static async start(nodeCount: number): Promise<Cluster> {
    const c = new Cluster();
    // If the test's thread is ended before its teardown runs (an ava
    // timeout), this still removes the nodes, their processes and the bridge.
    const janitor = startJanitor(
      'cat >/dev/null; for ns in $(ip netns list | awk \'{print $1}\' | grep "^wn-$0-"); do ip netns pids "$ns" | xargs -r kill -9; ip netns del "$ns"; done; ip link del "$1" 2>/dev/null; rm -rf "$2"',
      [c.id, c.bridge, c.dir],
    );
    c.cleanups.push(() => janitor.release());
    try {
      await c.startControlPlane();
      await c.makeUnderlay();
      for (let i = 1; i <= nodeCount; i++) await c.addNode(i);
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  private async startControlPlane(): Promise<void> {
    this.cp = await startControlPlane();
    this.cleanups.push(() => this.cp.stop());
    this.kc = new KubeConfig();
    this.kc.loadFromFile(this.cp.kubeconfig);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.apiPort = Number(new URL(this.cp.server).port);
    const forwarder = launch(['socat', `UNIX-LISTEN:${join(this.dir, 'api.sock')},fork`, `TCP:127.0.0.1:${this.apiPort}`], join(this.dir, 'socat-host.log'));
    this.cleanups.push(() => stopProcess(forwarder));
  }

  private async makeUnderlay(): Promise<void> {
    await must('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    this.cleanups.push(async () => { await sh('ip', ['link', 'del', this.bridge]); });
    await must('ip', ['link', 'set', this.bridge, 'up']);
  }

  private async addNode(i: number): Promise<void> {
    const name = `node${i}`;
    const netns = `wn-${this.id}-${i}`;
    await must('ip', ['netns', 'add', netns]);
    this.cleanups.push(async () => { await sh('ip', ['netns', 'del', netns]); });
    const hostEnd = `${this.bridge}n${i}`;
    await must('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await must('ip', ['link', 'set', hostEnd, 'master', this.bridge, 'up']);
    const underlayIp = `${UNDERLAY_PREFIX}${10 + i}`;
    await must('ip', ['-n', netns, 'addr', 'add', `${underlayIp}/24`, 'dev', 'eth0']);
    await must('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    const dir = join(this.dir, name);
    mkdirSync(join(dir, 'conf'), { recursive: true });
    const node: ClusterNode = { name, netns, underlayIp, podCidr: `10.244.${i}.0/24`, dir, subnetFile: join(dir, 'subnet.json'), weftdLog: join(dir, 'weftd.log') };
    writeFileSync(join(dir, 'conf', '10-weft.conflist'), JSON.stringify({
      cniVersion: '1.1.0',
      name: 'weft',
      plugins: [{ type: 'weft', subnetFile: node.subnetFile, ipam: { dataDir: join(dir, 'ipam') } }],
    }));
    const forwarder = launch(['ip', 'netns', 'exec', netns, 'socat', `TCP-LISTEN:${this.apiPort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${join(this.dir, 'api.sock')}`], join(dir, 'socat.log'));
    this.cleanups.push(() => stopProcess(forwarder));
    this.cleanups.push(() => stopProcess(node.weftd, 'SIGKILL'));
    await this.core.createNode({ body: { metadata: { name }, spec: { podCIDR: node.podCidr, podCIDRs: [node.podCidr] } } });
    this.nodes.push(node);
  }

  /** Starts weftd in the node; settings in `env` (WEFTD_*) replace the matching flags. */
  async startWeftd(node: ClusterNode, extra: string[] = [], env: Record<string, string> = {}): Promise<void> {
    const flags: Record<string, string> = {
      'node-name': node.name, kubeconfig: this.cp.kubeconfig, 'cluster-cidr': CLUSTER_CIDR, iface: 'eth0',
      'subnet-file': node.subnetFile, 'health-addr': '127.0.0.1:9402', resync: '2', watchdog: '10',
    };
    const fromEnv = (flag: string) => `WEFTD_${flag.toUpperCase().replace(/-/g, '_')}` in env;
    const args = Object.entries(flags).filter(([flag]) => !fromEnv(flag)).flatMap(([flag, v]) => [`--${flag}`, v]);
    node.weftd = launch(['ip', 'netns', 'exec', node.netns, join(DIST, 'weftd'), 'run', ...args, ...extra], node.weftdLog, env);
  }

  async stopWeftd(node: ClusterNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopProcess(node.weftd, signal);
    node.weftd = undefined;
  }

  /** Runs a command inside the node's network namespace. */
  async inNode(node: ClusterNode, cmd: string, args: string[]) {
    return sh('ip', ['netns', 'exec', node.netns, cmd, ...args]);
  }

  async weftdStatus(node: ClusterNode): Promise<{ readiness: string; peers: { podCidr: string; via: string; vtepMac?: string; vtepIp?: string }[] }> {
    const r = await this.inNode(node, join(DIST, 'weftd'), ['status', '--json', '--subnet-file', node.subnetFile, '--health-addr', '127.0.0.1:9402']);
    if (r.exitCode !== 0) throw new Error(`weftd status on ${node.name}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** GET on weftd's health server inside the node (status line and body). */
  async weftdHttp(node: ClusterNode, path: string): Promise<{ status: number; body: string }> {
    const r = await sh('ip', ['netns', 'exec', node.netns, 'socat', '-t', '5', '-', 'TCP:127.0.0.1:9402'], `GET ${path} HTTP/1.0\r\n\r\n`);
    const [head = '', ...rest] = r.stdout.split('\r\n\r\n');
    return { status: Number(/^HTTP\/1\.\d (\d+)/.exec(head)?.[1] ?? 0), body: rest.join('\r\n\r\n') };
  }

  async addPod(node: ClusterNode): Promise<Pod> {
    const name = `wp-${this.id}-${node.name}-${this.pods.filter((p) => p.node === node).length}`;
    await must('ip', ['netns', 'add', name]);
    const netns = `/var/run/netns/${name}`;
    this.cleanups.push(async () => {
      await this.cnitool(node, 'del', netns);
      await sh('ip', ['netns', 'del', name]);
    });
    const r = await this.cnitool(node, 'add', netns);
    if (r.exitCode !== 0) throw new Error(`cnitool add on ${node.name}: ${r.stderr}${r.stdout}`);
    const ip = (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    const pod = { name, node, netns, ip };
    this.pods.push(pod);
    return pod;
  }

  cnitool(node: ClusterNode, verb: string, netns: string) {
    return sh('env', [`NETCONFPATH=${join(node.dir, 'conf')}`, `CNI_PATH=${DIST}`, 'ip', 'netns', 'exec', node.netns, CNITOOL, verb, 'weft', netns]);
  }

  async ping(from: Pod, to: string, count = 1, intervalS = 0.2): Promise<{ ok: boolean; received: number }> {
    const r = await sh('ip', ['netns', 'exec', from.name, 'ping', '-c', String(count), '-i', String(intervalS), '-W', '1', to]);
    const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
    return { ok: r.exitCode === 0, received };
  }

  async destroy(): Promise<void> {
    for (const cleanup of this.cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // Keep tearing down the rest.
      }
    }
    this.cleanups.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
