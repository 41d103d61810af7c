// Which addresses and MTU this node's pods get: from ipam.ranges when the
// config gives them (standalone use), else from the subnet file weftd writes.
import { readSubnetFile } from '../daemon/subnet-file.ts';
import { type Cidr, parseCidr } from '../ipam/address.ts';
import { type RangeSet, parseRangeSets } from '../ipam/range.ts';
import type { NetConf } from './config.ts';

export type NodeNetwork = {
  rangeSets: RangeSet[];
  /** undefined: take the bridge's MTU. */
  mtu: number | undefined;
  /** Destinations pods reach with their own address when ipMasq is on. */
  noMasquerade: Cidr[];
};

export function resolveNodeNetwork(conf: NetConf): NodeNetwork {
  if (conf.ipam.ranges) {
    const rangeSets = parseRangeSets(conf.ipam.ranges, 'ipam.ranges');
    return { rangeSets, mtu: conf.mtu, noMasquerade: rangeSets.flat().map((r) => r.subnet) };
  }
  const file = readSubnetFile(conf.subnetFile);
  const rangeSets = parseRangeSets(file.subnets.map((s) => [s]), `subnet file ${conf.subnetFile}: subnets`);
  return {
    rangeSets,
    mtu: conf.mtu ?? file.mtu,
    noMasquerade: [...rangeSets.flat().map((r) => r.subnet), ...file.clusterNetworks.map((c) => parseCidr(c)!)],
  };
}
