// A failed ADD leaves nothing behind, wherever it fails: no reservation, no
// veth, no nft element, and no bridge it created; and failing again and again accumulates
// nothing. Failures are real kernel refusals set up beforehand, or a failing
// `nft` put first on the plugin's PATH, the way a broken node would fail it
// (the plugin runs no `ip`: it speaks rtnetlink itself).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { hostVethName } from '../../src/cni/host-veth.ts';
import { execWeft, footprint, makeNetwork, type TestNetwork } from '../../testbed/cni.ts';
import { makeNetns, tempDir, uniqueSuffix } from '../../testbed/fixtures.ts';
import { ipJson } from '../../testbed/netns.ts';
import { antispoofElementsOf, isMasqueraded } from '../../testbed/nft-elements.ts';
import { DIST } from '../../testbed/paths.ts';
import { must, SYSTEM_PATH } from '../../testbed/shell.ts';
import { pathWith } from '../../testbed/tool-path.ts';

/** The network's links on the host: its bridge, the bridge's ports, and veths carrying its alias. */
async function networkLinks(net: TestNetwork): Promise<string[]> {
  const links = await ipJson<{ ifname: string; master?: string; ifalias?: string }>(['link', 'show']);
  return links
    .filter((l) => l.ifname === net.bridge || l.master === net.bridge || l.ifalias === `weft:${net.name}`)
    .map((l) => l.ifname)
    .sort();
}

