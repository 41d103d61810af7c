// weftd: the per-node daemon (run), its view of the node (status), and the
// DaemonSet's init step (install-cni). Every flag has an environment twin
// (WEFTD_<FLAG>), so several weftd can run on one machine, each in its own
// network namespace, and a DaemonSet can set them.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { configsBefore, DEFAULT_CONF_NAME, shadowedMessage } from '../src/daemon/cni-conf-order.ts';
import { resolveDaemonConfig, WEFTD_DEFAULTS } from '../src/daemon/config.ts';
import { readNetConf } from '../src/daemon/net-conf.ts';
import { log, runDaemon } from '../src/daemon/run-loop.ts';
import { messageOf } from '../src/text/error-message.ts';
import { installCni } from './weftd/install-cni.ts';
import { nodeStatus, renderStatus } from './weftd/status.ts';

void yargs(hideBin(process.argv))
  .scriptName('weftd')
  .env('WEFTD')
  .strict()
  .command(
    'run',
    'run the overlay daemon for this node',
    (y) =>
      y
        .option('node-name', { type: 'string', default: process.env.NODE_NAME, defaultDescription: '$NODE_NAME', describe: "this node's Node object" })
        .option('kubeconfig', { type: 'string', describe: 'kubeconfig file (default: $KUBECONFIG, else the in-cluster service account)' })
        .option('net-conf', {
          type: 'string',
          describe: 'net-conf.json with cluster-wide defaults (network, vni, port, mtu, directRouting, ipMasq); flags win',
        })
        .option('cluster-cidr', {
          type: 'array',
          string: true,
          describe: 'the cluster\'s pod networks, IPv4 and/or IPv6, e.g. 10.244.0.0/16,fd00:10:244::/56 (repeatable or comma-separated; net-conf "network")',
        })
        .option('vni', {
          type: 'number',
          describe: `VXLAN network identifier; the devices are weft.<vni> (IPv4 underlay) and weft6.<vni> (IPv6 underlay) (default ${WEFTD_DEFAULTS.vni})`,
        })
        .option('port', { type: 'number', describe: `VXLAN UDP port (default ${WEFTD_DEFAULTS.port})` })
        .option('iface', {
          type: 'array',
          string: true,
          describe: 'underlay interface name or address (repeatable; per family, the first match with an address of it wins)',
        })
        .option('iface-regex', { type: 'array', string: true, describe: 'underlay interface name or address regex (repeatable)' })
        .option('iface-can-reach', {
          type: 'array',
          string: true,
          describe: 'use the interface and source address that route to this address, IPv4 or IPv6 (repeatable or comma-separated, at most one per family)',
        })
        .option('mtu', { type: 'number', describe: 'VXLAN device and pod MTU (default: per device, underlay MTU - 50 over IPv4, - 70 over IPv6)' })
        .option('subnet-file', { type: 'string', describe: `where the CNI plugin reads this node's subnet (default ${WEFTD_DEFAULTS.subnetFile})` })
        .option('ip-masq', { type: 'boolean', describe: 'masquerade pod traffic leaving the cluster network (default false)' })
        .option('bridge', {
          type: 'string',
          describe: `the plugin's node bridge, which the forward rules accept this node's pods from (default ${WEFTD_DEFAULTS.bridge})`,
        })
        .option('direct-routing', { type: 'boolean', describe: "route to peers on the underlay's subnet without VXLAN (default false)" })
        .option('health-addr', { type: 'string', describe: `HOST:PORT for /healthz, /readyz and /skipped (default ${WEFTD_DEFAULTS.healthAddr})` })
        .option('metrics-addr', { type: 'string', describe: 'HOST:PORT for /metrics (default: no metrics server)' })
        .option('resync', { type: 'number', describe: `seconds between full resyncs of kernel state (default ${WEFTD_DEFAULTS.resyncSeconds})` })
        .option('watchdog', { type: 'number', describe: `seconds of silence after which the Node watch restarts (default ${WEFTD_DEFAULTS.watchdogSeconds})` })
        .option('coalesce', {
          type: 'number',
          describe: `seconds after a pass in which further Node events are gathered into the next one; an event that finds weftd idle is applied at once (default ${WEFTD_DEFAULTS.coalesceSeconds})`,
        })
        .option('cni-conf-dir', {
          type: 'string',
          describe: "the node's CNI conf dir as mounted here: warn (log, metric, Node event) when another config sorts before weft's (default: not looked at)",
        })
        .option('cni-conf-name', { type: 'string', describe: `weft's file in --cni-conf-dir (default ${DEFAULT_CONF_NAME})` }),
    async (argv) => {
      const cfg = resolveDaemonConfig(argv, argv.netConf ? readNetConf(argv.netConf) : {});
      const stop = new AbortController();
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort());
      await runDaemon(cfg, stop.signal);
    },
  )
  .command(
    'status',
    "print this node's overlay: device, subnet file, peers programmed, readiness, nodes skipped and why",
    (y) =>
      y
        .option('vni', { type: 'number', default: WEFTD_DEFAULTS.vni })
        .option('subnet-file', { type: 'string', default: WEFTD_DEFAULTS.subnetFile })
        .option('health-addr', { type: 'string', default: WEFTD_DEFAULTS.healthAddr })
        .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of a table' }),
    async (argv) => {
      const status = await nodeStatus(argv.vni, argv.subnetFile, argv.healthAddr);
      process.stdout.write(argv.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
    },
  )
  .command(
    'install-cni',
    'copy the weft plugin into the CNI bin dir and the conflist into the CNI conf dir, atomically',
    (y) =>
      y
        .option('conflist', { type: 'string', demandOption: true, describe: 'the network configuration list to install (JSON file)' })
        .option('cni-bin-dir', { type: 'string', default: '/opt/cni/bin' })
        .option('cni-conf-dir', { type: 'string', default: '/etc/cni/net.d' })
        .option('conf-name', { type: 'string', default: DEFAULT_CONF_NAME, describe: 'file name in the conf dir; runtimes use the first in sort order' })
        .option('plugin', { type: 'string', describe: 'the weft plugin executable (default: weft beside weftd)' }),
    // async, like the others: a refusal then reaches .fail() as one log line, not a stack trace.
    async (argv) => {
      let conflist: string;
      try {
        conflist = readFileSync(argv.conflist, 'utf8');
      } catch (err) {
        throw new Error(`cannot read --conflist ${argv.conflist}: ${messageOf(err)}`, { cause: err });
      }
      const done = installCni({
        binary: argv.plugin ?? join(dirname(process.execPath), 'weft'),
        binDir: argv.cniBinDir,
        confDir: argv.cniConfDir,
        confName: argv.confName,
        conflist,
      });
      log(`installed ${done.binary} and ${done.conflist}`);
      // On stderr, where the init container's log shows it; not fatal: a second
      // network's config may be there on purpose, for a while.
      const shadowed = shadowedMessage(argv.cniConfDir, argv.confName, configsBefore(argv.cniConfDir, argv.confName));
      if (shadowed) log(`warning: ${shadowed}`);
    },
  )
  .demandCommand(1, 'name a command: weftd run | status | install-cni')
  .fail((msg, err) => {
    // A usage mistake exits 2; a failure of the daemon itself exits 1.
    log(err ? err.message : `${msg}\n(weftd --help lists the commands and flags)`);
    process.exit(err ? 1 : 2);
  })
  .parseAsync();
