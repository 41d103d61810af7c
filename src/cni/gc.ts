// GC: everything of this network that belongs to no valid attachment goes:
// its address reservations and its host veths. A veth is this network's when
// its alias says so: two networks may share one bridge, and neither's GC may
// take the other's pods off it.
import { listReservations, release, storeDir } from '../ipam/store.ts';
import { IpCommandError, ipBatch, ipShow, linkDel } from '../linux/ip.ts';
import type { Link } from '../linux/links.ts';
import { hostVethAlias, hostVethName, isHostVethName } from './host-veth.ts';
import { kernelError } from './kernel-error.ts';
import type { NetworkConfig } from './network-config.ts';
import { removeMasquerade } from './pod-masquerade.ts';

export function cmdGc(conf: NetworkConfig): void {
  const valid = new Set(conf.validAttachments.map((a) => `${a.containerID}/${a.ifname}`));
  const validVeths = new Set(conf.validAttachments.map((a) => hostVethName(a.containerID, a.ifname)));

  const alias = hostVethAlias(conf.name);
  let veths: Link[];
  try {
    veths = ipShow([['link', 'show', 'type', 'veth']])[0] as Link[];
  } catch (err) {
    throw kernelError('cannot list veths', err);
  }
  for (const veth of veths) {
    if (veth.ifalias !== alias || !isHostVethName(veth.ifname) || validVeths.has(veth.ifname)) continue;
    try {
      ipBatch([linkDel(veth.ifname)]);
    } catch (err) {
      if (!(err instanceof IpCommandError && err.notFound)) throw kernelError(`cannot delete stale veth ${veth.ifname}`, err);
    }
  }

  const stale = listReservations(storeDir(conf.ipam.dataDir, conf.name)).filter((r) => !valid.has(`${r.containerId}/${r.ifname}`));
  for (const r of stale) release(r);
  if (conf.ipMasq) removeMasquerade(stale.map((r) => r.address));
}
