// Deterministic, locally administered MAC addresses: a pod's MAC follows from
// its IP (0a:58 + the address, so a MAC seen in a capture names its pod) and
// anything else's from a hash of a stable name.
import type { Address, Family } from './address.ts';

function format(bytes: number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function macForAddress(address: Address): string {
  const v = address.value & 0xffffffffn;
  return format([0x0a, 0x58, Number((v >> 24n) & 0xffn), Number((v >> 16n) & 0xffn), Number((v >> 8n) & 0xffn), Number(v & 0xffn)]);
}

const MASK64 = 0xffffffffffffffffn;

/**
 * 64-bit FNV-1a with murmur3's finaliser: tiny, stable across releases, no
 * crypto module to load, and names that differ in one character (node1,
 * node2) still differ in every output byte.
 */
export function stableHash64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & MASK64;
  }
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & MASK64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK64;
  return h ^ (h >> 33n);
}

/** 0e:xx:xx:xx:xx:xx — a prefix no pod MAC (0a:58) can take. */
export function macForName(name: string): string {
  const h = stableHash64(name);
  return format([0x0e, ...[32n, 24n, 16n, 8n, 0n].map((s) => Number((h >> s) & 0xffn))]);
}

/**
 * The MAC of a node's VXLAN device over the underlay of `family`. The IPv4
 * one is the name's MAC weft has always used, so an upgraded node keeps it;
 * the IPv6 one hashes a text no node name can be (a Node name has no "/"),
 * so it is never the IPv4 MAC of another node by that node's choice of name.
 */
export function vtepMacFor(node: string, family: Family): string {
  return family === 4 ? macForName(node) : macForName(`ipv6/${node}`);
}
