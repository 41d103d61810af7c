// The built plugin (dist/weft) as its runtime, whichever tools/build.ts
// chose, meets it on a node: started by a Go parent (containerd, the kubelet)
// that may have every signal blocked, and from any working directory.
//
// Go's os/exec lets a child inherit the parent's signal mask, and Bun keeps an
// inherited blocked mask (oven-sh/bun#38926): a runtime that waited for its
// `ip` children through SIGCHLD would hang there. So ADD and DEL run under a
// parent that blocks every signal it can, and must do all their kernel work.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { footprint, makeNetwork, type Run } from '../../testbed/cni.ts';
import { parseJson } from '../../testbed/cnitool.ts';
import { makeNetns, tempDir, uniqueSuffix } from '../../testbed/fixtures.ts';
import { ipJson } from '../../testbed/netns.ts';
import { DIST } from '../../testbed/paths.ts';
import { SYSTEM_PATH } from '../../testbed/shell.ts';

/** Blocks every signal (the kernel keeps SIGKILL and SIGSTOP out), then execs the rest of its arguments. */
const BLOCK_ALL = 'my $s = POSIX::SigSet->new; $s->fillset; sigprocmask(SIG_BLOCK, $s) or die "sigprocmask: $!"; exec @ARGV or die "exec: $!"';

// Far above an ADD's tens of milliseconds: only a plugin stuck waiting for a
// signal that never comes gets there.
const TIMEOUT_MS = 20_000;

async function blockingAllSignals(command: string[], env: Record<string, string>, input = ''): Promise<Run> {
  const r = await execa('perl', ['-MPOSIX', '-e', BLOCK_ALL, ...command], {
    env: { PATH: SYSTEM_PATH, ...env },
    extendEnv: false,
    input,
    reject: false,
    timeout: TIMEOUT_MS,
  });
  if (r.timedOut) throw new Error(`${command.join(' ')} under a blocked signal mask did not finish in ${TIMEOUT_MS} ms`);
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json: parseJson(r.stdout) };
}

type Result = { interfaces: { name: string; mac: string }[]; ips: { address: string; gateway: string }[] };

test('the parent the next test uses really blocks every signal for its child', async (t) => {
  const r = await blockingAllSignals(['grep', '^SigBlk:', '/proc/self/status'], {});
  t.is(r.exitCode, 0, r.stderr);
  // All 64 signals but SIGKILL (9) and SIGSTOP (19), which cannot be blocked;
  // glibc's two internal ones (32, 33) are left out by sigfillset.
  t.is(r.stdout.trim(), 'SigBlk:\tfffffffe7ffbfeff');
});

test('ADD and DEL under a parent that blocks every signal do their work, and the kernel matches', async (t) => {
  const net = await makeNetwork(t);
  const pod = await makeNetns(t);
  const containerId = `rt-${uniqueSuffix()}`;
  const env = { CNI_CONTAINERID: containerId, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
  const weft = join(DIST, 'weft');

  const add = await blockingAllSignals([weft], { ...env, CNI_COMMAND: 'ADD' }, JSON.stringify(net.pluginConf));
  t.is(add.exitCode, 0, `${add.stdout}${add.stderr}`);
  const result = add.json as Result;
  const address = result.ips[0]!.address;
  t.is(result.ips[0]!.gateway, `${net.prefix}1`);

  const [eth0] = await ipJson<{ address: string; addr_info: { family: string; local: string; prefixlen: number }[] }>(
    ['addr', 'show', 'dev', 'eth0'],
    pod.name,
  );
  t.deepEqual(
    eth0!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    [address],
  );
  t.is(eth0!.address, result.interfaces[2]!.mac);
  const routes = await ipJson<{ dst: string; gateway?: string }>(['route', 'show'], pod.name);
  t.true(
    routes.some((r) => r.dst === 'default' && r.gateway === `${net.prefix}1`),
    'default route through the gateway',
  );
  const hostVeth = result.interfaces[1]!.name;
  t.deepEqual(await footprint(net, containerId), {
    bridgeExists: true,
    bridgePorts: [hostVeth],
    hostVeth,
    reservations: [address.split('/')[0]!],
  });

  const del = await blockingAllSignals([weft], { ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(net.pluginConf));
  t.is(del.exitCode, 0, `${del.stdout}${del.stderr}`);
  t.deepEqual(await footprint(net, containerId), { bridgeExists: true, bridgePorts: [], hostVeth: undefined, reservations: [] });
  t.deepEqual(await ipJson(['link', 'show', 'type', 'veth'], pod.name), [], 'the pod end went with the host end');
});

test('settings in the working directory (.env, bunfig.toml) do not reach the plugin', async (t) => {
  // A Bun executable reads both by default; the build turns that off, and a
  // plugin started in a directory holding them must not take CNI_COMMAND
  // from there.
  const dir = join(tempDir(t), 'cwd');
  mkdirSync(dir);
  writeFileSync(join(dir, '.env'), 'CNI_COMMAND=VERSION\n');
  writeFileSync(join(dir, 'bunfig.toml'), 'preload = ["./missing.ts"]\n');
  const r = await execa(join(DIST, 'weft'), [], { cwd: dir, env: { PATH: SYSTEM_PATH }, extendEnv: false, input: '', reject: false });
  const reply = parseJson(r.stdout);
  t.is(r.exitCode, 1, r.stdout);
  t.is(reply?.code, 4, r.stdout);
  t.regex(String(reply?.msg), /CNI_COMMAND/);
});
