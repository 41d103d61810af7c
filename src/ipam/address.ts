// IP addresses as (family, bigint) so range arithmetic is plain integer math;
// ip-num does the parsing and the canonical text form.
import { IPv4, IPv6, Validator, collapseIPv6Number } from 'ip-num';

export type Family = 4 | 6;
export type Address = { family: Family; value: bigint };
export type Cidr = { family: Family; network: bigint; prefix: number };

export const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** The address, or undefined when `text` is not an IPv4 or IPv6 address. */
export function parseAddress(text: string): Address | undefined {
  if (Validator.isValidIPv4String(text)[0]) return { family: 4, value: new IPv4(text).getValue() };
  if (!text.includes('%') && Validator.isValidIPv6String(text)[0]) return { family: 6, value: new IPv6(text).getValue() };
  return undefined;
}

export function formatAddress(address: Address): string {
  return address.family === 4
    ? IPv4.fromNumber(address.value).toString()
    : collapseIPv6Number(IPv6.fromBigInt(address.value).toString());
}

/**
 * Parses `a.b.c.d/len`; `host` keeps the address part (for `10.0.0.5/24`
 * the host is .5 and the network .0).
 */
export function parseCidr(text: string): (Cidr & { host: bigint }) | undefined {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return undefined;
  const address = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!address || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > BITS[address.family]) return undefined;
  const hostBits = BigInt(BITS[address.family] - prefix);
  const network = (address.value >> hostBits) << hostBits;
  return { family: address.family, network, prefix, host: address.value };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatAddress({ family: cidr.family, value: cidr.network })}/${cidr.prefix}`;
}

export function lastAddress(cidr: Cidr): bigint {
  return cidr.network + (1n << BigInt(BITS[cidr.family] - cidr.prefix)) - 1n;
}

export function cidrContains(cidr: Cidr, address: Address): boolean {
  return address.family === cidr.family && address.value >= cidr.network && address.value <= lastAddress(cidr);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.network <= lastAddress(b) && b.network <= lastAddress(a);
}
