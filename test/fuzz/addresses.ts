// Addresses as (family, bigint), for the generators' arithmetic and the
// oracle's comparisons. Text goes through ip-num, not the plugin's own
// address code: the oracle should not share the plugin's mistakes.
import { collapseIPv6Number, IPv4, IPv6, Validator } from 'ip-num';

export type Family = 4 | 6;
export type Address = { family: Family; value: bigint };
export type Cidr = { family: Family; network: bigint; prefix: number };

export const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function addressText(a: Address): string {
  return a.family === 4 ? IPv4.fromNumber(a.value).toString() : collapseIPv6Number(IPv6.fromBigInt(a.value).toString());
}

export function cidrText(c: Cidr): string {
  return `${addressText({ family: c.family, value: c.network })}/${c.prefix}`;
}

/** Strict: no zone, no surrounding space, dotted quads without leading zeros. */
export function parseAddress(text: string): Address | undefined {
  if (Validator.isValidIPv4String(text)[0] && !/(^|\.)0\d/.test(text)) return { family: 4, value: IPv4.fromString(text).value };
  if (text.includes(':') && !text.includes('%') && Validator.isValidIPv6String(text)[0]) return { family: 6, value: IPv6.fromString(text).value };
  return undefined;
}

/** A CIDR as the kernel and the result write it; a bare address is a host route. */
export function parseCidr(text: string): (Cidr & { host: bigint }) | undefined {
  const [addr = '', prefixText, ...rest] = text.split('/');
  const a = parseAddress(addr);
  if (!a || rest.length > 0) return undefined;
  const prefix = prefixText === undefined ? BITS[a.family] : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > BITS[a.family]) return undefined;
  return { family: a.family, network: networkOf(a.value, a.family, prefix), prefix, host: a.value };
}

export function networkOf(value: bigint, family: Family, prefix: number): bigint {
  const hostBits = BigInt(BITS[family] - prefix);
  return (value >> hostBits) << hostBits;
}

export function lastOf(c: Cidr): bigint {
  return c.network + (1n << BigInt(BITS[c.family] - c.prefix)) - 1n;
}

/**
 * The addresses every reading of "usable" agrees on: not the network
 * address, and not the last one (IPv4's broadcast; for IPv6 whether it is
 * usable is left open).
 */
export function usable(c: Cidr): { first: bigint; last: bigint } {
  return { first: c.network + 1n, last: lastOf(c) - 1n };
}

/** The text form of an address in canonical or address-with-prefix form, for comparing. */
export function canonical(text: string): string {
  const c = parseCidr(text);
  if (!c) return `unparsable:${text}`;
  return text.includes('/') ? `${addressText({ family: c.family, value: c.host })}/${c.prefix}` : addressText({ family: c.family, value: c.host });
}
