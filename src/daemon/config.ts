// weftd's settings: flags first, then net-conf.json, then defaults; validated
// here once, so the run loop trusts them. A setting that reaches a kernel
// command leaves here parsed (a Cidr) or in canonical form, never as typed.

import { type Cidr, type Family, formatAddress, formatCidr, parseAddress, parseCidr } from '../net/address.ts';
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
  /** undefined: each VXLAN device's underlay MTU minus VXLAN_OVERHEAD of its family. */
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

/** Bytes VXLAN adds to an inner frame over each underlay family: outer IP header (20 or 40), UDP 8, VXLAN 8, inner Ethernet 14. */
export const VXLAN_OVERHEAD: Record<Family, number> = { 4: 50, 6: 70 };

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
  ifaceCanReach?: string[];
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

/**
 * The shortest cluster network weftd takes, per family. IPv6: with
 * kube-controller-manager's default /64 node CIDRs, a /48 already holds
 * 65536 nodes (it allows at most 16 bits between the two).
 */
export const MIN_CLUSTER_PREFIX: Record<Family, number> = { 4: 8, 6: 48 };
const EXAMPLE: Record<Family, string> = { 4: '10.244.0.0/16', 6: 'fd00:10:244::/56' };

/**
 * The cluster's pod networks, of either family, each text one CIDR or
 * several joined by commas (kube-controller-manager's form); `source` names
 * where they came from, for the error.
 */
export function parseClusterCidrs(texts: string[], source = '--cluster-cidr'): Cidr[] {
  if (texts.length === 0) {
    throw new Error(
      `--cluster-cidr is required (or net-conf "network"): pass the cluster's pod networks, e.g. --cluster-cidr ${EXAMPLE[4]} or --cluster-cidr ${EXAMPLE[4]},${EXAMPLE[6]}`,
    );
  }
  return texts
    .flatMap((text) => text.split(','))
    .map((piece) => {
      const t = piece.trim();
      const c = parseCidr(t);
      if (!c) throw new Error(`${source} ${quote(t)} is not a CIDR: write it like ${EXAMPLE[4]} or ${EXAMPLE[6]}`);
      if (c.host !== c.network) throw new Error(`${source} ${quote(t)} has bits set after its prefix: did you mean ${formatCidr(c)}?`);
      // weftd accepts forwarding and skips masquerade for the cluster network:
      // a /0 or a /4 would open the node's forwarding to the whole internet.
      const min = MIN_CLUSTER_PREFIX[c.family];
      if (c.prefix < min) {
        throw new Error(
          `${source} ${quote(t)} is far wider than a pod network: use a /${min} or longer ${c.family === 4 ? 'IPv4' : 'IPv6'} prefix, e.g. ${EXAMPLE[c.family]}`,
        );
      }
      return c;
    });
}

/**
 * Canonical addresses, at most one per family; only an address may reach
 * `ip route get`. Commas separate them too, so that WEFTD_IFACE_CAN_REACH,
 * one variable, can name both.
 */
function parseReachable(texts: string[]): string[] {
  const seen = new Map<Family, string>();
  return texts
    .flatMap((t) => t.split(','))
    .map((piece) => {
      const text = piece.trim();
      const address = parseAddress(text);
      if (!address) {
        throw new Error(
          `--iface-can-reach ${quote(text)} is not an IP address: give the address of a host the underlay reaches, e.g. --iface-can-reach 10.0.0.1 or --iface-can-reach 2001:db8::1`,
        );
      }
      const other = seen.get(address.family);
      if (other !== undefined) {
        throw new Error(
          `--iface-can-reach ${quote(other)} and ${quote(text)} are both ${address.family === 4 ? 'IPv4' : 'IPv6'}: give at most one address per family (one IPv4, one IPv6)`,
        );
      }
      seen.set(address.family, text);
      return formatAddress(address);
    });
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
    underlay: { iface: flags.iface ?? [], ifaceRegex: checkRegexes(flags.ifaceRegex ?? []), ifaceCanReach: parseReachable(flags.ifaceCanReach ?? []) },
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
