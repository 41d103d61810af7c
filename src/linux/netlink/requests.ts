// The plugin's iproute2 command forms as rtnetlink requests: the same words
// src/cni builds for `ip -batch`, read the way iproute2 reads them, and
// encoded the way iproute2 encodes them (flags, scopes, which attributes),
// so what the kernel is asked to do does not depend on which path asked.
// Only the forms below are spoken; anything else is a bug in weft and is
// refused loudly rather than passed to `ip`.
import { BITS, parseAddress, parseCidr } from '../../net/address.ts';
import {
  IFA_ADDRESS,
  IFA_F_NODAD,
  IFA_LOCAL,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_BRPORT_MODE,
  IFLA_IFALIAS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_INFO_SLAVE_DATA,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTN_UNICAST,
  RTPROT_BOOT,
  VETH_INFO_PEER,
} from './attributes.ts';
import { CommandFailure, UnsupportedCommandError } from './errors.ts';
import {
  AF_INET,
  AF_INET6,
  attribute,
  concat,
  ifaddrmsg,
  ifinfomsg,
  macBytes,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  nestedAttribute,
  type Request,
  RTM_DELLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  request,
  rtmsg,
  stringAttribute,
  u8Attribute,
  u32Attribute,
} from './message.ts';

/** The command forms this file encodes. */
export const SUPPORTED_COMMANDS = [
  'link add name NAME [mtu N] [address MAC] type bridge',
  'link add name NAME [mtu N] [address MAC] [master NAME] [up] type veth peer name NAME [mtu N] [address MAC] [netns PATH]',
  'link set dev NAME [up|down] [mtu N] [address MAC] [alias TEXT] [master NAME] [type bridge_slave hairpin on|off]',
  'link del dev NAME',
  'addr add|replace CIDR dev NAME [nodad]',
  'route add CIDR [via ADDRESS] dev NAME',
] as const;

/** What a request needs from the kernel that the words only name: link indexes and namespace file descriptors. */
export type Lookup = {
  /** The link's index in the batch's namespace; throws a CommandFailure naming the device when there is none. */
  index(name: string): number;
  /** An open descriptor of the network namespace at `path`; throws a CommandFailure when it cannot be opened. */
  netnsFd(path: string): number;
};

/** The request for one command, or a CommandFailure for a bad value, or an UnsupportedCommandError for a form not listed above. */
export function ipRequest(words: readonly string[], lookup: Lookup): Request {
  const unsupported = () => new UnsupportedCommandError(words, SUPPORTED_COMMANDS);
  const [object, verb] = words;
  if (object === 'link' && words[3] === undefined) throw unsupported();
  if (object === 'link' && verb === 'add' && words[2] === 'name') return linkAdd(new Words(words, 4, unsupported), words[3], lookup);
  if (object === 'link' && verb === 'set' && words[2] === 'dev') return linkSet(new Words(words, 4, unsupported), words[3], lookup);
  if (object === 'link' && verb === 'del' && words[2] === 'dev' && words.length === 4) {
    return request(RTM_DELLINK, 0, ifinfomsg(lookup.index(words[3]!)));
  }
  if (object === 'addr' && (verb === 'add' || verb === 'replace')) return addrAdd(new Words(words, 2, unsupported), verb === 'replace', lookup);
  if (object === 'route' && verb === 'add') return routeAdd(new Words(words, 2, unsupported), lookup);
  throw unsupported();
}

// Stands in for the kernel when a batch is only read through: any index, a descriptor that is never used.
const DRY_RUN: Lookup = { index: () => 1, netnsFd: () => -1 };

/**
 * Reads every command before the first is sent, so a form this file does not
 * speak fails the batch before it changes anything. A bad value is left for
 * its turn: iproute2 fails such a line only when it reaches it.
 */
