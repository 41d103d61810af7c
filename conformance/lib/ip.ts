// Just enough IP arithmetic to compare a CNI result with what iproute2 prints:
// both sides are reduced to one canonical text form.
import { isIP } from 'node:net';

export type Family = 4 | 6;
export type Cidr = { family: Family; address: string; prefix: number };

export function ipFamily(text: string): Family | undefined {
  const kind = isIP(text);
  return kind === 4 || kind === 6 ? kind : undefined;
}

/** "10.1.2.3/24" → address and prefix; undefined when it is not an address in CIDR notation. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = ipFamily(address);
  if (!family || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits(family)) return undefined;
  return { family, address: canonicalIp(address), prefix };
}

/** One spelling per address, so "2001:DB8:0::1" and "2001:db8::1" compare equal. */
export function canonicalIp(text: string): string {
  const family = ipFamily(text);
  if (family === 6) return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  return text;
}

/** The network a CIDR lies in, as iproute2 prints route destinations: "default", "10.1.0.0/16", or a bare host address. */
export function routeDestination(cidr: Cidr): string {
  if (cidr.prefix === 0) return 'default';
  const network = formatValue(cidr.family, toValue(cidr) & mask(cidr.family, cidr.prefix));
  return cidr.prefix === bits(cidr.family) ? network : `${network}/${cidr.prefix}`;
}

/** The address `offset` past the network address of `cidr`, e.g. its conventional gateway at 1. */
export function addressAt(cidr: Cidr, offset: bigint): string {
  return formatValue(cidr.family, (toValue(cidr) & mask(cidr.family, cidr.prefix)) + offset);
}

/** Whether `inner` (an address with its prefix, or a network) lies inside the network `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  const m = mask(outer.family, outer.prefix);
  return (toValue(inner) & m) === (toValue(outer) & m);
}

function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

function mask(family: Family, prefix: number): bigint {
  const width = BigInt(bits(family));
  return ((1n << width) - 1n) ^ ((1n << (width - BigInt(prefix))) - 1n);
}

function toValue(cidr: Cidr): bigint {
  if (cidr.family === 4) return cidr.address.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
  const [head = '', tail = ''] = cidr.address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const headGroups = groups(head);
  const tailGroups = groups(tail);
  const all = cidr.address.includes('::') ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups] : headGroups;
  return all.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function formatValue(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join('.');
  const groups = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  return canonicalIp(groups.join(':'));
}
