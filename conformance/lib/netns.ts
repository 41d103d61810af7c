// Network namespaces standing in for pods. Names carry the suite's pid so
// concurrent runs never collide and leftovers can be traced to their run.
import { defer } from './cleanup.ts';
import { isObject, parseIproute2Json } from './json.ts';
import { type Completed, describeFailure, run } from './process.ts';

export type Netns = { name: string; path: string; forget: () => void };

const NETNS_PREFIX = `cft-${process.pid}-`;
let created = 0;

/** `label` ends the name, for checks that need a path holding particular characters. */
export async function createNetns(label = ''): Promise<Netns> {
  const name = `${NETNS_PREFIX}${++created}${label}`;
  const forget = defer(`delete netns ${JSON.stringify(name)}`, () => removeNetns(name));
  await ip(['netns', 'add', name], `create netns ${JSON.stringify(name)}`);
  return { name, path: `/run/netns/${name}`, forget };
}

/** Deletes the namespace now, as a runtime does when a pod goes away. */
export async function deleteNetns(netns: Netns): Promise<void> {
  await ip(['netns', 'delete', netns.name], `delete netns ${netns.name}`);
  netns.forget();
}

async function removeNetns(name: string): Promise<void> {
  const completed = await run('ip', ['netns', 'delete', name]);
  if (completed.exitCode !== 0 && !/No such file|Invalid argument/.test(completed.stderr)) {
    throw new Error(`${describeFailure(`ip netns delete ${JSON.stringify(name)}`, completed)}; delete it by hand`);
  }
}

/** `ip -j <args>` inside the namespace, parsed. */
export async function ipJsonIn(netns: Netns, args: readonly string[]): Promise<unknown> {
  const completed = await ip(['-n', netns.name, '-j', ...args], `read ${args.join(' ')} in netns ${JSON.stringify(netns.name)}`);
  return parseIproute2Json(completed.stdout);
}

export async function linkNamesIn(netns: Netns): Promise<string[]> {
  const links = await ipJsonIn(netns, ['link', 'show']);
  return Array.isArray(links) ? links.filter(isObject).map((link) => String(link.ifname)) : [];
}

/** `ip <args>` in the host namespace; throws with the command's output when it fails. */
export async function ip(args: readonly string[], purpose: string): Promise<Completed> {
  const completed = await run('ip', args);
  if (completed.exitCode !== 0) {
    throw new Error(`cannot ${purpose}: ${describeFailure(`ip ${args.join(' ')}`, completed)}`);
  }
  return completed;
}

/** One echo request from inside the namespace; the first may be lost to neighbour resolution, so up to three tries. */
export async function pingFrom(netns: Netns, ifname: string, address: string): Promise<Completed> {
  const family = address.includes(':') ? '-6' : '-4';
  const ping = () => run('ip', ['netns', 'exec', netns.name, 'ping', family, '-c1', '-W1', '-I', ifname, address]);
  let completed = await ping();
  for (let retries = 2; completed.exitCode !== 0 && retries > 0; retries--) completed = await ping();
  return completed;
}
