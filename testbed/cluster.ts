// A multi-node weft cluster on one machine: a real control plane, N node
// network namespaces on an underlay bridge, one weftd per node running inside
// its node namespace, and pods wired by the weft plugin through cnitool run in
// the node's namespace. The API server stays on 127.0.0.1: each node reaches
// it through socat over a Unix socket (sockets on the file system cross
// network namespaces; packets never leave loopback), and weftd's health
// server is reached from here the same way, the other way round.
// The pods' families and the underlay's are options (IPv4 unless asked): the
// same nodes, weftd and pods, with an address, a cluster CIDR and a pod CIDR
// per family.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { WEFTD_DEFAULTS } from '../src/daemon/config.ts';
import { type Family, parseAddress } from '../src/net/address.ts';
import { type ControlPlane, startControlPlane } from './apiserver.ts';
import { type CniVerb, cnitool, type Run } from './cnitool.ts';
import { eventually } from './eventually.ts';
import { uniqueSuffix } from './fixtures.ts';
import { startJanitor } from './janitor.ts';
import { addNetns, ipJson, removeLink, removeNetns } from './netns.ts';
import { DIST } from './paths.ts';
import { type Launched, launch } from './process.ts';
import { must, sh } from './shell.ts';
import { Teardown } from './teardown.ts';

export const CLUSTER_CIDR = '10.244.0.0/16';
export const CLUSTER_CIDR6 = 'fd00:10:244::/56';
export const UNDERLAY_PREFIX = '10.229.0.';
export const UNDERLAY_PREFIX6 = 'fd00:229::';
/** The prefix length of each family's underlay subnet. */
export const UNDERLAY_PREFIX_LENGTH: Record<Family, number> = { 4: 24, 6: 64 };

export type Stack = 'ipv4' | 'dual' | 'ipv6';
export const STACK_FAMILIES: Record<Stack, Family[]> = { ipv4: [4], dual: [4, 6], ipv6: [6] };

export type ClusterShape = {
  /** The pods' families: the cluster CIDRs, every Node's spec.podCIDRs and so each pod's addresses. */
  stack?: Stack;
  /** The underlay's families, the pods' unless given: an IPv4 underlay under dual-stack pods carries IPv6 inside IPv4 VXLAN. */
  underlay?: Stack;
};

const CLUSTER_CIDRS: Record<Family, string> = { 4: CLUSTER_CIDR, 6: CLUSTER_CIDR6 };

/** Node i's pod CIDR of a family, inside that family's cluster CIDR. */
export function nodePodCidr(family: Family, i: number): string {
  return family === 4 ? `10.244.${i}.0/24` : `fd00:10:244:${i.toString(16)}::/64`;
}

/** Node i's underlay address of a family; the IPv6 one reads like the IPv4 one (10.229.0.11, fd00:229::11). */
export function nodeUnderlayIp(family: Family, i: number): string {
  return `${family === 4 ? UNDERLAY_PREFIX : UNDERLAY_PREFIX6}${10 + i}`;
}

const HEALTH_ADDR = '127.0.0.1:9402';
const METRICS_ADDR = '127.0.0.1:9403';

/**
 * The tests run weftd with a 2 s resync and a 10 s watchdog, so a repair
 * shows within seconds; this environment gives it the shipped timers instead,
 * for a benchmark that measures what ships.
 */
export const SHIPPED_TIMERS = {
  WEFTD_RESYNC: String(WEFTD_DEFAULTS.resyncSeconds),
  WEFTD_WATCHDOG: String(WEFTD_DEFAULTS.watchdogSeconds),
};

export type ClusterNode = {
  name: string;
  netns: string;
  /** The address of the underlay's first family (IPv4 unless the underlay is IPv6 only). */
  underlayIp: string;
  /** The underlay address of each family the underlay has. */
  underlay: Partial<Record<Family, string>>;
  /** spec.podCIDR: the pod CIDR of the pods' first family. */
  podCidr: string;
  /** spec.podCIDRs, one per family of the pods. */
  podCidrs: string[];
  dir: string;
  subnetFile: string;
  weftd?: Launched;
  weftdLog: string;
  /** A Unix socket here that reaches weftd's health server in the node. */
  healthSocket: string;
  /** The same for its metrics server. */
  metricsSocket: string;
};

/** `ip` is the pod's first address (IPv4 unless the pods are IPv6 only); `ips` has one per family. */
export type Pod = { name: string; node: ClusterNode; netns: string; ip: string; ips: Partial<Record<Family, string>> };

// Unref'd: a test's process may end while they run; the kernel then kills them.
const background = (argv: string[], log: string, more: { env?: Record<string, string>; name?: string } = {}) => launch(argv, { log, unref: true, ...more });

