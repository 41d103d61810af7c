// An `ip -batch` and an `ip -j -d show` batch carried out over one rtnetlink
// socket instead of an iproute2 process: the same commands in the same order,
// stopping at the first failure (or, forced, going on and naming every
// failed line), so src/linux/ip.ts can give its callers the same errors.
import { type Cidr, parseCidr } from '../../net/address.ts';
import { files, O_RDONLY } from '../files.ts';
import { errnoText } from '../libc.ts';
import { IFLA_IFNAME } from './attributes.ts';
import { CommandFailure, UnsupportedCommandError } from './errors.ts';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  ifaddrmsg,
  ifinfomsg,
  type Message,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseAck,
  type Request,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  readI32,
  request,
  rtmsg,
  stringAttribute,
} from './message.ts';
import { addressesByLink, type DecodedLink, decodeLink, mainRoutes, namedLinks } from './replies.ts';
import { checkSupported, ipRequest } from './requests.ts';
import { RtnlSocket } from './socket.ts';

const ENODEV = 19;

/** The show forms `netlinkShow` answers. */
export const SUPPORTED_SHOWS = ['link show', 'link show dev NAME', 'link show type KIND', 'addr show', 'route show table main root CIDR'] as const;

/** The batch failed: each failed command by index, with iproute2's kind of reason. */
export class NetlinkBatchError extends Error {
  readonly failures: { index: number; reason: string }[];

  constructor(failures: { index: number; reason: string }[]) {
    super(failures.map((f) => `command ${f.index}: ${f.reason}`).join('; '));
    this.name = 'NetlinkBatchError';
    this.failures = failures;
  }
}

/** The kernel's refusal of a request as iproute2 words it, with its extended explanation when it gave one. */
function refusal(errno: number, detail: string | undefined): CommandFailure {
  return new CommandFailure(`RTNETLINK answers: ${errnoText(errno)}${detail ? ` (${detail})` : ''}`, errno);
}

/** The messages of a reply that carry data; a refusal throws. */
function answer(replies: Message[]): Message[] {
  const last = replies.at(-1)!;
  // A dump ends with NLMSG_DONE, whose payload is the dump's error code.
  const { errno, detail } = last.type === NLMSG_ERROR ? parseAck(last) : { errno: last.payload.length >= 4 ? 0 - readI32(last.payload) : 0, detail: undefined };
  if (errno !== 0) throw refusal(errno, detail);
  return replies.filter((m) => m.type !== NLMSG_ERROR && m.type !== NLMSG_DONE);
}

/** The payloads of a dump, read again while the kernel says it changed under the reading. */
function dump(socket: RtnlSocket, req: Request): Uint8Array[] {
  for (let attempt = 0; ; attempt++) {
    const replies = socket.exchange(req);
    const data = answer(replies);
    if (!replies.some((m) => m.flags & NLM_F_DUMP_INTR) || attempt === 4) return data.map((m) => m.payload);
  }
}

/** The kernel's description of one link, by name or by index, or undefined when there is none. */
function linkReply(socket: RtnlSocket, which: string | number): Message | undefined {
  const req =
    typeof which === 'string' ? request(RTM_GETLINK, 0, ifinfomsg(0), [stringAttribute(IFLA_IFNAME, which, true)]) : request(RTM_GETLINK, 0, ifinfomsg(which));
  try {
    return answer(socket.exchange(req))[0];
  } catch (err) {
    if (err instanceof CommandFailure && err.errno === ENODEV) return undefined;
    throw err;
  }
}

function getLink(socket: RtnlSocket, which: string | number): DecodedLink | undefined {
  const reply = linkReply(socket, which);
  return reply && decodeLink(reply.payload);
}

/** A link's index, from the reply's ifinfomsg alone (a command needs nothing else); iproute2's words when there is none. */
function linkIndex(socket: RtnlSocket, name: string): number {
  const reply = linkReply(socket, name);
  if (!reply) throw new CommandFailure(`Cannot find device "${name}"`, ENODEV);
  return readI32(reply.payload, 4);
}

const dumpLinks = (socket: RtnlSocket) => dump(socket, request(RTM_GETLINK, NLM_F_DUMP, ifinfomsg(0))).map(decodeLink);

