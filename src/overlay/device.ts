// The VXLAN device weft.<VNI>: created when missing, recreated when it exists
// with settings other than ours (a different VNI, port, local address or
// underlay would silently black-hole traffic), fixed in place for MTU, MAC
// and link state.
import { type IpCommand, IpCommandError, ipBatch, ipShow, linkAdd, linkDel, linkSet } from '../linux/ip.ts';
import type { Link } from '../linux/links.ts';

export type VxlanSpec = {
  name: string;
  vni: number;
  port: number;
  localIp: string;
  underlay: string;
  mtu: number;
  mac: string;
};

export type DeviceAction = 'unchanged' | 'created' | 'recreated' | 'fixed';

type VxlanLink = Link & {
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; link?: string; port?: number; learning?: boolean } };
};

export function deviceName(vni: number): string {
  return `weft.${vni}`;
}

/** Why the existing link cannot serve as our device (so it is recreated). */
export function recreateReasons(link: VxlanLink, spec: VxlanSpec): string[] {
  const data = link.linkinfo?.info_data;
  if (link.linkinfo?.info_kind !== 'vxlan') return [`it is a ${link.linkinfo?.info_kind ?? 'non-vxlan'} link`];
  const reasons: string[] = [];
  if (data?.id !== spec.vni) reasons.push(`VNI ${data?.id} is not ${spec.vni}`);
  if (data?.port !== spec.port) reasons.push(`UDP port ${data?.port} is not ${spec.port}`);
  if (data?.local !== spec.localIp) reasons.push(`local address ${data?.local} is not ${spec.localIp}`);
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