export class Cluster {
  readonly id = uniqueSuffix();
  readonly dir = mkdtempSync(join(tmpdir(), 'weft-cluster-'));
  readonly nodes: ClusterNode[] = [];
  readonly pods: Pod[] = [];
  cp!: ControlPlane;
  kc!: KubeConfig;
  core!: CoreV1Api;
  private readonly teardown = new Teardown();
  private apiPort = 0;
  readonly bridge = `wu${this.id.slice(0, 6)}`;
  /** The pods' families, in the order of each Node's spec.podCIDRs. */
  readonly podFamilies: Family[];
  readonly underlayFamilies: Family[];

  private constructor(shape: ClusterShape) {
    this.podFamilies = STACK_FAMILIES[shape.stack ?? 'ipv4'];
    this.underlayFamilies = STACK_FAMILIES[shape.underlay ?? shape.stack ?? 'ipv4'];
  }

  /**
   * With `owner`, the caller's teardown stack removes the cluster along with
   * the rest of what it made; `shape` picks the families (IPv4 only unless given).
   */
  static async start(nodeCount: number, owner?: Teardown, shape: ClusterShape = {}): Promise<Cluster> {
    const c = new Cluster(shape);
    // If the test's thread is ended before its teardown runs (an ava
    // timeout), this still removes the nodes and pods, their processes and
    // the bridge.
    const janitor = startJanitor(
      'for ns in $(ip netns list | awk \'{print $1}\' | grep -E "^w[np]-$0-"); do ip netns pids "$ns" | xargs -r kill -9; ip netns del "$ns"; done; ip link del "$1" 2>/dev/null; rm -rf "$2"',
      [c.id, c.bridge, c.dir],
    );
    c.teardown.add('janitor', () => janitor.release());
    try {
      await c.startControlPlane();
      await c.makeUnderlay();
      for (let i = 1; i <= nodeCount; i++) await c.addNode(i);
    } catch (err) {
      await c.destroy();
      throw err;
    }
    owner?.add(`cluster ${c.id}`, async () => {
      const failed = await c.destroy();
      if (failed.length > 0) throw new Error(failed.join('; '));
    });
    return c;
  }

  private async startControlPlane(): Promise<void> {
    this.cp = await startControlPlane();
    this.teardown.add('control plane', () => this.cp.stop());
    this.kc = this.cp.adminConfig();
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.apiPort = Number(new URL(this.cp.server).port);
    const forwarder = background(
      ['socat', `UNIX-LISTEN:${join(this.dir, 'api.sock')},fork`, `TCP:127.0.0.1:${this.apiPort}`],
      join(this.dir, 'socat-host.log'),
    );
    this.teardown.add('API forwarder', () => forwarder.stop());
  }

