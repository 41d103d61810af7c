// The kernel edge of the netlink path: rtnetlink and nfnetlink sockets
// through Bun's FFI (libc's socket, send, recv, close, setns), nothing
// decided here. Only the plugin uses them, and only when it runs on Bun;
// `bun:ffi` is asked for when the first socket opens, so Node (weftd, the
// unit tests) never loads it.
//
// A netlink socket talks to the namespace it was created in. For a pod's
// namespace the calling thread enters it with setns, creates the socket and
// returns at once, whatever happened: setns moves only the calling thread,
// and bun:ffi calls run on the JavaScript thread, so nothing else in the
// process ever sees the pod's namespace.
import { files, O_RDONLY } from '../files.ts';
import { lastError, libc } from '../libc.ts';
import { encodeRequest, type Message, NLMSG_DONE, NLMSG_ERROR, parseMessages, type Request } from './message.ts';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const NETLINK_ROUTE = 0;
const NETLINK_NETFILTER = 12;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_TRUNC = 0x20;
const EINTR = 4;
const CLONE_NEWNET = 0x40000000;
// A dump reply datagram is at most 32 KiB (the kernel's cap); twice that leaves room.
const RECEIVE_BYTES = 65536;

/** Set when the thread could not return from a pod's namespace: no socket may be trusted to be the node's after that. */
let strandedIn: string | undefined;

/**
 * Runs `fn` with this thread in the network namespace at `path`, and always
 * returns to the thread's own. The file calls made in `fn` (libc's, on
 * Bun: src/linux/files.ts) run on this thread, so /proc/sys/net there is
 * the namespace's.
 */
export function inNamespace<T>(path: string, fn: () => T): T {
  refuseIfStranded();
  const { libc: c } = libc();
  const fs = files();
  const home = fs.open('/proc/thread-self/ns/net', O_RDONLY);
  let target: number | undefined;
  try {
    try {
      target = fs.open(path, O_RDONLY);
    } catch (err) {
      throw new Error(`Cannot open network namespace "${path}": ${(err as Error).message}`, { cause: err });
    }
    if (c.setns(target, CLONE_NEWNET) !== 0) throw lastError(`cannot enter network namespace "${path}"`);
    try {
      return fn();
    } finally {
      if (c.setns(home, CLONE_NEWNET) !== 0) {
        strandedIn = path;
        // biome-ignore lint/correctness/noUnsafeFinally: a thread left in the pod's namespace must win over any other error.
        throw lastError(`cannot return from network namespace "${path}" to the plugin's own`);
      }
    }
  } finally {
    if (target !== undefined) fs.close(target);
    fs.close(home);
  }
}

function newSocket(protocol = NETLINK_ROUTE): number {
  const { libc: c } = libc();
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw lastError(`cannot open ${protocol === NETLINK_ROUTE ? 'an rtnetlink' : 'an nfnetlink'} socket`);
  const one = new Uint8Array(new Int32Array([1]).buffer);
  // Errors echo only the request's header, and carry the kernel's explanation
  // when it has one; a kernel without either still works, with less said.
  c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
  return fd;
}

function refuseIfStranded(): void {
  if (strandedIn) throw new Error(`refusing netlink: this process could not leave network namespace "${strandedIn}" earlier`);
}

function send(fd: number, bytes: Uint8Array, what: string): void {
  if (Number(libc().libc.send(fd, bytes, bytes.length, 0)) !== bytes.length) throw lastError(`cannot send to the kernel over ${what}`);
}

/** The messages of the next datagram the kernel sends; a copy, since `buffer` is reused. */
function receive(fd: number, buffer: Uint8Array, what: string): Message[] {
  for (;;) {
    const n = Number(libc().libc.recv(fd, buffer, buffer.length, MSG_TRUNC));
    if (n < 0) {
      if (libc().errno() === EINTR) continue;
      throw lastError(`cannot read the kernel's ${what} reply`);
    }
    if (n > buffer.length) throw new Error(`an ${what} reply of ${n} bytes does not fit the ${buffer.length}-byte buffer (this is a bug in weft: report it)`);
    return parseMessages(buffer.slice(0, n));
  }
}

/** One rtnetlink socket, in the node's namespace or a pod's. */
export class RtnlSocket {
  readonly #fd: number;
  readonly #buffer = new Uint8Array(RECEIVE_BYTES);
  #seq = 0;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** A socket in the namespace at `netns`, or in the plugin's own. */
  static open(netns: string | undefined): RtnlSocket {
    refuseIfStranded();
    return new RtnlSocket(netns ? inNamespace(netns, newSocket) : newSocket());
  }

  /** Sends one request and returns every reply message to it, up to and including its acknowledgement or the end of its dump. */
  exchange(req: Request): Message[] {
    const seq = ++this.#seq;
    send(this.#fd, encodeRequest(req, seq), 'rtnetlink');
    const replies: Message[] = [];
    for (;;) {
      for (const m of receive(this.#fd, this.#buffer, 'rtnetlink')) {
        if (m.seq !== seq) continue;
        replies.push(m);
        if (m.type === NLMSG_ERROR || m.type === NLMSG_DONE) return replies;
      }
    }
  }

  close(): void {
    libc().libc.close(this.#fd);
  }
}

/** One nfnetlink socket in the plugin's own namespace (weft's nftables tables are the node's); it has no close, see src/linux/nft.ts. */
export class NfnlSocket {
  readonly #fd: number;
  readonly #buffer = new Uint8Array(RECEIVE_BYTES);

  private constructor(fd: number) {
    this.#fd = fd;
  }

  static open(): NfnlSocket {
    refuseIfStranded();
    return new NfnlSocket(newSocket(NETLINK_NETFILTER));
  }

  /** Sends a batch as one datagram, as nfnetlink needs it. */
  send(bytes: Uint8Array): void {
    send(this.#fd, bytes, 'nfnetlink');
  }

  /** The messages of the next reply datagram. */
  receive(): Message[] {
    return receive(this.#fd, this.#buffer, 'nfnetlink');
  }
}
