// weftd: the per-node daemon (run), its view of the node (status). Every flag
// has an environment twin (WEFTD_<FLAG>), so several weftd can run on one
// machine, each in its own network namespace, and a DaemonSet can set them.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { DaemonConfig } from '../src/daemon/config.ts';
import { log, runDaemon } from '../src/daemon/run.ts';
import { nodeStatus, renderStatus } from '../src/daemon/status.ts';

const DEFAULT_SUBNET_FILE = '/run/weft/subnet.json';
const DEFAULT_HEALTH_ADDR = '0.0.0.0:9402';

function durationMs(flag: string, seconds: number): number {
  if (!(seconds > 0)) throw new Error(`--${flag} must be a positive number of seconds, got ${seconds}`);
  return Math.round(seconds * 1000);
}

void yargs(hideBin(process.argv))
  .scriptName('weftd')
  .env('WEFTD')
  .strict()
  .command(
    'run',
    'run the overlay daemon for this node',
    (y) => y
      .option('node-name', { type: 'string', default: process.env.NODE_NAME, defaultDescription: '$NODE_NAME', describe: 'this node\'s Node object' })
      .option('kubeconfig', { type: 'string', describe: 'kubeconfig file (default: $KUBECONFIG, else in-cluster service account)' })
      .option('cluster-cidr', { type: 'array', string: true, default: [] as string[], describe: 'the cluster\'s pod network (repeatable)' })
      .option('vni', { type: 'number', default: 1, describe: 'VXLAN network identifier; the device is weft.<vni>' })
      .option('port', { type: 'number', default: 4789, describe: 'VXLAN UDP port' })
      .option('iface', { type: 'array', string: true, default: [] as string[], describe: 'underlay interface name or address (repeatable, first match wins)' })
      .option('iface-regex', { type: 'array', string: true, default: [] as string[], describe: 'underlay interface name or address regex (repeatable)' })
      .option('iface-can-reach', { type: 'string', describe: 'use the interface that routes to this address' })
      .option('mtu', { type: 'number', describe: 'pod MTU (default: underlay MTU - 50)' })
      .option('subnet-file', { type: 'string', default: DEFAULT_SUBNET_FILE, describe: 'where the CNI plugin reads this node\'s subnet' })
      .option('ip-masq', { type: 'boolean', default: false, describe: 'masquerade pod traffic leaving the cluster network' })
      .option('health-addr', { type: 'string', default: DEFAULT_HEALTH_ADDR, describe: 'HOST:PORT for /healthz, /readyz, /metrics' })
      .option('resync', { type: 'number', default: 30, describe: 'seconds between full resyncs of kernel state' })
      .option('watchdog', { type: 'number', default: 60, describe: 'seconds of silence after which the Node watch is restarted' })
      .option('coalesce', { type: 'number', default: 0.01, describe: 'seconds to gather Node events into one reconcile' }),
    async (argv) => {
      if (!argv.nodeName) throw new Error('--node-name is required (or NODE_NAME): the name of this node\'s Node object');
      if (!Number.isInteger(argv.vni) || argv.vni < 1 || argv.vni > 16777215) throw new Error(`--vni ${argv.vni} is not a VNI: use 1 to 16777215`);
      if (!Number.isInteger(argv.port) || argv.port < 1 || argv.port > 65535) throw new Error(`--port ${argv.port} is not a UDP port: use 1 to 65535`);
      if (argv.mtu !== undefined && (!Number.isInteger(argv.mtu) || argv.mtu < 576 || argv.mtu > 65485)) throw new Error(`--mtu ${argv.mtu} is out of range: use 576 to 65485`);
      const cfg: DaemonConfig = {
        nodeName: argv.nodeName,
        kubeconfig: argv.kubeconfig,
        clusterCidrs: argv.clusterCidr,
        vni: argv.vni,
        port: argv.port,
        underlay: { iface: argv.iface, ifaceRegex: argv.ifaceRegex, ifaceCanReach: argv.ifaceCanReach },
        mtu: argv.mtu,
        subnetFile: argv.subnetFile,
        ipMasq: argv.ipMasq,
        healthAddr: argv.healthAddr,
        resyncMs: durationMs('resync', argv.resync),
        watchdogMs: durationMs('watchdog', argv.watchdog),
        coalesceMs: durationMs('coalesce', argv.coalesce),
      };
      const stop = new AbortController();
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort());
      await runDaemon(cfg, stop.signal);
    },
  )
  .command(
    'status',
    'print this node\'s overlay: device, subnet file, peers programmed, readiness',
    (y) => y
      .option('vni', { type: 'number', default: 1 })
      .option('subnet-file', { type: 'string', default: DEFAULT_SUBNET_FILE })
      .option('health-addr', { type: 'string', default: DEFAULT_HEALTH_ADDR })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of a table' }),
    async (argv) => {
      const status = await nodeStatus(argv.vni, argv.subnetFile, argv.healthAddr);
      process.stdout.write(argv.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
    },
  )
  .demandCommand(1, 'name a command: weftd run | weftd status')
  .fail((msg, err) => {
    // A usage mistake exits 2; a failure of the daemon itself exits 1.
    log(err ? err.message : `${msg}\n(weftd --help lists the commands and flags)`);
    process.exit(err ? 1 : 2);
  })
  .parseAsync();