  private async makeUnderlay(): Promise<void> {
    await must('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    this.teardown.add(`bridge ${this.bridge}`, () => removeLink(this.bridge));
    await must('ip', ['link', 'set', this.bridge, 'up']);
  }

  private async addNode(i: number): Promise<void> {
    const name = `node${i}`;
    const netns = `wn-${this.id}-${i}`;
    await addNetns(netns);
    this.teardown.add(`netns ${netns}`, () => removeNetns(netns));
    const hostEnd = `${this.bridge}n${i}`;
    await must('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await must('ip', ['link', 'set', hostEnd, 'master', this.bridge, 'up']);
    const underlay: Partial<Record<Family, string>> = {};
    for (const family of this.underlayFamilies) {
      underlay[family] = nodeUnderlayIp(family, i);
      await this.addUnderlayAddress(netns, family, underlay[family]);
    }
    await must('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    const dir = join(this.dir, name);
    mkdirSync(join(dir, 'conf'), { recursive: true });
    const podCidrs = this.podFamilies.map((family) => nodePodCidr(family, i));
    const node: ClusterNode = {
      name,
      netns,
      underlayIp: underlay[this.underlayFamilies[0]!]!,
      underlay,
      podCidr: podCidrs[0]!,
      podCidrs,
      dir,
      subnetFile: join(dir, 'subnet.json'),
      weftdLog: join(dir, 'weftd.log'),
      healthSocket: join(dir, 'health.sock'),
      metricsSocket: join(dir, 'metrics.sock'),
    };
    writeFileSync(
      join(dir, 'conf', '10-weft.conflist'),
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'weft',
        plugins: [{ type: 'weft', subnetFile: node.subnetFile, ipam: { dataDir: join(dir, 'ipam') } }],
      }),
    );
    const toApi = background(
      ['ip', 'netns', 'exec', netns, 'socat', `TCP-LISTEN:${this.apiPort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${join(this.dir, 'api.sock')}`],
      join(dir, 'socat.log'),
    );
    this.teardown.add(`API forwarder in ${name}`, () => toApi.stop());
    const toHealth = background(
      ['ip', 'netns', 'exec', netns, 'socat', `UNIX-LISTEN:${node.healthSocket},fork,unlink-early`, `TCP:${HEALTH_ADDR}`],
      join(dir, 'socat-health.log'),
    );
    this.teardown.add(`health forwarder of ${name}`, () => toHealth.stop());
    const toMetrics = background(
      ['ip', 'netns', 'exec', netns, 'socat', `UNIX-LISTEN:${node.metricsSocket},fork,unlink-early`, `TCP:${METRICS_ADDR}`],
      join(dir, 'socat-metrics.log'),
    );
    this.teardown.add(`metrics forwarder of ${name}`, () => toMetrics.stop());
    this.teardown.add(`weftd on ${name}`, () => node.weftd?.stop('SIGKILL'));
    await this.core.createNode({ body: { metadata: { name }, spec: { podCIDR: node.podCidr, podCIDRs: podCidrs } } });
    this.nodes.push(node);
  }

  // DAD off: the underlay is ours alone, and weftd must find the address
  // usable at once rather than tentative for a second or two.
  private async addUnderlayAddress(netns: string, family: Family, ip: string): Promise<void> {
    await must('ip', ['-n', netns, 'addr', 'add', `${ip}/${UNDERLAY_PREFIX_LENGTH[family]}`, 'dev', 'eth0', ...(family === 6 ? ['nodad'] : [])]);
  }

  /**
   * Moves the node's underlay address of a family to `ip`, as a node given a
   * new address would; its weftd sees it when it (re)starts.
   */
  async moveUnderlay(node: ClusterNode, family: Family, ip: string): Promise<void> {
    const old = node.underlay[family];
    if (old === undefined) throw new Error(`${node.name} has no IPv${family} underlay address to move: start the cluster with an IPv${family} underlay`);
    await must('ip', ['-n', node.netns, 'addr', 'del', `${old}/${UNDERLAY_PREFIX_LENGTH[family]}`, 'dev', 'eth0']);
    await this.addUnderlayAddress(node.netns, family, ip);
    node.underlay[family] = ip;
    if (this.underlayFamilies[0] === family) node.underlayIp = ip;
  }

  /** Starts weftd in the node; settings in `env` (WEFTD_*) replace the matching flags. */
  async startWeftd(node: ClusterNode, extra: string[] = [], env: Record<string, string> = {}): Promise<void> {
    const flags: Record<string, string> = {
      'node-name': node.name,
      kubeconfig: this.cp.kubeconfig,
      'cluster-cidr': this.podFamilies.map((family) => CLUSTER_CIDRS[family]).join(','),
      iface: 'eth0',
      'subnet-file': node.subnetFile,
      'health-addr': HEALTH_ADDR,
      'metrics-addr': METRICS_ADDR,
      resync: '2',
      watchdog: '10',
    };
    const fromEnv = (flag: string) => `WEFTD_${flag.toUpperCase().replace(/-/g, '_')}` in env;
    const args = Object.entries(flags)
      .filter(([flag]) => !fromEnv(flag))
      .flatMap(([flag, v]) => [`--${flag}`, v]);
    // `ip netns exec` and setpriv exec in place: the pid is weftd's own.
    node.weftd = background(['ip', 'netns', 'exec', node.netns, join(DIST, 'weftd'), 'run', ...args, ...extra], node.weftdLog, {
      env,
      name: `weftd on ${node.name}`,
    });
  }

  async stopWeftd(node: ClusterNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await node.weftd?.stop(signal);
    node.weftd = undefined;
  }

  /** Runs a command inside the node's network namespace. */
  async inNode(node: ClusterNode, cmd: string, args: string[]) {
    return sh('ip', ['netns', 'exec', node.netns, cmd, ...args]);
  }

  /**
   * weft's overlay entries in the node's kernel, both families, each as one
   * sorted line: `route DST via GW dev DEV` (proto 119), `neigh DEV IP MAC`
   * (permanent) and `fdb DEV MAC DST` on every weft device (weft.N, weft6.N).
   */
  async overlayEntries(node: ClusterNode): Promise<string[]> {
    const isWeft = (dev: string | undefined) => dev !== undefined && /^weft6?\.\d+$/.test(dev);
    const routes = (family: Family) => ipJson<{ dst: string; gateway?: string; dev?: string }>([`-${family}`, 'route', 'show', 'proto', '119'], node.netns);
    const [routes4, routes6, neigh] = await Promise.all([
      routes(4),
      routes(6),
      ipJson<{ dst: string; dev: string; lladdr?: string }>(['neigh', 'show', 'nud', 'permanent'], node.netns),
    ]);
    const fdb = JSON.parse((await must('bridge', ['-n', node.netns, '-j', 'fdb', 'show'])) || '[]') as { mac: string; ifname?: string; dst?: string }[];
    return [
      ...[...routes4, ...routes6].map((r) => `route ${r.dst} via ${r.gateway} dev ${r.dev}`),
      ...neigh.filter((e) => isWeft(e.dev)).map((e) => `neigh ${e.dev} ${e.dst} ${e.lladdr}`),
      ...fdb.filter((f) => isWeft(f.ifname) && f.dst !== undefined && f.mac !== '00:00:00:00:00:00').map((f) => `fdb ${f.ifname} ${f.mac} ${f.dst}`),
    ].sort();
  }

  /** Waits until the node's kernel holds exactly `want` (overlayEntries' lines); fails naming the difference. */
  async waitForOverlayEntries(node: ClusterNode, want: string[], what: string, timeoutMs?: number): Promise<void> {
    const sorted = [...want].sort();
    let last: string[] = [];
    try {
      await eventually(
        what,
        async () => {
          last = await this.overlayEntries(node);
          return last.length === sorted.length && last.every((e, i) => e === sorted[i]);
        },
        timeoutMs,
      );
    } catch (err) {
      const missing = sorted.filter((e) => !last.includes(e));
      const extra = last.filter((e) => !sorted.includes(e));
      throw new Error(`${(err as Error).message} on ${node.name}; missing ${JSON.stringify(missing.slice(0, 6))}, extra ${JSON.stringify(extra.slice(0, 6))}`, {
        cause: err,
      });
    }
  }

  async weftdStatus(
    node: ClusterNode,
  ): Promise<{ readiness: string; peers: { podCidr: string; via: string; dev?: string; vtepMac?: string; vtepIp?: string }[] }> {
    const r = await this.inNode(node, join(DIST, 'weftd'), ['status', '--json', '--subnet-file', node.subnetFile, '--health-addr', HEALTH_ADDR]);
    if (r.exitCode !== 0) throw new Error(`weftd status on ${node.name}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** GET on weftd's health server in the node (its metrics server for /metrics); status 0 when nothing answers. */
  weftdHttp(node: ClusterNode, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
    return new Promise((resolve) => {
      // agent false: one connection per request, so no socat stays behind for a kept-alive one.
      const socketPath = path === '/metrics' ? node.metricsSocket : node.healthSocket;
      const req = request({ socketPath, path, timeout: timeoutMs, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ status: 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve({ status: 0, body: '' }));
      req.end();
    });
  }

  async addPod(node: ClusterNode): Promise<Pod> {
    const name = `wp-${this.id}-${node.name}-${this.pods.filter((p) => p.node === node).length}`;
    const netns = await addNetns(name);
    this.teardown.add(`pod ${name}`, async () => {
      await this.cnitool(node, 'del', netns);
      await removeNetns(name);
    });
    const r = await this.cnitool(node, 'add', netns);
    if (r.exitCode !== 0) throw new Error(`cnitool add on ${node.name}: ${r.stderr}${r.stdout}`);
    const addresses = (r.json as { ips: { address: string }[] }).ips.map((a) => a.address.split('/')[0]!);
    const ips: Partial<Record<Family, string>> = {};
    for (const ip of addresses) ips[parseAddress(ip)!.family] ??= ip;
    const pod = { name, node, netns, ip: addresses[0]!, ips };
    this.pods.push(pod);
    return pod;
  }

  cnitool(node: ClusterNode, verb: CniVerb, netnsPath: string): Promise<Run> {
    return cnitool({ verb, network: 'weft', confDir: join(node.dir, 'conf'), pluginDirs: [DIST], netnsPath, inNetns: node.netns });
  }

  async ping(from: Pod, to: string, count = 1, intervalS = 0.2): Promise<{ ok: boolean; received: number }> {
    const r = await sh('ip', ['netns', 'exec', from.name, 'ping', '-c', String(count), '-i', String(intervalS), '-W', '1', to]);
    const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
    return { ok: r.exitCode === 0, received };
  }

  /** Removes everything, newest first; returns what could not be removed. Safe to call twice. */
  async destroy(): Promise<string[]> {
    const failed = await this.teardown.run();
    rmSync(this.dir, { recursive: true, force: true });
    return failed;
  }
}
