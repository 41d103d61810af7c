// DEL: best effort and idempotent. The nft elements go first, the veth next
// and the addresses last, so a DEL that fails half-way never frees an address
// a live interface still holds, and a retry still knows which elements were
// the pod's; the runtime retries. Elements before the veth: the kernel frees
// deleted elements after an RCU grace period, which the plugin would wait for
// at exit had it deleted them last (src/linux/nft.ts); the veth's deletion
// takes longer than that. The price: a veth being deleted, or one whose
// deletion failed until the retry, is no longer under the anti-spoofing
// check; at DEL the pod's containers have normally stopped.
import { listReservations, release, storeDir } from '../ipam/store.ts';
import { IpCommandError, ipBatch, linkDel } from '../linux/ip.ts';
import { linkExists } from '../linux/sysfs.ts';
import type { Invocation } from './env.ts';
import { hostVethName } from './host-veth.ts';
import { kernelError } from './kernel-error.ts';
import type { NetworkConfig } from './network-config.ts';
import { attachmentElements } from './pod-antispoof.ts';
import { removePodFirewall } from './pod-firewall.ts';
import { possiblePodMacs } from './pod-mac.ts';

export function cmdDel(inv: Invocation, conf: NetworkConfig): void {
  const host = hostVethName(inv.containerId, inv.ifname);
  const dir = storeDir(conf.ipam.dataDir, conf.name);
  const mine = listReservations(dir).filter((r) => r.containerId === inv.containerId && r.ifname === inv.ifname);
  const addresses = mine.map((r) => r.address);
  removePodFirewall(conf, addresses, attachmentElements(host, possiblePodMacs(addresses, inv.containerId, inv.ifname), addresses));
  // Usually the veth is there; after its netns went, it is gone with it and
  // costs no process at all.
  if (linkExists(host)) {
    try {
      ipBatch([linkDel(host)]);
    } catch (err) {
      if (!(err instanceof IpCommandError && err.notFound)) throw kernelError(`cannot delete veth ${host}`, err);
    }
  }
  for (const r of mine) release(r);
}
