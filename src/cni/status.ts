// STATUS: can an ADD succeed right now? Not without the node's subnets, and
// not with every address of a range set taken.

import { capacity, findRange } from '../ipam/range.ts';
import { listReservations, storeDir } from '../ipam/store.ts';
import { formatCidr } from '../net/address.ts';
import { CniError, ErrorCode } from './errors.ts';
import { resolveNodeNetwork } from './network.ts';
import type { NetworkConfig } from './network-config.ts';

export function cmdStatus(conf: NetworkConfig): void {
  const { rangeSets } = resolveNodeNetwork(conf);
  const reservations = listReservations(storeDir(conf.ipam.dataDir, conf.name));
  for (const set of rangeSets) {
    const used = reservations.filter((r) => {
      const range = findRange(set, r.address);
      return range !== undefined && r.address.value !== range.gateway;
    }).length;
    if (BigInt(used) >= capacity(set)) {
      throw new CniError(
        ErrorCode.NotAvailable,
        `address pool ${set.map((r) => formatCidr(r.subnet)).join(', ')} is exhausted: all ${used} addresses are reserved`,
        'remove pods from this node, or give the node a larger pod CIDR',
      );
    }
  }
}
