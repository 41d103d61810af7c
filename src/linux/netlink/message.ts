// rtnetlink messages as bytes, both ways, with no socket in sight: the
// layouts of linux/netlink.h and linux/rtnetlink.h, so the unit tests check
// them on Node against known bytes. Netlink speaks the host's byte order.

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** On a reply: the dump changed while it was read, so it may be inconsistent. */
export const NLM_F_DUMP_INTR = 0x10;
/** On an error reply: only the request's header is echoed (NETLINK_CAP_ACK). */
const NLM_F_CAPPED = 0x100;
/** On an error reply: attributes follow the echoed request. */
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_GETROUTE = 26;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

const HEADER_BYTES = 16;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// An ADD encodes about a hundred attributes. JavaScriptCore compiles a
// function that has run a few dozen times, and optimises one that has run
// about a hundred: work on its JIT threads that a process living 15 ms never
// wins back. With the JIT off (BUN_JSC_useBaselineJIT=0 useDFGJIT=0) an ADD
// took 2 to 2.8 ms less CPU, the small helpers called per attribute here the
// most of what it had compiled; so the builders below each make their own
// DataView and loop, rather than call a helper per field.

const align = (n: number) => (n + 3) & ~3;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One attribute: length, type, payload, padded to 4 bytes. */
export function attribute(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array((4 + payload.length + 3) & ~3);
  const v = new DataView(out.buffer);
  v.setUint16(0, 4 + payload.length, LITTLE_ENDIAN);
  v.setUint16(2, type, LITTLE_ENDIAN);
  out.set(payload, 4);
  return out;
}

export const u8Attribute = (type: number, value: number) => attribute(type, Uint8Array.of(value));

export function u32Attribute(type: number, value: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, value, LITTLE_ENDIAN);
  return attribute(type, payload);
}

/** A MAC written as six hex pairs joined by ":" as its bytes, or undefined when it is not one. */
export function macBytes(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i.test(text)) return undefined;
  const bytes = new Uint8Array(6);
  for (let i = 0; i < 6; i++) bytes[i] = Number.parseInt(text.slice(3 * i, 3 * i + 2), 16);
  return bytes;
}

/** A string attribute; `terminated` adds the NUL some attributes carry (names do, kinds and aliases do not, as iproute2 sends them). */
export function stringAttribute(type: number, value: string, terminated: boolean): Uint8Array {
  const text = new TextEncoder().encode(value);
  return attribute(type, terminated ? concat([text, Uint8Array.of(0)]) : text);
}

export const nestedAttribute = (type: number, children: readonly Uint8Array[]) => attribute(type, concat(children));

/** struct ifinfomsg: which link, and the flags to change. */
export function ifinfomsg(index: number, flags = 0, change = 0, family = AF_UNSPEC): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setUint8(0, family);
  v.setInt32(4, index, LITTLE_ENDIAN);
  v.setUint32(8, flags, LITTLE_ENDIAN);
  v.setUint32(12, change, LITTLE_ENDIAN);
  return out;
}

/** struct ifaddrmsg. */
export function ifaddrmsg(family: number, prefixlen: number, flags: number, scope: number, index: number): Uint8Array {
  const out = Uint8Array.of(family, prefixlen, flags, scope, 0, 0, 0, 0);
  new DataView(out.buffer).setUint32(4, index, LITTLE_ENDIAN);
  return out;
}

export type RouteHeader = { family: number; dstLen: number; table: number; protocol: number; scope: number; type: number };

/** struct rtmsg. */
export function rtmsg(h: RouteHeader): Uint8Array {
  return Uint8Array.of(h.family, h.dstLen, 0, 0, h.table, h.protocol, h.scope, h.type, 0, 0, 0, 0);
}

/** What goes after the netlink header: the family header, then attributes. */
export type Request = { type: number; flags: number; body: Uint8Array };

export function request(type: number, flags: number, header: Uint8Array, attributes: readonly Uint8Array[] = []): Request {
  return { type, flags: NLM_F_REQUEST | NLM_F_ACK | flags, body: concat([header, ...attributes]) };
}

/** The request as sent: struct nlmsghdr (length, type, flags, sequence, port 0 = the kernel) and its body. */
export function encodeRequest(req: Request, seq: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + align(req.body.length));
  const v = new DataView(out.buffer);
  v.setUint32(0, HEADER_BYTES + req.body.length, LITTLE_ENDIAN);
  v.setUint16(4, req.type, LITTLE_ENDIAN);
  v.setUint16(6, req.flags, LITTLE_ENDIAN);
  v.setUint32(8, seq, LITTLE_ENDIAN);
  out.set(req.body, HEADER_BYTES);
  return out;
}

export type Message = { type: number; flags: number; seq: number; payload: Uint8Array };

/** The messages in one datagram from the kernel. */
export function parseMessages(bytes: Uint8Array): Message[] {
  const out: Message[] = [];
  const v = view(bytes);
  for (let off = 0; off + HEADER_BYTES <= bytes.length; ) {
    const length = v.getUint32(off, LITTLE_ENDIAN);
    if (length < HEADER_BYTES || off + length > bytes.length) {
      throw new Error(`malformed netlink reply: a message at byte ${off} claims ${length} bytes of ${bytes.length - off} left`);
    }
    out.push({
      type: v.getUint16(off + 4, LITTLE_ENDIAN),
      flags: v.getUint16(off + 6, LITTLE_ENDIAN),
      seq: v.getUint32(off + 8, LITTLE_ENDIAN),
      payload: bytes.subarray(off + HEADER_BYTES, off + length),
    });
    off += align(length);
  }
  return out;
}

/** The attributes in `bytes` by type (the nested and byte-order bits masked off); the last of a type wins. */
export function parseAttributes(bytes: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const v = view(bytes);
  for (let off = 0; off + 4 <= bytes.length; ) {
    const length = v.getUint16(off, LITTLE_ENDIAN);
    if (length < 4 || off + length > bytes.length) break;
    out.set(v.getUint16(off + 2, LITTLE_ENDIAN) & 0x3fff, bytes.subarray(off + 4, off + length));
    off += align(length);
  }
  return out;
}

export const readU8 = (bytes: Uint8Array, off = 0) => view(bytes).getUint8(off);
export const readU32 = (bytes: Uint8Array, off = 0) => view(bytes).getUint32(off, LITTLE_ENDIAN);
export const readI32 = (bytes: Uint8Array, off = 0) => view(bytes).getInt32(off, LITTLE_ENDIAN);

/** A string attribute's text, up to its NUL if it has one. */
export function readString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** What an NLMSG_ERROR says: errno 0 is the acknowledgement; `detail` is the kernel's extended ack text, if any. */
export type Ack = { errno: number; detail: string | undefined };

export function parseAck(message: Message): Ack {
  // The kernel sends -errno; 0 - x keeps an acknowledgement's 0 from reading as -0.
  const errno = 0 - readI32(message.payload, 0);
  let detail: string | undefined;
  if (message.flags & NLM_F_ACK_TLVS) {
    // The request comes back after the error code: its header alone when capped, else all of it.
    const echoed = message.flags & NLM_F_CAPPED ? HEADER_BYTES : readU32(message.payload, 4);
    const text = parseAttributes(message.payload.subarray(4 + align(echoed))).get(NLMSGERR_ATTR_MSG);
    if (text) detail = readString(text);
  }
  return { errno, detail };
}
