// nf_tables set elements as nfnetlink bytes, and the reading of the kernel's
// answers, with no socket in sight: the layouts of linux/netfilter/nfnetlink.h
// and linux/netfilter/nf_tables.h, so the unit tests check them on Node
// against hand-checked bytes. Only element changes are spoken here; tables,
// sets, chains and rules stay with `nft -f` (rare, and far richer).

import { formatAddress, parseAddress } from '../../net/address.ts';
import {
  AF_UNSPEC,
  attribute,
  concat,
  encodeRequest,
  type Message,
  macBytes,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_REQUEST,
  NLMSG_ERROR,
  nestedAttribute,
  parseAck,
  stringAttribute,
} from './message.ts';

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_DATA_VALUE = 1;
/** Marks a nested attribute, as libnftnl sends them. */
const NLA_F_NESTED = 0x8000;
const IFNAMSIZ = 16;

const FAMILIES = { inet: 1, bridge: 7 } as const;

/** The nft data types weft's set keys are made of. */
export type KeyType = 'ifname' | 'ether_addr' | 'ipv4_addr' | 'ipv6_addr';
export type KeyField = { type: KeyType; value: string };

/** Elements added to or deleted from one set; each key is its fields in the set's order. */
export type ElementChange = { verb: 'add' | 'delete'; family: keyof typeof FAMILIES; table: string; set: string; keys: KeyField[][] };

/** Bytes rounded up to whole 4-byte registers, as nf_tables lays out each field of a concatenated key. */
function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array((bytes.length + 3) & ~3);
  out.set(bytes);
  return out;
}

function bigEndian(value: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = bytes - 1, v = value; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** One field of a key as the kernel stores it: an interface name NUL-padded to IFNAMSIZ, addresses in network order. */
export function encodeField(field: KeyField): Uint8Array {
  const bad = (why: string) => new Error(`cannot put "${field.value}" in an nftables ${field.type} key: ${why}`);
  switch (field.type) {
    case 'ifname': {
      const name = new TextEncoder().encode(field.value);
      if (name.length === 0 || name.length >= IFNAMSIZ) throw bad(`an interface name has 1 to ${IFNAMSIZ - 1} bytes`);
      const out = new Uint8Array(IFNAMSIZ);
      out.set(name);
      return out;
    }
    case 'ether_addr': {
      const bytes = macBytes(field.value);
      if (!bytes) throw bad('a MAC address is six hex pairs joined by ":"');
      return padded(bytes);
    }
    case 'ipv4_addr':
    case 'ipv6_addr': {
      const family = field.type === 'ipv4_addr' ? 4 : 6;
      const address = parseAddress(field.value);
      if (address?.family !== family) throw bad(`it is not an IPv${family} address`);
      return bigEndian(address.value, family === 4 ? 4 : 16);
    }
  }
}

/** The kernel's spelling of a key back in weft's (for messages). */
function keyText(key: KeyField[]): string {
  return key.map((f) => (f.type.startsWith('ipv') ? formatAddress(parseAddress(f.value)!) : f.value)).join(' . ');
}

/** struct nfgenmsg: the family, NFNETLINK_V0, and the resource id in network order. */
function nfgenmsg(family: number, resourceId = 0): Uint8Array {
  return Uint8Array.of(family, 0, resourceId >> 8, resourceId & 0xff);
}

const nested = (type: number, children: readonly Uint8Array[]) => nestedAttribute(type | NLA_F_NESTED, children);

/** An attribute's length is 16 bits: a set's elements in one message must fit in 64 KiB. */
const MAX_ATTRIBUTE_BYTES = 0xffff;

function changeBody(change: ElementChange): Uint8Array {
  const elements = change.keys.map((key) => nested(NFTA_LIST_ELEM, [nested(NFTA_SET_ELEM_KEY, [attribute(NFTA_DATA_VALUE, concat(key.map(encodeField)))])]));
  const bytes = elements.reduce((n, e) => n + e.length, 4);
  if (bytes > MAX_ATTRIBUTE_BYTES) {
    throw new Error(
      `${change.keys.length} elements of set ${change.set} take ${bytes} bytes, more than one netlink attribute holds (this is a bug in weft: report it)`,
    );
  }
  return concat([
    nfgenmsg(FAMILIES[change.family]),
    stringAttribute(NFTA_SET_ELEM_LIST_TABLE, change.table, true),
    stringAttribute(NFTA_SET_ELEM_LIST_SET, change.set, true),
    nested(NFTA_SET_ELEM_LIST_ELEMENTS, elements),
  ]);
}

/** A batch ready to send: its bytes, the sequence number of each change, and the range its markers bound (`first` to `last`). */
export type ElementBatch = { bytes: Uint8Array; seqs: number[]; changes: ElementChange[]; first: number; last: number };

/**
 * One nf_tables transaction: BATCH_BEGIN, a NEWSETELEM or DELSETELEM per
 * change, each asking for an acknowledgement, then BATCH_END. The kernel
 * applies all of it or none. Sequence numbers start at `first`, so batches
 * on one socket never share one.
 */
export function encodeElementBatch(changes: ElementChange[], first = 1): ElementBatch {
  const marker = (type: number) => ({ type, flags: NLM_F_REQUEST, body: nfgenmsg(AF_UNSPEC, NFNL_SUBSYS_NFTABLES) });
  const seqs = changes.map((_, i) => first + 1 + i);
  const last = first + changes.length + 1;
  const messages = changes.map((change, i) => {
    const type = (NFNL_SUBSYS_NFTABLES << 8) | (change.verb === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    const flags = NLM_F_REQUEST | NLM_F_ACK | (change.verb === 'add' ? NLM_F_CREATE : 0);
    return encodeRequest({ type, flags, body: changeBody(change) }, seqs[i]!);
  });
  return {
    bytes: concat([encodeRequest(marker(NFNL_MSG_BATCH_BEGIN), first), ...messages, encodeRequest(marker(NFNL_MSG_BATCH_END), last)]),
    seqs,
    changes,
    first,
    last,
  };
}

/** The kernel refused a batch; nothing of it was applied. `change` is the one it refused, when it named one. */
export type BatchRefusal = { errno: number; detail: string | undefined; change: ElementChange | undefined };

/**
 * Reads replies (from `next`, one datagram's messages at a time) until every
 * change is acknowledged, answering undefined, or until the first refusal,
 * which is returned: the kernel aborts the whole batch on any error and may
 * stay silent about the changes after it, so nothing more is waited for.
 * Replies to an earlier batch on the same socket (left unread after its
 * refusal) are skipped.
 */
export function readBatchAnswer(batch: ElementBatch, next: () => Message[]): BatchRefusal | undefined {
  const pending = new Set(batch.seqs);
  while (pending.size > 0) {
    for (const m of next()) {
      if (m.type !== NLMSG_ERROR || m.seq < batch.first || m.seq > batch.last) continue;
      const { errno, detail } = parseAck(m);
      if (errno !== 0) return { errno, detail, change: batch.changes[batch.seqs.indexOf(m.seq)] };
      pending.delete(m.seq);
    }
  }
  return undefined;
}

/** What a refused change was, in nft's words: "add element bridge weft-antispoof ports { weftabc }". */
export function describeChange(change: ElementChange): string {
  return `${change.verb} element ${change.family} ${change.table} ${change.set} { ${change.keys.map(keyText).join(', ')} }`;
}
