// GC: everything of this network that belongs to no valid attachment goes:
// its address reservations, its host veths and their nft elements. A veth is
// this network's when its alias says so: two networks may share one bridge,
// and neither's GC may take the other's pods off it. An anti-spoofing element
// whose veth is gone is stale whichever network made it: ADD adds elements
// only once its veth exists, and the table is read before the veths, so an
// element seen there without its veth is one whose veth has since gone.
import { listReservations, release, storeDir } from '../ipam/store.ts';
import { IpCommandError, ipBatch, ipShow, linkDel } from '../linux/ip.ts';
import type { Link } from '../linux/links.ts';
import { hostVethAlias, hostVethName, isHostVethName } from './host-veth.ts';
import { kernelError } from './kernel-error.ts';
import type { NetworkConfig } from './network-config.ts';
import { staleElements } from './pod-antispoof.ts';
import { readAntispoof, removePodFirewall } from './pod-firewall.ts';

export function cmdGc(conf: NetworkConfig): void {
  const valid = new Set(conf.validAttachments.map((a) => `${a.containerID}/${a.ifname}`));
  const validVeths = new Set(conf.validAttachments.map((a) => hostVethName(a.containerID, a.ifname)));

  const antispoof = conf.spoofCheck ? readAntispoof() : undefined;
  const alias = hostVethAlias(conf.name);
  let veths: Link[];
  try {
    veths = ipShow([['link', 'show', 'type', 'veth']])[0] as Link[];
  } catch (err) {
    throw kernelError('cannot list veths', err);
  }
  const liveVeths = new Set<string>();
  for (const veth of veths) {
    if (veth.ifalias !== alias || !isHostVethName(veth.ifname) || validVeths.has(veth.ifname)) {
      liveVeths.add(veth.ifname);
      continue;
    }
    try {
      ipBatch([linkDel(veth.ifname)]);
    } catch (err) {
      if (!(err instanceof IpCommandError && err.notFound)) throw kernelError(`cannot delete stale veth ${veth.ifname}`, err);
    }
  }

  const stale = listReservations(storeDir(conf.ipam.dataDir, conf.name)).filter((r) => !valid.has(`${r.containerId}/${r.ifname}`));
  removePodFirewall(
    conf,
    stale.map((r) => r.address),
    antispoof ? staleElements(antispoof, liveVeths) : [],
  );
  for (const r of stale) release(r);
}
