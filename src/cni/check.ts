// CHECK: the attachment the runtime believes in (prevResult) against what the
// kernel and the IPAM store hold; the first drift found is the error.
import { listReservations, storeDir } from '../ipam/store.ts';
import { files } from '../linux/files.ts';
import { ipShow } from '../linux/ip.ts';
import { type AddressInfo, type Link, type RouteInfo, readLink } from '../linux/links.ts';
import { formatAddress, parseAddress, parseCidr } from '../net/address.ts';
import type { Invocation } from './env.ts';
import { CniError, ErrorCode } from './errors.ts';
import { hostVethName } from './host-veth.ts';
import { kernelError } from './kernel-error.ts';
import type { NetworkConfig } from './network-config.ts';
import { antispoofProblem } from './pod-antispoof.ts';
import { readAntispoof } from './pod-firewall.ts';
import { parsePrevResult } from './prev-result.ts';
import { compareVersions } from './version.ts';

export function cmdCheck(inv: Invocation, conf: NetworkConfig): void {
  if (compareVersions(conf.cniVersion, '0.4.0') < 0) {
    throw new CniError(ErrorCode.IncompatibleVersion, `CHECK is not defined for cniVersion ${conf.cniVersion}`, 'use cniVersion 0.4.0 or newer to CHECK');
  }
  const prev = parsePrevResult(conf.prevResult);
  const podIndex = prev.interfaces.findIndex((i) => i.name === inv.ifname && i.sandbox);
  if (podIndex < 0) drift(`prevResult has no interface ${inv.ifname} with a sandbox`);
  const podIface = prev.interfaces[podIndex]!;
  if (!files().exists(inv.netns)) drift(`network namespace ${inv.netns} does not exist`);

  let container: unknown[][];
  try {
    container = ipShow(
      [
        ['link', 'show'],
        ['addr', 'show'],
        ['route', 'show', 'table', 'main', 'root', '0.0.0.0/0'],
        ['route', 'show', 'table', 'main', 'root', '::/0'],
      ],
      { netns: inv.netns },
    );
  } catch (err) {
    throw kernelError(`cannot read ${inv.netns}`, err);
  }
  const [links, addrs, routes4, routes6] = container as [Link[], AddressInfo[], RouteInfo[], RouteInfo[]];
  const pod = links.find((l) => l.ifname === inv.ifname);
  if (!pod) drift(`interface ${inv.ifname} is missing in ${inv.netns}`);
  if (podIface.mac && pod.address?.toLowerCase() !== podIface.mac.toLowerCase()) {
    drift(`interface ${inv.ifname} has MAC ${pod.address}, prevResult says ${podIface.mac}`);
  }
  const onPod = new Set((addrs.find((a) => a.ifname === inv.ifname)?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  const podIps = prev.ips.filter((ip) => ip.interface === podIndex);
  for (const ip of podIps) {
    if (!onPod.has(canonicalCidr(ip.address))) drift(`address ${ip.address} is missing on ${inv.ifname} in ${inv.netns}`);
  }
  const kernelRoutes = [...routes4, ...routes6].map((r) => `${canonicalRoute(r.dst, r.gateway)}`);
  for (const route of prev.routes) {
    const wanted = canonicalRoute(route.dst, route.gw);
    if (!kernelRoutes.includes(wanted)) drift(`route ${route.dst}${route.gw ? ` via ${route.gw}` : ''} is missing in ${inv.netns}`);
  }

  const hostName = hostVethName(inv.containerId, inv.ifname);
  const host = readLink(hostName);
  if (!host) drift(`host veth ${hostName} is missing`);
  if (host.master !== conf.bridge) drift(`host veth ${hostName} is attached to ${host.master ?? 'no bridge'}, not ${conf.bridge}`);
  if (pod.link_index !== host.ifindex) drift(`${inv.ifname} in ${inv.netns} is not the peer of host veth ${hostName}`);

  if (conf.spoofCheck) {
    const addresses = podIps.map((ip) => parseAddress(ip.address.split('/')[0]!)).filter((a) => a !== undefined);
    const problem = antispoofProblem(readAntispoof(), { hostVeth: hostName, mac: pod.address ?? '', addresses });
    if (problem) drift(`${problem} (spoofCheck is on)`);
  }

  const reservations = listReservations(storeDir(conf.ipam.dataDir, conf.name));
  for (const ip of podIps) {
    const address = ip.address.split('/')[0]!;
    const r = reservations.find((x) => formatAddress(x.address) === canonicalAddress(address));
    if (!r) drift(`address ${address} is not reserved in ${storeDir(conf.ipam.dataDir, conf.name)}`);
    if (r.containerId !== inv.containerId || r.ifname !== inv.ifname) {
      drift(`address ${address} is reserved for ${r.containerId}/${r.ifname}, not ${inv.containerId}/${inv.ifname}`);
    }
  }
}

function drift(what: string): never {
  throw new CniError(ErrorCode.CheckFailed, `CHECK failed: ${what}`, 'delete and re-create the pod to rebuild its network');
}

function canonicalAddress(text: string): string {
  const a = parseAddress(text);
  return a ? formatAddress(a) : text;
}

function canonicalCidr(text: string): string {
  const c = parseCidr(text);
  return c ? `${formatAddress({ family: c.family, value: c.host })}/${c.prefix}` : text;
}

// `ip -j` writes "default" for /0 and drops /32 and /128 from host routes.
function canonicalRoute(dst: string, gw: string | undefined): string {
  let d = dst;
  if (d === 'default') d = gw?.includes(':') ? '::/0' : '0.0.0.0/0';
  else if (!d.includes('/')) d = `${d}/${d.includes(':') ? 128 : 32}`;
  return `${canonicalCidr(d)} ${gw ? canonicalAddress(gw) : ''}`;
}
