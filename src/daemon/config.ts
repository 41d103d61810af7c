// weftd's settings: flags first, then net-conf.json, then defaults; validated
// here once, so the run loop trusts them. A setting that reaches a kernel
// command leaves here parsed (a Cidr) or in canonical form, never as typed.

import { type Cidr, formatAddress, formatCidr, parseAddress, parseCidr } from '../net/address.ts';
import { SUBNET_FILE_PATH } from '../subnet/subnet-file.ts';
import { messageOf } from '../text/error-message.ts';
import { quote } from '../text/quote.ts';
import { checkConfName, DEFAULT_CONF_NAME } from './cni-conf-order.ts';
import { parseListenAddress } from './health.ts';
import type { NetConfFile } from './net-conf.ts';
import type { UnderlayOptions } from './underlay.ts';

export type DaemonConfig = {
  nodeName: string;
  kubeconfig: string | undefined;
  clusterCidrs: Cidr[];
  vni: number;
  port: number;
  underlay: UnderlayOptions;
  /** undefined: the underlay's MTU minus the 50 bytes of VXLAN over IPv4. */
  mtu: number | undefined;
  subnetFile: string;
  ipMasq: boolean;
  /** The plugin's node bridge (its conflist's "bridge"): the forward rules accept this node's pods by it. */
  bridge: string;
  /** Route peers on the underlay's own subnet directly, without VXLAN. */
  directRouting: boolean;
  healthAddr: string;
  /** undefined: no metrics server. */
  metricsAddr: string | undefined;
  resyncMs: number;
  watchdogMs: number;
  coalesceMs: number;
  /** The node's CNI conf dir as mounted in weftd; undefined: not looked at. */
  cniConfDir: string | undefined;
  /** weft's file in it, as install-cni wrote it. */
  cniConfName: string;
};

export const VXLAN_OVERHEAD = 50;

export const WEFTD_DEFAULTS = {
  vni: 1,
  port: 4789,
  ipMasq: false,
  bridge: 'weft0',
  directRouting: false,
  subnetFile: SUBNET_FILE_PATH,
  // Loopback: the kubelet probes a hostNetwork pod there, and no pod can.
  healthAddr: '127.0.0.1:9402',
  resyncSeconds: 30,
  // Above the ~120 s an idle API server takes to send a watch bookmark.
  watchdogSeconds: 150,
  coalesceSeconds: 0.01,
} as const;

/** What the command line said; undefined means "not given". */
export type RunFlags = {
  nodeName?: string;
  kubeconfig?: string;
  clusterCidr?: string[];
  vni?: number;
  port?: number;
  iface?: string[];
  ifaceRegex?: string[];
  ifaceCanReach?: string;
  mtu?: number;
  subnetFile?: string;
  ipMasq?: boolean;
  bridge?: string;
  directRouting?: boolean;
  healthAddr?: string;
  metricsAddr?: string;
  resync?: number;
  watchdog?: number;
  coalesce?: number;
  cniConfDir?: string;
  cniConfName?: string;
};

function seconds(flag: string, value: number): number {
  if (!(value > 0)) throw new Error(`--${flag} must be a positive number of seconds, got ${value}`);
  return Math.round(value * 1000);
}

/** The cluster's pod networks; `source` names where they came from, for the error. */
/** The shortest IPv4 cluster network weftd takes. */
export const MIN_CLUSTER_PREFIX = 8;

export function parseClusterCidrs(texts: string[], source = '--cluster-cidr'): Cidr[] {
  if (texts.length === 0)
    throw new Error('--cluster-cidr is required (or net-conf "network"): pass the cluster\'s pod network, e.g. --cluster-cidr 10.244.0.0/16');
  return texts.map((t) => {
    const c = parseCidr(t);
    if (c?.family !== 4) throw new Error(`${source} ${quote(t)} is not an IPv4 CIDR: write it like 10.244.0.0/16`);
    if (c.host !== c.network) throw new Error(`${source} ${quote(t)} has bits set after its prefix: did you mean ${formatCidr(c)}?`);
    // weftd accepts forwarding and skips masquerade for the cluster network:
    // a /0 or a /4 would open the node's forwarding to the whole internet.
    if (c.prefix < MIN_CLUSTER_PREFIX) {
      throw new Error(`${source} ${quote(t)} is far wider than a pod network: use a /${MIN_CLUSTER_PREFIX} or longer prefix, e.g. 10.244.0.0/16`);
    }
    return c;
  });
}

