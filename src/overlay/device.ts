// The VXLAN devices, one per underlay family: weft.<VNI> over IPv4 and
// weft6.<VNI> over IPv6, with the same VNI and port (the kernel keys VXLAN
// sockets by family, so the two coexist). Each is created when missing,
// recreated when it exists with settings other than ours (a different VNI,
// port, local address or underlay would silently black-hole traffic), fixed
// in place for MTU, MAC and link state, and deleted when its underlay
// family is gone.
import { type IpCommand, IpCommandError, ipBatch, ipShow, linkAdd, linkDel, linkSet } from '../linux/ip.ts';
import type { Link } from '../linux/links.ts';
import { type Family, parseAddress } from '../net/address.ts';

export type VxlanSpec = {
  name: string;
  /** The underlay's family, which `localIp` is of. */
  family: Family;
  vni: number;
  port: number;
  localIp: string;
  underlay: string;
  mtu: number;
  mac: string;
};

export type DeviceAction = 'unchanged' | 'created' | 'recreated' | 'fixed';

type VxlanLink = Link & {
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; local6?: string; link?: string; port?: number; learning?: boolean } };
};

/** The device over the underlay of `family`; IPv4's keeps the name weft has always used. */
export function deviceName(vni: number, family: Family): string {
  return family === 4 ? `weft.${vni}` : `weft6.${vni}`;
}

/** The device's local address: `ip -j -d link show` names an IPv6 one `local6`. */
export function localAddressOf(link: VxlanLink): string | undefined {
  const data = link.linkinfo?.info_data;
  return data?.local ?? data?.local6;
}

/** Compared as addresses: iproute2 need not print an IPv6 address the way weft formats it. */
function sameAddress(shown: string | undefined, ours: string): boolean {
  const a = shown === undefined ? undefined : parseAddress(shown);
  const b = parseAddress(ours);
  return a !== undefined && b !== undefined && a.family === b.family && a.value === b.value;
}

/** Why the existing link cannot serve as our device (so it is recreated). */
export function recreateReasons(link: VxlanLink, spec: VxlanSpec): string[] {
  const data = link.linkinfo?.info_data;
  if (link.linkinfo?.info_kind !== 'vxlan') return [`it is a ${link.linkinfo?.info_kind ?? 'non-vxlan'} link`];
  const reasons: string[] = [];
  if (data?.id !== spec.vni) reasons.push(`VNI ${data?.id} is not ${spec.vni}`);
  if (data?.port !== spec.port) reasons.push(`UDP port ${data?.port} is not ${spec.port}`);
  const local = localAddressOf(link);
  if (!sameAddress(local, spec.localIp)) reasons.push(`local address ${local} is not ${spec.localIp}`);
  if (data?.link !== spec.underlay) reasons.push(`underlay ${data?.link} is not ${spec.underlay}`);
  if (data?.learning !== false) reasons.push('learning is on');
  return reasons;
}

/** Fixes that keep the device (and the entries on it). */
export function inPlaceFixes(link: Link, spec: VxlanSpec): IpCommand[] {
  const fixes: IpCommand[] = [];
  if (link.mtu !== spec.mtu) fixes.push(linkSet(spec.name, 'mtu', String(spec.mtu)));
  if (link.address?.toLowerCase() !== spec.mac) fixes.push(linkSet(spec.name, 'address', spec.mac));
  if (!(link.flags ?? []).includes('UP')) fixes.push(linkSet(spec.name, 'up'));
  return fixes;
}

function createCommands(spec: VxlanSpec): IpCommand[] {
  return [
    linkAdd(
      spec.name,
      'address',
      spec.mac,
      'mtu',
      String(spec.mtu),
      'type',
      'vxlan',
      'id',
      String(spec.vni),
      'local',
      spec.localIp,
      'dev',
      spec.underlay,
      'dstport',
      String(spec.port),
      'nolearning',
    ),
    linkSet(spec.name, 'up'),
  ];
}

export function readDevice(name: string): VxlanLink | undefined {
  try {
    return ipShow([['link', 'show', 'dev', name]])[0]![0] as VxlanLink | undefined;
  } catch (err) {
    if (err instanceof IpCommandError && err.notFound) return undefined;
    throw err;
  }
}

export function ensureDevice(spec: VxlanSpec, log: (msg: string) => void): DeviceAction {
  const link = readDevice(spec.name);
  if (!link) {
    ipBatch(createCommands(spec));
    log(`created VXLAN device ${spec.name} (VNI ${spec.vni}, port ${spec.port}, local ${spec.localIp} on ${spec.underlay}, MTU ${spec.mtu})`);
    return 'created';
  }
  const reasons = recreateReasons(link, spec);
  if (reasons.length > 0) {
    ipBatch([linkDel(spec.name), ...createCommands(spec)]);
    log(`recreated VXLAN device ${spec.name}: ${reasons.join(', ')}`);
    return 'recreated';
  }
  const fixes = inPlaceFixes(link, spec);
  if (fixes.length === 0) return 'unchanged';
  ipBatch(fixes);
  log(`fixed VXLAN device ${spec.name}: ${fixes.map((f) => f.join(' ')).join('; ')}`);
  return 'fixed';
}

/** Deletes a weft device that no underlay calls for any more (`why`, for the log); nothing when there is none. */
export function removeDevice(name: string, why: string, log: (msg: string) => void): boolean {
  if (!readDevice(name)) return false;
  ipBatch([linkDel(name)]);
  log(`deleted VXLAN device ${name}: ${why}`);
  return true;
}
