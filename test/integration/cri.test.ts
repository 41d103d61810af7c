// The path the kubelet takes to the pod network: CRI → containerd → weft.
// Each test runs a private containerd 1.6 (testbed/containerd.ts) whose
// CRI plugin reads CNI dirs in a temp dir; weftd's installCni puts the plugin
// and the conflist there, as the DaemonSet does on a node, and crictl plays
// the kubelet.

import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { installCni } from '../../cmd/weftd/install-cni.ts';
import { hostVethName } from '../../src/cni/host-veth.ts';
import { reservations } from '../../testbed/cni.ts';
import { type Containerd, startContainerd } from '../../testbed/containerd.ts';
import { eventually } from '../../testbed/eventually.ts';
import { claimSubnet, deleteLinkOnTeardown, tempDir, uniqueSuffix } from '../../testbed/fixtures.ts';
import { ipJson, linkExists } from '../../testbed/netns.ts';
import { DIST } from '../../testbed/paths.ts';
import { sh } from '../../testbed/shell.ts';

type WeftNetwork = { name: string; bridge: string; prefix: string; dataDir: string; conflist: string };

async function weftNetwork(t: ExecutionContext): Promise<WeftNetwork> {
  const { subnet, prefix } = claimSubnet(t);
  const id = uniqueSuffix();
  const bridge = `wc${id}`;
  await deleteLinkOnTeardown(t, bridge);
  const dataDir = join(tempDir(t), 'ipam');
  const name = `wc${id}`;
  // 1.0.0, not 1.1.0: containerd 1.6 reads results with libcni 1.1, which
  // knows CNI versions up to 1.0.0 and fails every ADD of a 1.1.0 network
  // with "unsupported CNI result version".
  const plugin = { type: 'weft', bridge, ipam: { ranges: [[{ subnet }]], dataDir } };
  return { name, bridge, prefix, dataDir, conflist: JSON.stringify({ cniVersion: '1.0.0', name, plugins: [plugin] }) };
}

/** Started after the network, so its teardown (removing every sandbox) runs first. */
async function containerd(t: ExecutionContext): Promise<Containerd> {
  const cri = await startContainerd();
  t.teardown(() => cri.stop());
  return cri;
}

function install(cri: Containerd, net: WeftNetwork) {
  return installCni({ binary: join(DIST, 'weft'), binDir: cri.cniBinDir, confDir: cri.cniConfDir, conflist: net.conflist });
}

/** A node as the kubelet finds it once the weft DaemonSet has run. */
async function weftNode(t: ExecutionContext): Promise<{ net: WeftNetwork; cri: Containerd }> {
  const net = await weftNetwork(t);
  const cri = await containerd(t);
  install(cri, net);
  await eventually('CRI status to report NetworkReady', () => cri.networkReady(), 10_000);
  return { net, cri };
}

type SandboxNetwork = { ip: string; netns: string };

async function inspectSandbox(cri: Containerd, id: string): Promise<SandboxNetwork> {
  const s = JSON.parse(await cri.crictl(['inspectp', '--output', 'json', id])) as {
    status: { network: { ip: string } };
    info: { runtimeSpec: { linux: { namespaces: { type: string; path?: string }[] } } };
  };
  const netns = s.info.runtimeSpec.linux.namespaces.find((n) => n.type === 'network')?.path;
  if (!netns) throw new Error(`sandbox ${id} has no network namespace path in crictl inspectp`);
  return { ip: s.status.network.ip, netns };
}

/** Runs a command inside a sandbox's network namespace. */
function inPod(pod: SandboxNetwork, cmd: string, args: string[]) {
  return sh('nsenter', [`--net=${pod.netns}`, cmd, ...args]);
}

test('CRI reports the network not ready until installCni writes the weft conflist', async (t) => {
  const net = await weftNetwork(t);
  const cri = await containerd(t);
  t.false(await cri.networkReady(), 'NetworkReady with an empty CNI conf dir');
  const installed = install(cri, net);
  t.deepEqual(installed, { binary: join(cri.cniBinDir, 'weft'), conflist: join(cri.cniConfDir, '10-weft.conflist') });
  await eventually('CRI status to report NetworkReady after installCni', () => cri.networkReady(), 10_000);
  t.pass();
});

test('crictl runp gets a pod sandbox a weft address inside the conflist subnet', async (t) => {
  const { net, cri } = await weftNode(t);
  const id = await cri.runPod('solo');
  const pod = await inspectSandbox(cri, id);
  t.true(pod.ip.startsWith(net.prefix), `sandbox address ${pod.ip} is outside ${net.prefix}0/24`);
  t.not(pod.ip, `${net.prefix}1`, 'the gateway address went to a pod');

  // What the CRI reports is what the sandbox's namespace holds.
  const addrs = await inPod(pod, 'ip', ['-j', 'addr', 'show', 'eth0']);
  t.is(addrs.exitCode, 0, addrs.stderr);
  const eth0 = (JSON.parse(addrs.stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[])[0];
  t.deepEqual(
    eth0?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    [`${pod.ip}/24`],
  );
  const route = await inPod(pod, 'ip', ['-j', 'route', 'show', 'default']);
  t.like((JSON.parse(route.stdout) as Record<string, unknown>[])[0], { gateway: `${net.prefix}1`, dev: 'eth0' });

  // The host end of the pair is a port of the conflist's bridge.
  const ports = await ipJson<{ ifname: string }>(['link', 'show', 'master', net.bridge]);
  t.deepEqual(
    ports.map((p) => p.ifname),
    [hostVethName(id, 'eth0')],
  );
  t.deepEqual(reservations(net), [pod.ip]);
});

test('two pod sandboxes reach each other', async (t) => {
  const { net, cri } = await weftNode(t);
  // Started together, as the kubelet does for pods scheduled at once.
  const [a, b] = await Promise.all([cri.runPod('a'), cri.runPod('b')].map(async (id) => inspectSandbox(cri, await id)));
  if (!a || !b) throw new Error('runPod returned no sandbox');
  t.not(a.ip, b.ip);
  t.deepEqual(reservations(net), [a.ip, b.ip].sort());
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const ping = await inPod(from, 'ping', ['-c1', '-W2', to.ip]);
    t.is(ping.exitCode, 0, `ping ${from.ip} → ${to.ip}: ${ping.stdout}${ping.stderr}`);
  }
});

test('crictl stopp and rmp release the address and remove the host veth', async (t) => {
  const { net, cri } = await weftNode(t);
  const id = await cri.runPod('short-lived');
  const pod = await inspectSandbox(cri, id);
  const veth = hostVethName(id, 'eth0');
  t.deepEqual(reservations(net), [pod.ip]);
  t.true(await linkExists(veth));

  // StopPodSandbox is where containerd runs the CNI DEL.
  await cri.crictl(['stopp', id]);
  t.deepEqual(reservations(net), [], 'reservation left after stopp');
  t.false(await linkExists(veth), `host veth ${veth} left after stopp`);

  await cri.crictl(['rmp', id]);
  t.is((await cri.crictl(['pods', '--quiet'])).trim(), '');
  t.deepEqual(reservations(net), []);
  t.false(await linkExists(veth));
});
