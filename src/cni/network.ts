// Which addresses and MTU this node's pods get: from ipam.ranges when the
// config gives them (standalone use), else from the subnet file weftd writes.

import { IpamError } from '../ipam/errors.ts';
import { type AddressRange, parseRange, parseRangeSets, type RangeSet } from '../ipam/range.ts';
import { type Cidr, cidrsOverlap, parseCidr } from '../net/address.ts';
import { type NodeSubnet, readSubnetFile, SubnetFileError } from '../subnet/subnet-file.ts';
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
    return { rangeSets, mtu: conf.mtu, noMasquerade: outermost(rangeSets.flat().map((r) => r.subnet)) };
  }
  const file = readNodeSubnetFile(conf.subnetFile);
  const rangeSets = file.subnets.map((s, i) => [fileRange(conf.subnetFile, s, i)]);
  return {
    rangeSets,
    mtu: conf.mtu ?? file.mtu,
    noMasquerade: outermost([...rangeSets.flat().map((r) => r.subnet), ...file.clusterNetworks.map((c) => parseCidr(c)!)]),
  };
}

/**
 * The CIDRs no other one contains, each once: the masquerade's `keep` sets
 * refuse an interval that overlaps another, and a node's pod subnet lies
 * inside its cluster network.
 */
export function outermost(cidrs: Cidr[]): Cidr[] {
  // One goes when another holds it: a wider one anywhere, or the same one earlier.
  return cidrs.filter((c, i) => !cidrs.some((o, j) => j !== i && cidrsOverlap(o, c) && (o.prefix < c.prefix || (o.prefix === c.prefix && j < i))));
}

function readNodeSubnetFile(path: string) {
  try {
    return readSubnetFile(path);
  } catch (err) {
    if (!(err instanceof SubnetFileError)) throw err;
    throw unusableSubnetFile(err);
  }
}

/**
 * A subnet of the file as an address range. One the ranges refuse (a
 * gateway on the network address, a subnet too small or too large) is a
 * problem of the file, like any other, not of the network config.
 */
function fileRange(path: string, subnet: NodeSubnet, i: number): AddressRange {
  try {
    return parseRange(subnet, `subnets[${i}]`);
  } catch (err) {
    if (!(err instanceof IpamError)) throw err;
    throw unusableSubnetFile(new SubnetFileError(path, err.message, false, err));
  }
}

function unusableSubnetFile(err: SubnetFileError): CniError {
  return new CniError(
    ErrorCode.NotAvailable,
    err.message,
    'weftd writes it once the node has a pod CIDR: check that weftd runs on this node (weftd status), or set ipam.ranges in the network config',
    err,
  );
}