export function checkSupported(commands: readonly (readonly string[])[]): void {
  for (const words of commands) {
    try {
      ipRequest(words, DRY_RUN);
    } catch (err) {
      if (!(err instanceof CommandFailure)) throw err;
    }
  }
}

/** A cursor over a command's words. */
class Words {
  readonly #words: readonly string[];
  #at: number;
  readonly #unsupported: () => Error;

  constructor(words: readonly string[], at: number, unsupported: () => Error) {
    this.#words = words;
    this.#at = at;
    this.#unsupported = unsupported;
  }

  get done(): boolean {
    return this.#at >= this.#words.length;
  }

  peek(): string | undefined {
    return this.#words[this.#at];
  }

  /** The next word, which must exist (a keyword's value). */
  next(): string {
    const word = this.#words[this.#at++];
    if (word === undefined) throw this.#unsupported();
    return word;
  }

  expect(...words: string[]): void {
    for (const w of words) if (this.next() !== w) throw this.#unsupported();
  }

  unsupported(): Error {
    return this.#unsupported();
  }
}

const invalid = (keyword: string, value: string) => new CommandFailure(`Error: argument "${value}" is wrong: Invalid "${keyword}" value`);

function mtu(value: string): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n <= 0xffffffff)) throw invalid('mtu', value);
  return n;
}

function mac(value: string): Uint8Array {
  const bytes = macBytes(value);
  if (!bytes) throw invalid('address', value);
  return bytes;
}

function addressBytes(family: 4 | 6, value: bigint): Uint8Array {
  const bytes = new Uint8Array(BITS[family] / 8);
  for (let i = bytes.length - 1, v = value; i >= 0; i--, v >>= 8n) bytes[i] = Number(v & 0xffn);
  return bytes;
}

/**
 * mtu, address and netns as `ip link add` and its peer take them, into IFLA
 * attributes; with `link`, the link itself (not a peer), master and up too,
 * up into its flags. The kernel makes the link a port and brings it up as it
 * creates it, one request where `link set` would take two more.
 */
function linkOptions(w: Words, lookup: Lookup, stop: string, link?: { flags: number }): Uint8Array[] {
  const attrs: Uint8Array[] = [];
  while (!w.done && w.peek() !== stop) {
    const keyword = w.next();
    if (keyword === 'mtu') attrs.push(u32Attribute(IFLA_MTU, mtu(w.next())));
    else if (keyword === 'address') attrs.push(attribute(IFLA_ADDRESS, mac(w.next())));
    else if (keyword === 'netns') attrs.push(u32Attribute(IFLA_NET_NS_FD, lookup.netnsFd(w.next())));
    else if (link && keyword === 'master') attrs.push(u32Attribute(IFLA_MASTER, lookup.index(w.next())));
    else if (link && keyword === 'up') link.flags |= IFF_UP;
    else throw w.unsupported();
  }
  return attrs;
}

function linkAdd(w: Words, name: string | undefined, lookup: Lookup): Request {
  const link = { flags: 0 };
  const attrs = [stringAttribute(IFLA_IFNAME, name!, true), ...linkOptions(w, lookup, 'type', link)];
  w.expect('type');
  const kind = w.next();
  let data: Uint8Array[] = [];
  if (kind === 'veth') {
    w.expect('peer', 'name');
    const peer = [stringAttribute(IFLA_IFNAME, w.next(), true), ...linkOptions(w, lookup, '')];
    // The peer is a whole link description: its own ifinfomsg, then its attributes.
    data = [nestedAttribute(IFLA_INFO_DATA, [attribute(VETH_INFO_PEER, concat([ifinfomsg(0), ...peer]))])];
  } else if (kind !== 'bridge' || !w.done) {
    throw w.unsupported();
  }
  attrs.push(nestedAttribute(IFLA_LINKINFO, [stringAttribute(IFLA_INFO_KIND, kind, false), ...data]));
  return request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(0, link.flags, link.flags), attrs);
}