test('ADD that fails inside the pod netns removes the veth, the bridge it created and the reservation', async (t) => {
  const net = await makeNetwork(t);
  const pod = await makeNetns(t);
  // The pod already has a default route, so the kernel refuses the pod's own,
  // the last pod-side step, after eth0 got its address and went up.
  await must('ip', ['-n', pod.name, 'route', 'add', 'blackhole', 'default']);
  const containerId = `rb-${uniqueSuffix()}`;
  const r = await execWeft({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' }, JSON.stringify(net.pluginConf));
  t.is(r.json?.code, 100);
  t.regex(String(r.json?.msg), /cannot configure eth0 in .*: route add 0\.0\.0\.0\/0 via \S+ dev eth0 \(in \S+\): RTNETLINK answers: File exists/);
  t.deepEqual(await footprint(net, containerId), { bridgeExists: false, bridgePorts: [], hostVeth: undefined, reservations: [] });
  t.deepEqual(await ipJson(['link', 'show', 'type', 'veth'], pod.name), [], 'no veth end left in the pod either');
});

test('ADD that fails at the last step (masquerade) undoes everything, and keeps a bridge it did not create', async (t) => {
  const net = await makeNetwork(t, { extra: { ipMasq: true } });
  const pod = await makeNetns(t);
  const neighbour = await makeNetns(t);
  // A pod already on the bridge: the bridge is not this ADD's to remove.
  const first = await execWeft(
    {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'rb-neighbour',
      CNI_NETNS: neighbour.path,
      CNI_IFNAME: 'eth0',
      PATH: pathWith(t, 'nft', 'cat >/dev/null; exit 0'),
    },
    JSON.stringify(net.pluginConf),
  );
  t.is(first.exitCode, 0, first.stdout);
  const before = await footprint(net, 'rb-neighbour');

  const PATH = pathWith(t, 'nft', 'cat >/dev/null; echo "Error: injected failure" >&2; exit 1');
  const r = await execWeft({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'rb-masq', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', PATH }, JSON.stringify(net.pluginConf));
  t.is(r.json?.code, 100);
  t.regex(String(r.json?.msg), /cannot add the pod's masquerade and anti-spoofing to nftables: nft: Error: injected failure/);
  const after = await footprint(net, 'rb-masq');
  t.is(after.hostVeth, undefined);
  t.true(after.bridgeExists);
  t.deepEqual(after.bridgePorts, before.bridgePorts, 'the neighbour stays plugged in');
  t.deepEqual(after.reservations, before.reservations, "only the neighbour's address stays reserved");
  t.deepEqual(await ipJson(['link', 'show', 'type', 'veth'], pod.name), []);
});

test('ADD that fails after its nft transaction removes the masquerade and anti-spoofing elements too', async (t) => {
  const net = await makeNetwork(t, { extra: { ipMasq: true } });
  const pod = await makeNetns(t);
  // The round-robin marker is written last; a directory in its place fails it.
  mkdirSync(join(net.dataDir, net.name, 'last_reserved_ip.0', 'blocker'), { recursive: true });
  const containerId = `rb-late-${uniqueSuffix()}`;
  const r = await execWeft({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' }, JSON.stringify(net.pluginConf));
  t.regex(String(r.json?.msg), /cannot write .*last_reserved_ip\.0/, r.stdout);
  t.deepEqual(await footprint(net, containerId), { bridgeExists: false, bridgePorts: [], hostVeth: undefined, reservations: [] });
  t.deepEqual(await antispoofElementsOf(hostVethName(containerId, 'eth0')), [], 'no anti-spoofing element is left');
  t.false(await isMasqueraded(`${net.prefix}2`), 'the address it had is not masqueraded');
});

test('repeated failing ADDs never accumulate links', async (t) => {
  const net = await makeNetwork(t);
  const pod = await makeNetns(t);
  // The pod already has eth0: every ADD fails once its veth reaches the pod.
  await must('ip', ['-n', pod.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer']);
  const before = await networkLinks(net);
  for (let i = 0; i < 5; i++) {
    const r = await execWeft(
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `rb-repeat-${i}`, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' },
      JSON.stringify(net.pluginConf),
    );
    t.is(r.json?.code, 4);
  }
  t.deepEqual(await networkLinks(net), before);
  t.deepEqual((await footprint(net, 'rb-repeat-0')).reservations, []);
  for (let i = 0; i < 5; i++) t.deepEqual(await antispoofElementsOf(hostVethName(`rb-repeat-${i}`, 'eth0')), []);
});

test('in a node namespace whose /sys still shows the host, the second ADD finds the bridge through the kernel', async (t) => {
  // unshare --net --mount keeps the host's sysfs: /sys/class/net lists the
  // host's links, not this namespace's. Each pod netns is a sleeping process.
  const dir = tempDir(t);
  const conf = JSON.stringify({
    cniVersion: '1.1.0',
    name: 'stale-sysfs',
    type: 'weft',
    bridge: 'wsys0',
    ipam: { ranges: [[{ subnet: '10.231.0.0/24' }]], dataDir: dir },
  });
  writeFileSync(join(dir, 'conf.json'), conf);
  const weft = join(DIST, 'weft');
  const script = `set -e
ip link set lo up
pids=
trap 'kill $pids 2>/dev/null' EXIT
for i in 1 2; do
  unshare --net sleep 60 & pid=$!; pids="$pids $pid"
  sleep 0.2
  CNI_COMMAND=ADD CNI_CONTAINERID=stale-$i CNI_NETNS=/proc/$pid/ns/net CNI_IFNAME=eth0 ${weft} < ${dir}/conf.json
  echo
done
ip -j link show master wsys0`;
  const r = await execa('unshare', ['--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', script], {
    env: { PATH: SYSTEM_PATH },
    extendEnv: false,
    reject: false,
  });
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  t.is(r.exitCode, 0, r.stderr);
  t.is(lines.length, 3, r.stdout);
  const [first, second] = lines.slice(0, 2).map((l) => JSON.parse(l) as { ips?: { address: string }[]; code?: number });
  t.deepEqual([first!.ips?.[0]?.address, second!.ips?.[0]?.address], ['10.231.0.2/24', '10.231.0.3/24']);
  t.is((JSON.parse(lines[2]!) as unknown[]).length, 2, 'both pods are on the one bridge');
});

/** The plugin's peak RSS in KiB for one run, as GNU time reports it. */
async function peakRssKib(env: Record<string, string>, stdinFile: string): Promise<{ kib: number; stdout: string }> {
  const r = await execa('/usr/bin/time', ['-f', '%M', join(DIST, 'weft')], {
    env: { PATH: SYSTEM_PATH, ...env },
    extendEnv: false,
    inputFile: stdinFile,
    reject: false,
  });
  return { kib: Number(r.stderr.trim().split('\n').at(-1)), stdout: r.stdout };
}

test('a 64 MiB stdin is refused with code 6 and costs no more memory than a small one', async (t) => {
  const dir = tempDir(t);
  const small = join(dir, 'small.json');
  const big = join(dir, 'big.json');
  writeFileSync(small, '{"cniVersion":"1.1.0","name":"x"}');
  writeFileSync(big, `{"cniVersion":"1.1.0","name":"x","padding":"${'x'.repeat(64 << 20)}"}`);
  const env = { CNI_COMMAND: 'STATUS' };
  const base = await peakRssKib(env, small);
  const huge = await peakRssKib(env, big);
  t.like(JSON.parse(huge.stdout), { code: 6, msg: 'network config on stdin is larger than 4 MiB' });
  t.true(huge.kib < base.kib + 16 * 1024, `peak RSS ${huge.kib} KiB against ${base.kib} KiB for a small stdin`);
});