/** Carries out `commands` in order in the namespace at `netns` (or the plugin's own). */
export function netlinkBatch(commands: readonly (readonly string[])[], netns: string | undefined, force: boolean): void {
  checkSupported(commands);
  const socket = RtnlSocket.open(netns);
  const namespaces = new Map<string, number>();
  // Indexes found so far. A link added takes a name no link had (or the add
  // fails); a link deleted may take others with it (a veth's peer).
  const indexes = new Map<string, number>();
  const lookup = {
    index(name: string): number {
      let index = indexes.get(name);
      if (index === undefined) {
        index = linkIndex(socket, name);
        indexes.set(name, index);
      }
      return index;
    },
    netnsFd(path: string): number {
      let fd = namespaces.get(path);
      if (fd === undefined) {
        try {
          fd = files().open(path, O_RDONLY);
        } catch (err) {
          throw new CommandFailure(`Cannot open network namespace "${path}": ${(err as Error).message}`, undefined, { cause: err });
        }
        namespaces.set(path, fd);
      }
      return fd;
    },
  };
  const failures: { index: number; reason: string }[] = [];
  try {
    for (const [index, words] of commands.entries()) {
      try {
        answer(socket.exchange(ipRequest(words, lookup)));
        if (words[0] === 'link' && words[1] === 'del') indexes.clear();
      } catch (err) {
        if (!(err instanceof CommandFailure)) throw err;
        failures.push({ index, reason: err.message });
        if (!force) break;
      }
    }
  } finally {
    socket.close();
    for (const fd of namespaces.values()) files().close(fd);
  }
  if (failures.length > 0) throw new NetlinkBatchError(failures);
}

/** A show command, read. */
export type ShowForm = { kind: 'links'; type: string | undefined } | { kind: 'link'; name: string } | { kind: 'addresses' } | { kind: 'routes'; root: Cidr };

/** Which of the supported show forms `words` is; any other throws UnsupportedCommandError. */
export function parseShow(words: readonly string[]): ShowForm {
  const [object, verb, keyword, value, ...rest] = words;
  if (object === 'link' && verb === 'show' && rest.length === 0) {
    if (keyword === undefined) return { kind: 'links', type: undefined };
    if (keyword === 'type' && value !== undefined) return { kind: 'links', type: value };
    if (keyword === 'dev' && value !== undefined) return { kind: 'link', name: value };
  }
  if (object === 'addr' && verb === 'show' && keyword === undefined) return { kind: 'addresses' };
  if (object === 'route' && verb === 'show' && keyword === 'table' && value === 'main' && rest.length === 2 && rest[0] === 'root') {
    const root = parseCidr(rest[1]!);
    if (root) return { kind: 'routes', root };
  }
  throw new UnsupportedCommandError(words, SUPPORTED_SHOWS);
}

/** Each show command's answer, shaped as `ip -j -d` prints it, read in the namespace at `netns` (or the plugin's own). */
export function netlinkShow(commands: readonly (readonly string[])[], netns: string | undefined): unknown[][] {
  const forms = commands.map(parseShow);
  const socket = RtnlSocket.open(netns);
  try {
    return forms.map((form, index) => {
      try {
        return show(socket, form);
      } catch (err) {
        if (err instanceof CommandFailure) throw new NetlinkBatchError([{ index, reason: err.message }]);
        throw err;
      }
    });
  } finally {
    socket.close();
  }
}

function show(socket: RtnlSocket, form: ShowForm): unknown[] {
  switch (form.kind) {
    case 'links': {
      const links = namedLinks(dumpLinks(socket));
      return form.type === undefined ? links : links.filter((l) => l.linkinfo?.info_kind === form.type);
    }
    case 'link': {
      const link = getLink(socket, form.name);
      if (!link) throw new CommandFailure(`Device "${form.name}" does not exist.`, ENODEV);
      const master = link.masterIndex === undefined ? undefined : getLink(socket, link.masterIndex);
      return namedLinks([link], new Map(master ? [[master.ifindex, master.ifname]] : []));
    }
    case 'addresses':
      return addressesByLink(namedLinks(dumpLinks(socket)), dump(socket, request(RTM_GETADDR, NLM_F_DUMP, ifaddrmsg(AF_UNSPEC, 0, 0, 0, 0))));
    case 'routes': {
      const names = new Map(dumpLinks(socket).map((l) => [l.ifindex, l.ifname]));
      const family = form.root.family === 4 ? AF_INET : AF_INET6;
      const header = rtmsg({ family, dstLen: 0, table: 0, protocol: 0, scope: 0, type: 0 });
      return mainRoutes(dump(socket, request(RTM_GETROUTE, NLM_F_DUMP, header)), form.root, names);
    }
  }
}
