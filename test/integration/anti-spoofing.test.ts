// Per-pod anti-spoofing against the real kernel: pods on one test bridge, one
// of them forging another's address or MAC, and the other pods' own counters
// (ICMP received, the neighbour cache) saying whether the forgery got
// anywhere. Every forgery also runs with "spoofCheck": false, where it must
// get through, so each check can fail.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { hostVethName } from '../../src/cni/host-veth.ts';
import { cnitool, execWeft, footprint, makeNetwork, type Run, reservations, type TestNetwork } from '../../testbed/cni.ts';
import { cnitoolContainerId, parseJson } from '../../testbed/cnitool.ts';
import { makeNetns, type Netns, uniqueSuffix } from '../../testbed/fixtures.ts';
import { ipJson, ping } from '../../testbed/netns.ts';
import { antispoofElementsOf } from '../../testbed/nft-elements.ts';
import { DIST } from '../../testbed/paths.ts';
import { must, sh } from '../../testbed/shell.ts';
import { countingPath } from '../../testbed/tool-path.ts';

type Net = TestNetwork & { gateway4: string; gateway6: string };
type Pod = Netns & { containerId: string; veth: string; mac: string; ip4: string; ip6: string };

/**
 * A dual-stack test network: the /24 the test claimed, and an IPv6 /64 with a
 * random prefix (no other test's bridge routes it).
 */
async function makeDualStack(t: ExecutionContext, spoofCheck: boolean): Promise<Net> {
  const net = await makeNetwork(t, { extra: { spoofCheck } });
  const suffix = uniqueSuffix();
  const subnet6 = `fd${suffix.slice(0, 2)}:${suffix.slice(2, 6)}:${suffix.slice(6)}::/64`;
  const ipam = { ranges: [[{ subnet: net.subnet }], [{ subnet: subnet6 }]], dataDir: net.dataDir };
  const { cniVersion, name, ...plugin } = { ...net.pluginConf, ipam } as Record<string, unknown>;
  writeFileSync(join(net.confDir, '10-weft.conflist'), JSON.stringify({ cniVersion, name, plugins: [plugin] }));
  return { ...net, pluginConf: { cniVersion, name, ...plugin }, gateway4: `${net.prefix}1`, gateway6: subnet6.replace('::/64', '::1') };
}

/** A pod on `net` through cnitool, deleted (with its nft elements) when the test ends. */
async function addPod(t: ExecutionContext, net: TestNetwork): Promise<Pod> {
  const netns = await makeNetns(t);
  const add = await cnitool(net, 'add', netns.path);
  if (add.exitCode !== 0) throw new Error(`ADD failed: ${add.stdout} ${add.stderr}`);
  t.teardown(async () => {
    await cnitool(net, 'del', netns.path);
  });
  const result = add.json as { interfaces: { name: string; mac: string }[]; ips: { address: string }[] };
  const ip = (family: 4 | 6) => result.ips.map((i) => i.address.split('/')[0]!).find((a) => a.includes(':') === (family === 6)) ?? '';
  return { ...netns, containerId: cnitoolContainerId(netns.path), veth: result.interfaces[1]!.name, mac: result.interfaces[2]!.mac, ip4: ip(4), ip6: ip(6) };
}

