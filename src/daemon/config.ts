// weftd's settings, as the CLI hands them to the run loop.
import type { UnderlayOptions } from './underlay.ts';

export type DaemonConfig = {
  nodeName: string;
  kubeconfig: string | undefined;
  clusterCidrs: string[];
  vni: number;
  port: number;
  underlay: UnderlayOptions;
  /** undefined: the underlay's MTU minus the 50 bytes of VXLAN over IPv4. */
  mtu: number | undefined;
  subnetFile: string;
  ipMasq: boolean;
  healthAddr: string;
  resyncMs: number;
  watchdogMs: number;
  coalesceMs: number;
};

export const VXLAN_OVERHEAD = 50;