/** The address in canonical form; only an address may reach `ip route get`. */
function parseReachable(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const address = parseAddress(text);
  if (!address)
    throw new Error(`--iface-can-reach ${quote(text)} is not an IP address: give the address of a host the underlay reaches, e.g. --iface-can-reach 10.0.0.1`);
  return formatAddress(address);
}

function checkRegexes(patterns: string[]): string[] {
  for (const pattern of patterns) {
    try {
      new RegExp(pattern);
    } catch (err) {
      throw new Error(`--iface-regex ${quote(pattern)} is not a regular expression (${messageOf(err)}): write it like ^eth[0-9]+$`, { cause: err });
    }
  }
  return patterns;
}

/** A name the kernel takes for a link, and that no command reads as an option. */
function bridgeName(name: string): string {
  if (/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/.test(name)) return name;
  throw new Error(`--bridge ${quote(name)} is not an interface name: use the plugin's "bridge" (1 to 15 letters, digits, "_", "." or "-"), e.g. weft0`);
}

/** Checked now, so a typo stops weftd at start-up rather than at listen time. */
function listenAddress(addr: string, flag: string): string {
  parseListenAddress(addr, flag);
  return addr;
}

export function resolveDaemonConfig(flags: RunFlags, file: NetConfFile): DaemonConfig {
  if (!flags.nodeName) throw new Error("--node-name is required (or NODE_NAME): the name of this node's Node object");
  const vni = flags.vni ?? file.vni ?? WEFTD_DEFAULTS.vni;
  const port = flags.port ?? file.port ?? WEFTD_DEFAULTS.port;
  const mtu = flags.mtu ?? file.mtu;
  if (!Number.isInteger(vni) || vni < 1 || vni > 16777215) throw new Error(`VNI ${vni} (--vni or net-conf "vni") is out of range: use 1 to 16777215`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} (--port or net-conf "port") is not a UDP port: use 1 to 65535`);
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 576 || mtu > 65485))
    throw new Error(`MTU ${mtu} (--mtu or net-conf "mtu") is out of range: use 576 to 65485`);
  return {
    nodeName: flags.nodeName,
    kubeconfig: flags.kubeconfig,
    clusterCidrs: flags.clusterCidr?.length ? parseClusterCidrs(flags.clusterCidr) : parseClusterCidrs(file.network ?? [], 'net-conf "network"'),
    vni,
    port,
    underlay: { iface: flags.iface ?? [], ifaceRegex: checkRegexes(flags.ifaceRegex ?? []), ifaceCanReach: parseReachable(flags.ifaceCanReach) },
    mtu,
    subnetFile: flags.subnetFile ?? WEFTD_DEFAULTS.subnetFile,
    ipMasq: flags.ipMasq ?? file.ipMasq ?? WEFTD_DEFAULTS.ipMasq,
    bridge: bridgeName(flags.bridge ?? WEFTD_DEFAULTS.bridge),
    directRouting: flags.directRouting ?? file.directRouting ?? WEFTD_DEFAULTS.directRouting,
    healthAddr: listenAddress(flags.healthAddr ?? WEFTD_DEFAULTS.healthAddr, '--health-addr'),
    metricsAddr: flags.metricsAddr ? listenAddress(flags.metricsAddr, '--metrics-addr') : undefined,
    resyncMs: seconds('resync', flags.resync ?? WEFTD_DEFAULTS.resyncSeconds),
    watchdogMs: seconds('watchdog', flags.watchdog ?? WEFTD_DEFAULTS.watchdogSeconds),
    coalesceMs: seconds('coalesce', flags.coalesce ?? WEFTD_DEFAULTS.coalesceSeconds),
    cniConfDir: flags.cniConfDir || undefined,
    cniConfName: checkConfName(flags.cniConfName ?? DEFAULT_CONF_NAME),
  };
}
