// IP addresses as (family, bigint) so range arithmetic is plain integer math.
// Parsing and the canonical text form (RFC 5952 for IPv6) are written here
// rather than taken from ip-num: loading ip-num cost the plugin more start-up
// time per pod than all of its address work (see README, Benchmarks); the
// unit tests check this code against ip-num as an oracle.

export type Family = 4 | 6;
export type Address = { family: Family; value: bigint };
export type Cidr = { family: Family; network: bigint; prefix: number };

export const BITS: Record<Family, number> = { 4: 32, 6: 128 };
/** Both families, IPv4 first: the order weft lists per-family things in. */
export const FAMILIES: readonly Family[] = [4, 6];

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string): bigint | undefined {
  if (!IPV4.test(text)) return undefined;
  return text.split('.').reduce((v, octet) => (v << 8n) | BigInt(octet), 0n);
}

function parseV6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string, v4Allowed: boolean): bigint[] | undefined => {
    if (part === '') return [];
    const out: bigint[] = [];
    const fields = part.split(':');
    for (const [i, field] of fields.entries()) {
      // The last field may be an embedded IPv4 address (::ffff:10.0.0.1).
      if (v4Allowed && i === fields.length - 1 && field.includes('.')) {
        const v4 = parseV4(field);
        if (v4 === undefined) return undefined;
        out.push(v4 >> 16n, v4 & 0xffffn);
      } else if (HEXTET.test(field)) {
        out.push(BigInt(`0x${field}`));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  return [...head, ...Array<bigint>(missing).fill(0n), ...tail].reduce((v, g) => (v << 16n) | g, 0n);
}

/** The address, or undefined when `text` is not an IPv4 or IPv6 address. */
export function parseAddress(text: string): Address | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = text.includes(':') ? parseV6(text) : undefined;
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

/** The family of an address or CIDR in canonical text (as formatAddress writes it): only IPv6 text holds a colon. */
export function familyOfText(canonical: string): Family {
  return canonical.includes(':') ? 6 : 4;
}

export function formatAddress(address: Address): string {
  const v = address.value;
  if (address.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => Number((v >> s) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups, the first on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
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

/** Whether `inner` lies wholly inside one of `outers`. */
export function cidrWithin(inner: Cidr, outers: Cidr[]): boolean {
  return outers.some((o) => cidrsOverlap(o, inner) && inner.prefix >= o.prefix);
}