/** A counter of the pod's own network stack: /proc/net/snmp (Icmp: InEchos) or /proc/net/snmp6 (Icmp6InEchos). */
async function counter(pod: Netns, name: 'InEchos' | 'InEchoReps' | 'Icmp6InEchos'): Promise<number> {
  if (name.startsWith('Icmp6')) {
    const text = await must('ip', ['netns', 'exec', pod.name, 'cat', '/proc/net/snmp6']);
    return Number(/^(\S+)\s+(\d+)$/m.exec(text.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[2]);
  }
  const [names, values] = (await must('ip', ['netns', 'exec', pod.name, 'cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Icmp: '));
  return Number(values!.split(/\s+/)[names!.split(/\s+/).indexOf(name)]);
}

/** Pings from `pod` with a chosen source; whether any reply came back does not matter here. */
async function pingFrom(pod: Netns, source: string, target: string): Promise<void> {
  await sh('ip', ['netns', 'exec', pod.name, 'ping', '-c2', '-i0.2', '-W1', '-I', source, target]);
}

/** The MAC `pod` has for `address` in its neighbour cache, if any. */
async function neighbourMac(pod: Netns, address: string): Promise<string | undefined> {
  const entries = await ipJson<{ dst: string; lladdr?: string }>(['neigh', 'show', 'dev', 'eth0'], pod.name);
  return entries.find((e) => e.dst === address)?.lladdr;
}

type Forgery = (t: ExecutionContext, spoofCheck: boolean) => Promise<void>;

/** Runs a forgery with the check on (it must get nowhere) and off (it must get through). */
function forgery(title: string, run: Forgery): void {
  test(`${title}, and gets through with spoofCheck false`, async (t) => {
    await run(t, false);
  });
  test(title, async (t) => {
    await run(t, true);
  });
}

forgery("a pod sending from another pod's IPv4 address reaches neither pods nor the node", async (t, spoofCheck) => {
  const net = await makeDualStack(t, spoofCheck);
  const [attacker, victim, target] = [await addPod(t, net), await addPod(t, net), await addPod(t, net)];
  t.true(await ping(attacker.name, target.ip4), 'the honest ping works (and fills the neighbour cache)');
  await must('ip', ['-n', attacker.name, 'addr', 'add', `${victim.ip4}/32`, 'dev', 'eth0']);
  const before = { targetEchos: await counter(target, 'InEchos'), victimReplies: await counter(victim, 'InEchoReps') };
  // The target and the node (the gateway) would answer to the victim.
  await pingFrom(attacker, victim.ip4, target.ip4);
  await pingFrom(attacker, victim.ip4, net.gateway4);
  const after = { targetEchos: await counter(target, 'InEchos'), victimReplies: await counter(victim, 'InEchoReps') };
  if (spoofCheck) {
    t.deepEqual(after, before, 'no forged echo arrived anywhere');
  } else {
    t.true(after.targetEchos >= before.targetEchos + 2, 'the target received the forged echoes');
    t.true(after.victimReplies >= before.victimReplies + 2, 'the victim received replies to echoes it never sent');
  }
  await must('ip', ['-n', attacker.name, 'addr', 'del', `${victim.ip4}/32`, 'dev', 'eth0']);
  t.true(await ping(attacker.name, target.ip4), 'the attacker, honest again, still reaches the target');
  t.true(await ping(victim.name, target.ip4), 'the victim reaches the target');
});

forgery("a pod sending from another pod's IPv6 address reaches no pod", async (t, spoofCheck) => {
  const net = await makeDualStack(t, spoofCheck);
  const [attacker, victim, target] = [await addPod(t, net), await addPod(t, net), await addPod(t, net)];
  t.true(await ping(attacker.name, target.ip6), 'the honest ping works (and fills the neighbour cache)');
  await must('ip', ['-n', attacker.name, 'addr', 'add', `${victim.ip6}/128`, 'dev', 'eth0', 'nodad']);
  const before = await counter(target, 'Icmp6InEchos');
  await pingFrom(attacker, victim.ip6, target.ip6);
  const after = await counter(target, 'Icmp6InEchos');
  if (spoofCheck) t.is(after, before, 'no forged echo arrived');
  else t.true(after >= before + 2, 'the target received the forged echoes');
  await must('ip', ['-n', attacker.name, 'addr', 'del', `${victim.ip6}/128`, 'dev', 'eth0']);
  t.true(await ping(attacker.name, target.ip6), 'the attacker, honest again, still reaches the target');
  t.true(await ping(victim.name, net.gateway6), 'the victim reaches its IPv6 gateway');
});

forgery("a pod sending from another pod's MAC reaches no pod", async (t, spoofCheck) => {
  const net = await makeDualStack(t, spoofCheck);
  const [attacker, victim, target] = [await addPod(t, net), await addPod(t, net), await addPod(t, net)];
  t.true(await ping(attacker.name, target.ip4));
  await must('ip', ['-n', attacker.name, 'link', 'set', 'eth0', 'address', victim.mac]);
  const before = await counter(target, 'InEchos');
  await pingFrom(attacker, attacker.ip4, target.ip4);
  const after = await counter(target, 'InEchos');
  if (spoofCheck) t.is(after, before, 'no frame from the forged MAC arrived');
  else t.true(after >= before + 2, 'the target received the echoes sent from the forged MAC');
  await must('ip', ['-n', attacker.name, 'link', 'set', 'eth0', 'address', attacker.mac]);
  t.true(await ping(attacker.name, target.ip4), 'the attacker, honest again, still reaches the target');
  t.true(await ping(victim.name, target.ip4), 'the victim reaches the target');
});

forgery("an ARP request claiming another pod's IPv4 address does not poison a neighbour's cache", async (t, spoofCheck) => {
  const net = await makeDualStack(t, spoofCheck);
  const [attacker, victim, target] = [await addPod(t, net), await addPod(t, net), await addPod(t, net)];
  t.true(await ping(victim.name, target.ip4), "the target learns the victim's MAC");
  t.is(await neighbourMac(target, victim.ip4), victim.mac);
  await must('ip', ['-n', attacker.name, 'addr', 'add', `${victim.ip4}/32`, 'dev', 'eth0']);
  // With no neighbour entry for the target, the attacker's kernel asks with the forged sender address.
  await pingFrom(attacker, victim.ip4, target.ip4);
  t.is(await neighbourMac(target, victim.ip4), spoofCheck ? victim.mac : attacker.mac);
});

/** The CNI_* variables for one attachment, with a PATH that counts nft runs. */
function attachmentEnv(verb: string, pod: Netns, containerId: string, PATH: string): Record<string, string> {
  return { CNI_COMMAND: verb, CNI_CONTAINERID: containerId, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', PATH };
}

async function run(verb: string, pod: Netns, containerId: string, PATH: string, conf: Record<string, unknown>): Promise<Run> {
  return execWeft(attachmentEnv(verb, pod, containerId, PATH), JSON.stringify(conf));
}

/**
 * A node of its own: a network namespace where the plugin runs as on a fresh
 * node, so its nftables tables start absent and can be broken by hand
 * without touching the host's (other tests' pods rely on those).
 */
async function makeNode(t: ExecutionContext) {
  const node = await makeNetns(t);
  const nft = await countingPath(t, 'nft');
  return {
    name: node.name,
    nft,
    run: async (verb: string, pod: Netns, containerId: string, conf: Record<string, unknown>): Promise<Run> => {
      const r = await execa('ip', ['netns', 'exec', node.name, join(DIST, 'weft')], {
        env: attachmentEnv(verb, pod, containerId, nft.PATH),
        extendEnv: false,
        input: JSON.stringify(conf),
        reject: false,
      });
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json: parseJson(r.stdout) };
    },
    /** nft as an operator runs it on that node. */
    nftHere: (args: string[]) => must('ip', ['netns', 'exec', node.name, 'nft', ...args]),
    /** "set key . key" for each anti-spoofing element of `veth` on that node, sorted. */
    elementsOf: async (veth: string): Promise<string[]> => {
      const r = await sh('ip', ['netns', 'exec', node.name, 'nft', '-j', 'list', 'table', 'bridge', 'weft-antispoof']);
      if (r.exitCode !== 0) return [];
      const sets = (JSON.parse(r.stdout) as { nftables: { set?: { name: string; elem?: (string | { concat: string[] })[] } }[] }).nftables;
      return sets
        .flatMap((o) => (o.set?.elem ?? []).map((e) => `${o.set!.name} ${typeof e === 'string' ? e : e.concat.join(' . ')}`))
        .filter((e) => e.split(' ')[1] === veth)
        .sort();
    },
  };
}

test('the first ADD on a node makes the table with one nft run; later ADDs and DELs run none, and CHECK names a removed element', async (t) => {
  const net = await makeNetwork(t);
  const node = await makeNode(t);
  const [first, second] = [await makeNetns(t), await makeNetns(t)];
  const [id1, id2] = [`as-${uniqueSuffix()}`, `as-${uniqueSuffix()}`];
  const veth = hostVethName(id2, 'eth0');

  t.is((await node.run('ADD', first, id1, net.pluginConf)).exitCode, 0);
  t.is(node.nft.runs(), 1, 'one nft process for the first ADD: the table, its sets and rules');
  t.is((await node.elementsOf(hostVethName(id1, 'eth0'))).length, 3);

  const add = await node.run('ADD', second, id2, net.pluginConf);
  t.is(add.exitCode, 0, add.stdout);
  t.is(node.nft.runs(), 0, 'no nft process for an ADD once the table exists');
  const mac = (add.json as { interfaces: { mac: string }[] }).interfaces[2]!.mac;
  const ip = `${net.prefix}3`;
  t.deepEqual(await node.elementsOf(veth), [`macs ${veth} . ${mac}`, `ports ${veth}`, `sources4 ${veth} . ${mac} . ${ip}`]);

  const withPrev = { ...net.pluginConf, prevResult: add.json };
  t.is((await node.run('CHECK', second, id2, withPrev)).exitCode, 0);
  await node.nftHere(['delete', 'element', 'bridge', 'weft-antispoof', 'sources4', '{', `${veth} . ${mac} . ${ip}`, '}']);
  const drifted = await node.run('CHECK', second, id2, withPrev);
  t.like(drifted.json, { code: 102 });
  t.regex(String(drifted.json?.msg), new RegExp(`anti-spoofing element ${veth} \\. ${mac} \\. ${ip.replace(/\./g, '\\.')} is missing from set sources4`));

  node.nft.runs();
  const del = await node.run('DEL', second, id2, net.pluginConf);
  t.is(del.exitCode, 0, del.stdout);
  t.is(node.nft.runs(), 0, 'no nft process for DEL, though one of its elements was already gone');
  t.deepEqual(await node.elementsOf(veth), []);
  t.is((await node.run('DEL', second, id2, net.pluginConf)).exitCode, 0, 'a second DEL finds nothing and is fine');
  t.is(node.nft.runs(), 0);
  t.is((await node.elementsOf(hostVethName(id1, 'eth0'))).length, 3, "the other pod's elements stay");
});

test('with the table deleted by hand, DEL is fine and creates nothing, and the next ADD makes it again with one nft run', async (t) => {
  const net = await makeNetwork(t);
  const node = await makeNode(t);
  const [first, second] = [await makeNetns(t), await makeNetns(t)];
  const [id1, id2] = [`as-${uniqueSuffix()}`, `as-${uniqueSuffix()}`];
  t.is((await node.run('ADD', first, id1, net.pluginConf)).exitCode, 0);
  await node.nftHere(['delete', 'table', 'bridge', 'weft-antispoof']);
  node.nft.runs();

  t.is((await node.run('DEL', first, id1, net.pluginConf)).exitCode, 0);
  t.is(node.nft.runs(), 0);
  t.is((await sh('ip', ['netns', 'exec', node.name, 'nft', 'list', 'table', 'bridge', 'weft-antispoof'])).exitCode, 1, 'DEL created no table');

  t.is((await node.run('ADD', second, id2, net.pluginConf)).exitCode, 0);
  t.is(node.nft.runs(), 1, 'the kernel said the table is missing, so ADD ran the nft script once');
  t.is((await node.elementsOf(hostVethName(id2, 'eth0'))).length, 3);
});

test('an ADD that fails after adding its elements over nfnetlink removes them, still with no nft run', async (t) => {
  const [net, failing] = [await makeNetwork(t), await makeNetwork(t)];
  const node = await makeNode(t);
  const [first, second] = [await makeNetns(t), await makeNetns(t)];
  t.is((await node.run('ADD', first, `as-${uniqueSuffix()}`, net.pluginConf)).exitCode, 0);
  node.nft.runs();
  // The round-robin marker is written after the elements; a directory in its place fails it.
  mkdirSync(join(failing.dataDir, failing.name, 'last_reserved_ip.0', 'blocker'), { recursive: true });
  const id = `as-${uniqueSuffix()}`;
  const r = await node.run('ADD', second, id, failing.pluginConf);
  t.regex(String(r.json?.msg), /cannot write .*last_reserved_ip\.0/, r.stdout);
  t.is(node.nft.runs(), 0);
  t.deepEqual(await node.elementsOf(hostVethName(id, 'eth0')), [], 'no anti-spoofing element is left');
  t.deepEqual(reservations(failing), []);
});

test('rules flushed by hand are not put back by ADD; CHECK reports them', async (t) => {
  const net = await makeNetwork(t);
  const node = await makeNode(t);
  const [first, second] = [await makeNetns(t), await makeNetns(t)];
  const [id1, id2] = [`as-${uniqueSuffix()}`, `as-${uniqueSuffix()}`];
  t.is((await node.run('ADD', first, id1, net.pluginConf)).exitCode, 0);
  await node.nftHere(['flush', 'chain', 'bridge', 'weft-antispoof', 'pod']);
  const add = await node.run('ADD', second, id2, net.pluginConf);
  t.is(add.exitCode, 0, add.stdout);
  const check = await node.run('CHECK', second, id2, { ...net.pluginConf, prevResult: add.json });
  t.like(check.json, { code: 102 });
  t.regex(String(check.json?.msg), /chain pod of table bridge weft-antispoof has 0 rules, weft puts 6 there/);
});

// Masquerade's interval set stays on nft, and anti-spoofing rides in the same script.
test('with ipMasq on too, ADD and DEL still run nft once each', async (t) => {
  const net = await makeNetwork(t, { extra: { ipMasq: true } });
  const pod = await makeNetns(t);
  const nft = await countingPath(t, 'nft');
  const id = `as-${uniqueSuffix()}`;
  t.teardown(() => run('DEL', pod, id, nft.PATH, net.pluginConf));
  t.is((await run('ADD', pod, id, nft.PATH, net.pluginConf)).exitCode, 0);
  t.is(nft.runs(), 1);
  t.is((await run('DEL', pod, id, nft.PATH, net.pluginConf)).exitCode, 0);
  t.is(nft.runs(), 1);
});

test('spoofCheck false runs no nft and leaves no element; the pod still works', async (t) => {
  const net = await makeNetwork(t, { extra: { spoofCheck: false } });
  const pod = await makeNetns(t);
  const nft = await countingPath(t, 'nft');
  const id = `as-${uniqueSuffix()}`;
  t.teardown(() => run('DEL', pod, id, nft.PATH, net.pluginConf));
  const add = await run('ADD', pod, id, nft.PATH, net.pluginConf);
  t.is(add.exitCode, 0, add.stdout);
  t.deepEqual(await antispoofElementsOf(hostVethName(id, 'eth0')), []);
  t.true(await ping(pod.name, `${net.prefix}1`));
  t.is((await run('CHECK', pod, id, nft.PATH, { ...net.pluginConf, prevResult: add.json })).exitCode, 0);
  t.is((await run('DEL', pod, id, nft.PATH, net.pluginConf)).exitCode, 0);
  t.is(nft.runs(), 0, 'no nft process in ADD, CHECK or DEL');
});

test('GC removes the elements of attachments that are no longer valid and keeps the others', async (t) => {
  const net = await makeNetwork(t);
  const [gone, kept] = [await addPod(t, net), await addPod(t, net)];
  t.is((await antispoofElementsOf(gone.veth)).length, 3);
  const gc = await execWeft(
    { CNI_COMMAND: 'GC' },
    JSON.stringify({ ...net.pluginConf, 'cni.dev/valid-attachments': [{ containerID: kept.containerId, ifname: 'eth0' }] }),
  );
  t.is(gc.exitCode, 0, gc.stdout);
  t.deepEqual(await antispoofElementsOf(gone.veth), []);
  t.is((await antispoofElementsOf(kept.veth)).length, 3);
  t.true(await ping(kept.name, `${net.prefix}1`));
});

test('a spoofCheck that is not a boolean is error 7 naming the key, and ADD changes nothing', async (t) => {
  const net = await makeNetwork(t, { extra: { spoofCheck: 'yes' } });
  const pod = await makeNetns(t);
  const id = `as-${uniqueSuffix()}`;
  const r = await execWeft({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' }, JSON.stringify(net.pluginConf));
  t.like(r.json, { code: 7, msg: 'spoofCheck must be true or false, got "yes"' });
  t.deepEqual(await footprint(net, id), { bridgeExists: false, bridgePorts: [], hostVeth: undefined, reservations: [] });
  t.deepEqual(await antispoofElementsOf(hostVethName(id, 'eth0')), []);
});
