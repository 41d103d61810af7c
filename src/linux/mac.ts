// Deterministic, locally administered MAC addresses: a pod's MAC follows from
// its IP (0a:58 + the address, so a MAC seen in a capture names its pod) and
// anything else's from a hash of a stable name.
import type { Address } from '../ipam/address.ts';

function format(bytes: number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function macForAddress(address: Address): string {
  const v = address.value & 0xffffffffn;
  return format([0x0a, 0x58, Number((v >> 24n) & 0xffn), Number((v >> 16n) & 0xffn), Number((v >> 8n) & 0xffn), Number(v & 0xffn)]);
}

/** 64-bit FNV-1a: tiny, stable across releases, and no crypto module to load. */
export function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

/** 0e:xx:xx:xx:xx:xx — a prefix no pod MAC (0a:58) can take. */
export function macForName(name: string): string {
  const h = fnv1a64(name);
  return format([0x0e, ...[32n, 24n, 16n, 8n, 0n].map((s) => Number((h >> s) & 0xffn))]);
}
