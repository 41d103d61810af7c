// Which addresses and MTU this node's pods get: from ipam.ranges when the
// config gives them (standalone use), else from the subnet file weftd writes.

import { parseRangeSets, type RangeSet } from '../ipam/range.ts';
import { type Cidr, parseCidr } from '../net/address.ts';
import { readSubnetFile, SubnetFileError } from '../subnet/subnet-file.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { NetworkConfig } from './network-config.ts';

export type NodeNetwork = {
  rangeSets: RangeSet[];
  /** undefined: take the bridge's MTU. */
  mtu: number | undefined;
  /** Destinations pods reach with their own address when ipMasq is on. */
  noMasquerade: Cidr[];
};

export function resolveNodeNetwork(conf: NetworkConfig): NodeNetwork {
  if (conf.ipam.ranges) {
    const rangeSets = parseRangeSets(conf.ipam.ranges, 'ipam.ranges');
    return { rangeSets, mtu: conf.mtu, noMasquerade: rangeSets.flat().map((r) => r.subnet) };
  }
  const file = readNodeSubnetFile(conf.subnetFile);
  const rangeSets = parseRangeSets(
    file.subnets.map((s) => [s]),
    `subnet file ${conf.subnetFile}: subnets`,
  );
  return {
    rangeSets,
    mtu: conf.mtu ?? file.mtu,
    noMasquerade: [...rangeSets.flat().map((r) => r.subnet), ...file.clusterNetworks.map((c) => parseCidr(c)!)],
  };
}

function readNodeSubnetFile(path: string) {
  try {
    return readSubnetFile(path);
  } catch (err) {
    if (!(err instanceof SubnetFileError)) throw err;
    throw new CniError(
      ErrorCode.NotAvailable,
      err.message,
      'weftd writes it once the node has a pod CIDR: check that weftd runs on this node (weftd status), or set ipam.ranges in the network config',
      err,
    );
  }
}