function linkSet(w: Words, name: string | undefined, lookup: Lookup): Request {
  let flags = 0;
  let change = 0;
  const attrs: Uint8Array[] = [];
  // Looked up first, as iproute2 does: an unknown device is the line's error whatever follows.
  const index = lookup.index(name!);
  while (!w.done) {
    const keyword = w.next();
    if (keyword === 'up' || keyword === 'down') {
      change |= IFF_UP;
      flags = keyword === 'up' ? flags | IFF_UP : flags & ~IFF_UP;
    } else if (keyword === 'mtu') attrs.push(u32Attribute(IFLA_MTU, mtu(w.next())));
    else if (keyword === 'address') attrs.push(attribute(IFLA_ADDRESS, mac(w.next())));
    else if (keyword === 'alias') attrs.push(stringAttribute(IFLA_IFALIAS, w.next(), false));
    else if (keyword === 'master') attrs.push(u32Attribute(IFLA_MASTER, lookup.index(w.next())));
    else if (keyword === 'type') {
      // Bridge port options go to the port's master (the bridge) as slave data.
      w.expect('bridge_slave', 'hairpin');
      const on = w.next();
      if (on !== 'on' && on !== 'off') throw invalid('hairpin', on);
      if (!w.done) throw w.unsupported();
      attrs.push(nestedAttribute(IFLA_LINKINFO, [nestedAttribute(IFLA_INFO_SLAVE_DATA, [u8Attribute(IFLA_BRPORT_MODE, on === 'on' ? 1 : 0)])]));
    } else throw w.unsupported();
  }
  return request(RTM_NEWLINK, 0, ifinfomsg(index, flags, change), attrs);
}

function addrAdd(w: Words, replace: boolean, lookup: Lookup): Request {
  const text = w.next();
  const cidr = parseCidr(text);
  if (!cidr) throw new CommandFailure(`Error: any valid prefix is expected rather than "${text}".`);
  w.expect('dev');
  const index = lookup.index(w.next());
  let flags = 0;
  if (w.peek() === 'nodad') {
    w.next();
    flags |= IFA_F_NODAD;
  }
  if (!w.done) throw w.unsupported();
  const bytes = addressBytes(cidr.family, cidr.host);
  const family = cidr.family === 4 ? AF_INET : AF_INET6;
  return request(RTM_NEWADDR, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), ifaddrmsg(family, cidr.prefix, flags, RT_SCOPE_UNIVERSE, index), [
    attribute(IFA_LOCAL, bytes),
    attribute(IFA_ADDRESS, bytes),
  ]);
}

function routeAdd(w: Words, lookup: Lookup): Request {
  const text = w.next();
  const dst = parseCidr(text);
  if (!dst) throw new CommandFailure(`Error: any valid prefix is expected rather than "${text}".`);
  const attrs: Uint8Array[] = [];
  if (dst.prefix > 0) attrs.push(attribute(RTA_DST, addressBytes(dst.family, dst.host)));
  let gateway = false;
  if (w.peek() === 'via') {
    w.next();
    const gwText = w.next();
    const gw = parseAddress(gwText);
    if (!gw || gw.family !== dst.family) throw new CommandFailure(`Error: inet${dst.family === 6 ? '6' : ''} address is expected rather than "${gwText}".`);
    attrs.push(attribute(RTA_GATEWAY, addressBytes(gw.family, gw.value)));
    gateway = true;
  }
  w.expect('dev');
  attrs.push(u32Attribute(RTA_OIF, lookup.index(w.next())));
  if (!w.done) throw w.unsupported();
  // iproute2's default: a route without a gateway is on the link.
  const header = rtmsg({
    family: dst.family === 4 ? AF_INET : AF_INET6,
    dstLen: dst.prefix,
    table: RT_TABLE_MAIN,
    protocol: RTPROT_BOOT,
    scope: gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
    type: RTN_UNICAST,
  });
  return request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, header, attrs);
}
