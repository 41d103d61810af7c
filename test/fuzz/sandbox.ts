// A private world per fuzz case: a "host" netns the plugin runs in (through
// `ip netns exec`, which also mounts that netns's /sys for it), a pod netns,
// and a directory that is the plugin's working directory and holds its IPAM
// data dir. Nothing a case does, valid or not, reaches the real host's links,
// routes, sysctls or nftables, and cases never see each other's state.
//
// Each case removes its world when it ends. For a run that ends abruptly
// (Ctrl-C, a crashed worker), a janitor removes every netns with the run's
// prefix and the run's directory once the test process is gone.

import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ExecutionContext } from 'ava';
import { execa } from 'execa';
import { tempDir, uniqueSuffix } from '../../testbed/fixtures.ts';
import { startJanitor } from '../../testbed/janitor.ts';
import { addNetns, netnsPath, removeNetns } from '../../testbed/netns.ts';
import { SYSTEM_PATH, sh } from '../../testbed/shell.ts';
import type { Fixture } from './values.ts';

// FUZZ_PLUGIN fuzzes another build of the plugin, e.g. an older one.
const WEFT = resolve(process.env.FUZZ_PLUGIN || 'dist/weft');

export type Sandbox = Fixture & { host: string };

export type Sandboxes = {
  create(podSuffix?: string): Promise<Sandbox>;
  destroy(sb: Sandbox): Promise<void>;
};

const JANITOR = `for f in ${netnsPath('')}"$1"*; do [ -e "$f" ] && ip netns del "\${f##*/}"; done
rm -rf -- "$0"`;

export function openSandboxes(t: ExecutionContext): Sandboxes {
  const root = tempDir(t);
  const prefix = `wfz${uniqueSuffix()}`;
  const janitor = startJanitor(JANITOR, [root, prefix]);
  t.teardown(() => janitor.release());
  let n = 0;
  return {
    async create(podSuffix = '') {
      n++;
      const sb = { host: `${prefix}h${n}`, pod: `${prefix}p${n}${podSuffix}`, netns: '', dir: join(root, `c${n}`) };
      mkdirSync(sb.dir);
      [, sb.netns] = await Promise.all([addNetns(sb.host), addNetns(sb.pod)]);
      return sb;
    },
    async destroy(sb) {
      // The links die with their netns: the bridge and the host veth with the
      // host's, the pod end of a pair with the pod's.
      await Promise.all([removeNetns(sb.host), removeNetns(sb.pod)]);
      rmSync(sb.dir, { recursive: true, force: true });
    },
  };
}

export type Run = { exitCode: number; stdout: string; stderr: string; timedOut: boolean };

/** dist/weft in the sandbox's host netns, with exactly `env` (and PATH) and `stdin`. */
export async function runPlugin(sb: Sandbox, env: Record<string, string>, stdin: string): Promise<Run> {
  const r = await execa('ip', ['netns', 'exec', sb.host, WEFT], {
    env: { PATH: SYSTEM_PATH, ...env },
    extendEnv: false,
    input: stdin,
    cwd: sb.dir,
    reject: false,
    stripFinalNewline: false,
    timeout: 60_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), timedOut: r.timedOut };
}

// --- What a netns holds -------------------------------------------------------

export type Link = {
  ifname: string;
  address?: string;
  mtu?: number;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
};
export type KernelRoute = { dst: string; gateway?: string; dev?: string; table?: string; type?: string; protocol?: string };
/** "family table set key . key" for every nftables set element. */
export type NetnsState = { links: Link[]; routes: { 4: KernelRoute[]; 6: KernelRoute[] }; nftElements: string[] };

export async function netnsState(name: string): Promise<NetnsState> {
  const commands = 'addr show\nroute show table all root 0.0.0.0/0\nroute show table all root ::/0\n';
  const r = await sh('ip', ['-d', '-j', '-n', name, '-batch', '-'], commands);
  if (r.exitCode !== 0) throw new Error(`ip -n ${name} -batch: ${r.stderr}`);
  const [links = [], routes4 = [], routes6 = []] = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as unknown[]);
  return { links: links as Link[], routes: { 4: routes4 as KernelRoute[], 6: routes6 as KernelRoute[] }, nftElements: await nftElements(name) };
}

type ListedSet = { set?: { family: string; table: string; name: string; elem?: unknown[] } };

// A concatenation's parts joined as nft prints them; anything else (a prefix, a range) as its JSON.
function elementText(e: unknown): string {
  if (typeof e === 'string') return e;
  const concat = (e as { concat?: unknown[] }).concat;
  return Array.isArray(concat) ? concat.join(' . ') : JSON.stringify(e);
}

async function nftElements(name: string): Promise<string[]> {
  const r = await sh('ip', ['netns', 'exec', name, 'nft', '-j', 'list', 'ruleset']);
  if (r.exitCode !== 0) throw new Error(`nft -j list ruleset in ${name}: ${r.stderr}`);
  const listed = (JSON.parse(r.stdout) as { nftables: ListedSet[] }).nftables;
  // The masquerade's keep sets hold the pod subnets: like the bridge, they outlive the pods.
  const perPod = listed.filter(({ set }) => !(set?.table === 'weft-pod-masq' && set.name.startsWith('keep')));
  return perPod.flatMap(({ set }) => (set?.elem ?? []).map((e) => `${set!.family} ${set!.table} ${set!.name} ${elementText(e)}`));
}

/** One line per link, address and route, for comparing two states; `skip` leaves a link and all on it out. */
export function describeNetns(state: NetnsState, skip?: string): string[] {
  const lines: string[] = [];
  for (const l of state.links.filter((x) => x.ifname !== skip)) {
    const up = l.flags?.includes('UP') ? 'up' : 'down';
    lines.push(`link ${l.ifname} ${l.linkinfo?.info_kind ?? ''} ${l.address} mtu ${l.mtu} master ${l.master ?? '-'} ${up}`);
    for (const a of l.addr_info ?? []) lines.push(`addr ${a.local}/${a.prefixlen} dev ${l.ifname} scope ${a.scope}`);
  }
  for (const r of [...state.routes[4], ...state.routes[6]].filter((x) => x.dev !== skip)) {
    lines.push(`route ${r.table ?? 'main'} ${r.type ?? 'unicast'} ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'} proto ${r.protocol ?? 'boot'}`);
  }
  for (const e of state.nftElements) lines.push(`nft element ${e}`);
  return lines.sort();
}

/** Every file and directory below `dir` ("name/" for a directory), not following links. */
export function tree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel))) {
    const path = rel ? `${rel}/${name}` : name;
    if (lstatSync(join(dir, path)).isDirectory()) out.push(`${path}/`, ...tree(dir, path));
    else out.push(path);
  }
  return out.sort();
}

// Where the IPAM store would go if the plugin took a config without a usable
// ipam.dataDir: outside the sandbox, so it is watched and cleaned up here.
const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

export function defaultStore(name: unknown): string | undefined {
  return typeof name === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name) ? join(DEFAULT_DATA_DIR, name) : undefined;
}

export function removeIfNew(path: string | undefined, existedBefore: boolean): void {
  if (path && !existedBefore && existsSync(path)) rmSync(path, { recursive: true, force: true });
}
