// The built plugin with the subnet file weftd writes for a dual-stack or an
// IPv6-only node: one address and one default route per family, IPv6 usable
// at once (no DAD), CHECK, DEL and GC over both families, the per-pod
// firewall's IPv6 side, and subnet files the plugin must refuse.

import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { hostVethName } from '../../src/cni/host-veth.ts';
import { readSubnetFile, writeSubnetFile } from '../../src/subnet/subnet-file.ts';
import { cnitool, execWeft, footprint, makeNetwork, reservations, type TestNetwork } from '../../testbed/cni.ts';
import { cnitoolContainerId, cnitool as runCnitool } from '../../testbed/cnitool.ts';
import { makeNetns, type Netns, uniqueSuffix } from '../../testbed/fixtures.ts';
import { ipJson, linkExists, ping } from '../../testbed/netns.ts';
import { antispoofElementsOf } from '../../testbed/nft-elements.ts';
import { DIST } from '../../testbed/paths.ts';
import { must } from '../../testbed/shell.ts';

type Family = 4 | 6;
type Subnet = { subnet: string; gateway: string; prefix: string };
type FileNet = TestNetwork & { subnetFile: string; v4: Subnet; v6: Subnet };
type AddResult = {
  cniVersion: string;
  interfaces: { name: string; mac?: string; mtu?: number; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
};
type AddrInfo = { family: string; local: string; prefixlen: number; scope: string; nodad?: boolean; tentative?: boolean };

/** A random ULA /64 (no other test's bridge routes it) inside its /48, the cluster network. */
function randomV6(): { subnet: Subnet; cluster: string } {
  const s = uniqueSuffix();
  // In the canonical form the plugin prints: no leading zeros in a group.
  const group = (hex: string) => Number.parseInt(hex, 16).toString(16);
  const head = `fd${s.slice(0, 2)}:${group(s.slice(2, 6))}:${group(s.slice(6))}`;
  return { subnet: { subnet: `${head}:1::/64`, gateway: `${head}:1::1`, prefix: `${head}:1::` }, cluster: `${head}::/48` };
}

/**
 * A network whose pods take their subnets from a subnet file listing
 * `families` in that order, as weftd writes it, with no ipam.ranges.
 */
async function makeFileNetwork(t: ExecutionContext, families: Family[], extra: Record<string, unknown> = {}): Promise<FileNet> {
  const net = await makeNetwork(t, { extra });
  const v4: Subnet = { subnet: net.subnet, gateway: `${net.prefix}1`, prefix: net.prefix };
  const { subnet: v6, cluster } = randomV6();
  const subnetFile = join(dirname(net.dataDir), 'subnet.json');
  writeSubnetFile(subnetFile, {
    version: 1,
    clusterNetworks: ['10.230.0.0/16', cluster],
    subnets: families.map((f) => (f === 4 ? v4 : v6)).map(({ subnet, gateway }) => ({ subnet, gateway })),
    mtu: 1450,
    ipMasq: false,
  });
  const { cniVersion, name, ...plugin } = { ...net.pluginConf, subnetFile, ipam: { dataDir: net.dataDir } } as Record<string, unknown>;
  writeFileSync(join(net.confDir, '10-weft.conflist'), JSON.stringify({ cniVersion, name, plugins: [plugin] }));
  return { ...net, pluginConf: { cniVersion, name, ...plugin }, subnetFile, v4, v6 };
}

/** ADD through cnitool, with a DEL when the test ends. */
async function add(t: ExecutionContext, net: TestNetwork, pod: Netns): Promise<AddResult> {
  t.teardown(async () => {
    await cnitool(net, 'del', pod.path);
  });
  const r = await cnitool(net, 'add', pod.path);
  if (r.exitCode !== 0) throw new Error(`ADD failed: ${r.stdout} ${r.stderr}`);
  return r.json as AddResult;
}

async function addresses(netns: string | undefined, dev: string): Promise<AddrInfo[]> {
  return (await ipJson<{ addr_info: AddrInfo[] }>(['addr', 'show', 'dev', dev], netns))[0]?.addr_info ?? [];
}

async function defaultRoutes(pod: Netns, family: Family): Promise<{ gateway?: string; dev?: string }[]> {
  return ipJson([`-${family}`, 'route', 'show', 'default'], pod.name);
}

/** A sysctl as the namespace's own processes see it. */
const sysctlIn = async (netns: string, key: string) => (await must('ip', ['netns', 'exec', netns, 'sysctl', '-n', key])).trim();

const justAddress = (cidr: string) => cidr.split('/')[0]!;

test('a dual-stack subnet file gives the pod one address and one default route per family, in the 1.1.0 result and in the kernel', async (t) => {
  const net = await makeFileNetwork(t, [4, 6]);
  const pod = await makeNetns(t);
  const result = await add(t, net, pod);

  t.is(result.cniVersion, '1.1.0');
  t.like(result.interfaces[2], { name: 'eth0', mtu: 1450, sandbox: pod.path });
  t.deepEqual(result.ips, [
    { address: `${net.v4.prefix}2/24`, gateway: net.v4.gateway, interface: 2 },
    { address: `${net.v6.prefix}2/64`, gateway: net.v6.gateway, interface: 2 },
  ]);
  t.deepEqual(result.routes, [
    { dst: '0.0.0.0/0', gw: net.v4.gateway },
    { dst: '::/0', gw: net.v6.gateway },
  ]);

  const onPod = await addresses(pod.name, 'eth0');
  t.like(
    onPod.find((a) => a.family === 'inet'),
    { local: `${net.v4.prefix}2`, prefixlen: 24 },
  );
  const global6 = onPod.find((a) => a.family === 'inet6' && a.scope === 'global');
  t.like(global6, { local: `${net.v6.prefix}2`, prefixlen: 64, nodad: true }, 'the IPv6 address skips DAD');
  t.falsy(global6?.tentative, 'and is usable at once, not tentative');
  t.true(
    onPod.some((a) => a.family === 'inet6' && a.scope === 'link' && a.local.startsWith('fe80:')),
    'the pod keeps its link-local address',
  );
  t.is(await sysctlIn(pod.name, 'net.ipv6.conf.eth0.accept_ra'), '0', 'the pod takes no router advertisement');
  t.deepEqual(
    (await defaultRoutes(pod, 4)).map((r) => [r.gateway, r.dev]),
    [[net.v4.gateway, 'eth0']],
  );
  t.deepEqual(
    (await defaultRoutes(pod, 6)).map((r) => [r.gateway, r.dev]),
    [[net.v6.gateway, 'eth0']],
  );

  const onBridge = await addresses(undefined, net.bridge);
  const gateway6 = onBridge.find((a) => a.family === 'inet6' && a.scope === 'global');
  t.like(gateway6, { local: net.v6.gateway, prefixlen: 64, nodad: true }, "the bridge's IPv6 gateway skips DAD");
  t.falsy(gateway6?.tentative);
  t.true(await ping(pod.name, net.v6.gateway), 'the first pod reaches its IPv6 gateway at once');
  t.true(await ping(pod.name, net.v4.gateway));

  const other = await makeNetns(t);
  const second = await add(t, net, other);
  t.deepEqual(
    second.ips.map((i) => i.address),
    [`${net.v4.prefix}3/24`, `${net.v6.prefix}3/64`],
  );
  t.true(await ping(pod.name, `${net.v6.prefix}3`), 'pods reach each other over IPv6');
  t.true(await ping(other.name, `${net.v4.prefix}2`), 'and over IPv4');
});

test('a subnet file listing IPv6 first gives the addresses in that order, and DEL removes every element of the pod', async (t) => {
  const net = await makeFileNetwork(t, [6, 4]);
  const pod = await makeNetns(t);
  const result = await add(t, net, pod);
  t.deepEqual(
    result.ips.map((i) => i.address),
    [`${net.v6.prefix}2/64`, `${net.v4.prefix}2/24`],
  );
  t.deepEqual(
    result.routes.map((r) => r.dst),
    ['0.0.0.0/0', '::/0'],
  );
  t.true(await ping(pod.name, net.v4.gateway));
  const veth = result.interfaces[1]!.name;
  t.is((await antispoofElementsOf(veth)).length, 4);
  t.is((await cnitool(net, 'del', pod.path)).exitCode, 0);
  t.deepEqual(await antispoofElementsOf(veth), []);
  t.deepEqual(reservations(net), []);
});

test('a bridge made for IPv4 pods gets its IPv6 gateway, without DAD, on the first ADD after the node turns dual-stack', async (t) => {
  const net = await makeFileNetwork(t, [4]);
  const [old, fresh] = [await makeNetns(t), await makeNetns(t)];
  await add(t, net, old);
  t.false(
    (await addresses(undefined, net.bridge)).some((a) => a.family === 'inet6' && a.scope === 'global'),
    'no IPv6 gateway yet',
  );
  writeSubnetFile(net.subnetFile, { ...readSubnetFile(net.subnetFile), subnets: [net.v4, net.v6].map(({ subnet, gateway }) => ({ subnet, gateway })) });
  const result = await add(t, net, fresh);
  t.deepEqual(
    result.ips.map((i) => i.address),
    [`${net.v4.prefix}3/24`, `${net.v6.prefix}2/64`],
  );
  const onBridge = await addresses(undefined, net.bridge);
  t.like(
    onBridge.find((a) => a.family === 'inet6' && a.scope === 'global'),
    { local: net.v6.gateway, nodad: true },
  );
  t.true(
    onBridge.some((a) => a.family === 'inet6' && a.scope === 'link'),
    'the bridge keeps its link-local address',
  );
  t.true(await ping(fresh.name, net.v6.gateway), 'the new pod reaches the IPv6 gateway at once');
  t.true(await ping(old.name, `${net.v4.prefix}3`), 'the IPv4-only pod still reaches the new one');
});

test("anti-spoofing elements cover a dual-stack pod's IPv6 address, and CHECK names a missing one", async (t) => {
  const net = await makeFileNetwork(t, [4, 6]);
  const pod = await makeNetns(t);
  const result = await add(t, net, pod);
  const [veth, mac] = [result.interfaces[1]!.name, result.interfaces[2]!.mac!];
  const [ip4, ip6] = [`${net.v4.prefix}2`, `${net.v6.prefix}2`];
  t.deepEqual(await antispoofElementsOf(veth), [
    `macs ${veth} . ${mac}`,
    `ports ${veth}`,
    `sources4 ${veth} . ${mac} . ${ip4}`,
    `sources6 ${veth} . ${mac} . ${ip6}`,
  ]);

  const check = () => execWeft(attachment('CHECK', pod), JSON.stringify({ ...net.pluginConf, prevResult: result }));
  t.is((await check()).exitCode, 0);
  await must('nft', ['delete', 'element', 'bridge', 'weft-antispoof', 'sources6', '{', `${veth} . ${mac} . ${ip6}`, '}']);
  const drifted = await check();
  t.like(drifted.json, { code: 102 });
  t.regex(String(drifted.json?.msg), new RegExp(`anti-spoofing element ${veth} \\. ${mac} \\. ${ip6} is missing from set sources6`));
});

function attachment(verb: string, pod: Netns): Record<string, string> {
  return { CNI_COMMAND: verb, CNI_CONTAINERID: cnitoolContainerId(pod.path), CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
}

test('CHECK reports a removed IPv6 default route and a removed IPv6 address', async (t) => {
  const net = await makeFileNetwork(t, [4, 6]);
  const pod = await makeNetns(t);
  const result = await add(t, net, pod);
  const check = () => execWeft(attachment('CHECK', pod), JSON.stringify({ ...net.pluginConf, prevResult: result }));
  t.is((await check()).exitCode, 0, 'CHECK passes on what ADD made');

  await must('ip', ['-n', pod.name, '-6', 'route', 'del', 'default']);
  const noRoute = await check();
  t.like(noRoute.json, { code: 102, msg: `CHECK failed: route ::/0 via ${net.v6.gateway} is missing in ${pod.path}` });
  await must('ip', ['-n', pod.name, '-6', 'route', 'add', 'default', 'via', net.v6.gateway, 'dev', 'eth0']);
  t.is((await check()).exitCode, 0, 'the route put back, CHECK passes again');

  await must('ip', ['-n', pod.name, 'addr', 'del', `${net.v6.prefix}2/64`, 'dev', 'eth0']);
  const noAddress = await check();
  t.like(noAddress.json, { code: 102, msg: `CHECK failed: address ${net.v6.prefix}2/64 is missing on eth0 in ${pod.path}` });
});

test('DEL releases both reservations and GC releases both of an attachment that is no longer valid', async (t) => {
  const net = await makeFileNetwork(t, [4, 6]);
  const [kept, gone] = [await makeNetns(t), await makeNetns(t)];
  await add(t, net, kept);
  const goneResult = await add(t, net, gone);
  t.deepEqual(reservations(net), [`${net.v4.prefix}2`, `${net.v4.prefix}3`, `${net.v6.prefix}2`, `${net.v6.prefix}3`]);

  const gc = await execWeft(
    { CNI_COMMAND: 'GC' },
    JSON.stringify({ ...net.pluginConf, 'cni.dev/valid-attachments': [{ containerID: cnitoolContainerId(kept.path), ifname: 'eth0' }] }),
  );
  t.is(gc.exitCode, 0, gc.stdout);
  t.deepEqual(reservations(net), [`${net.v4.prefix}2`, `${net.v6.prefix}2`], "GC released both of the invalid attachment's addresses");
  t.deepEqual(await antispoofElementsOf(goneResult.interfaces[1]!.name), []);
  t.true(await ping(kept.name, net.v6.gateway), 'the valid pod still works');

  const del = await cnitool(net, 'del', kept.path);
  t.is(del.exitCode, 0, del.stderr);
  t.deepEqual(reservations(net), [], 'DEL released both');
  t.deepEqual(await ipJson(['link', 'show', 'master', net.bridge]), []);
});

test('50 concurrent dual-stack ADDs get distinct addresses in both families, and 50 DELs leave no reservation and no veth', async (t) => {
  const net = await makeFileNetwork(t, [4, 6]);
  const pods: Netns[] = [];
  for (let i = 0; i < 50; i++) pods.push(await makeNetns(t));
  const adds = await Promise.all(pods.map((p) => cnitool(net, 'add', p.path)));
  for (const a of adds) t.is(a.exitCode, 0, a.stderr);
  const ips = adds.map((a) => (a.json as AddResult).ips.map((i) => justAddress(i.address)));
  for (const family of [4, 6] as const) {
    const mine = ips.map((pair) => pair.find((ip) => ip.includes(':') === (family === 6)));
    t.is(new Set(mine.filter(Boolean)).size, 50, `50 distinct IPv${family} addresses`);
  }
  t.is(reservations(net).length, 100);
  t.is((await ipJson(['link', 'show', 'master', net.bridge])).length, 50);

  const dels = await Promise.all(pods.map((p) => cnitool(net, 'del', p.path)));
  for (const d of dels) t.is(d.exitCode, 0, d.stderr);
  t.deepEqual(reservations(net), []);
  t.deepEqual(await ipJson(['link', 'show', 'master', net.bridge]), []);
  const veths = new Set((await ipJson<{ ifname: string }>(['link', 'show', 'type', 'veth'])).map((l) => l.ifname));
  t.deepEqual(
    pods.map((p) => hostVethName(cnitoolContainerId(p.path), 'eth0')).filter((v) => veths.has(v)),
    [],
    'no host veth is left, on the bridge or off it',
  );
});

test('an IPv6-only subnet file gives the pod one IPv6 address and one default route, and DEL releases it', async (t) => {
  const net = await makeFileNetwork(t, [6]);
  const pod = await makeNetns(t);
  const result = await add(t, net, pod);
  t.deepEqual(result.ips, [{ address: `${net.v6.prefix}2/64`, gateway: net.v6.gateway, interface: 2 }]);
  t.deepEqual(result.routes, [{ dst: '::/0', gw: net.v6.gateway }]);
  const onPod = await addresses(pod.name, 'eth0');
  t.deepEqual(
    onPod.filter((a) => a.scope === 'global').map((a) => [a.local, a.prefixlen, a.nodad]),
    [[`${net.v6.prefix}2`, 64, true]],
    'no IPv4 address',
  );
  t.deepEqual(await defaultRoutes(pod, 4), []);
  t.is(await sysctlIn(pod.name, 'net.ipv6.conf.eth0.accept_ra'), '0');
  t.deepEqual(
    (await defaultRoutes(pod, 6)).map((r) => r.gateway),
    [net.v6.gateway],
  );
  t.true(await ping(pod.name, net.v6.gateway));
  t.is((await execWeft(attachment('CHECK', pod), JSON.stringify({ ...net.pluginConf, prevResult: result }))).exitCode, 0);
  t.is((await cnitool(net, 'del', pod.path)).exitCode, 0);
  t.deepEqual(reservations(net), []);
});

/**
 * A node of its own, a network namespace where the plugin runs as on a
 * fresh node (forwarding off, no nftables tables), with an outside network
 * namespace behind a link of both families that has no route back to the
 * pods: a pod reaches it only when the node masquerades.
 */
async function makeNodeWithOutside(t: ExecutionContext) {
  const [node, outside] = [await makeNetns(t), await makeNetns(t)];
  const [v4, v6] = [
    { node: '198.51.100.1', outside: '198.51.100.2', prefix: 24 },
    { node: 'fd00:5:6::1', outside: 'fd00:5:6::2', prefix: 64 },
  ];
  // Named like the pod's interface: the pod's settings must not land on the node's.
  await must('ip', ['-n', node.name, 'link', 'add', 'name', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
  for (const [ns, side] of [
    [node.name, 'node'],
    [outside.name, 'outside'],
  ] as const) {
    await must('ip', ['-n', ns, 'addr', 'add', `${v4[side]}/${v4.prefix}`, 'dev', 'eth0']);
    await must('ip', ['-n', ns, 'addr', 'add', `${v6[side]}/${v6.prefix}`, 'dev', 'eth0', 'nodad']);
    await must('ip', ['-n', ns, 'link', 'set', 'dev', 'eth0', 'up']);
  }
  return { node, outside: { v4: v4.outside, v6: v6.outside } };
}

for (const ipMasq of [true, false]) {
  test(`with ipMasq ${ipMasq}, a dual-stack pod ${ipMasq ? 'reaches' : 'cannot reach'} an outside address in either family; forwarding is on for both`, async (t) => {
    const net = await makeFileNetwork(t, [4, 6], { ipMasq });
    const { node, outside } = await makeNodeWithOutside(t);
    t.is(await sysctlIn(node.name, 'net.ipv6.conf.all.forwarding'), '0', 'a fresh node forwards nothing');
    const pod = await makeNetns(t);
    const r = await runCnitool({ verb: 'add', network: net.name, confDir: net.confDir, pluginDirs: [DIST], netnsPath: pod.path, inNetns: node.name });
    t.is(r.exitCode, 0, r.stderr);
    t.is(await sysctlIn(node.name, 'net.ipv6.conf.all.forwarding'), '1');
    t.is(await sysctlIn(node.name, 'net.ipv4.ip_forward'), '1');
    t.is(await sysctlIn(pod.name, 'net.ipv6.conf.eth0.accept_ra'), '0');
    t.is(await sysctlIn(node.name, 'net.ipv6.conf.eth0.accept_ra'), '1', "the node's own eth0 is untouched");
    t.is(await ping(pod.name, outside.v6), ipMasq, 'IPv6');
    t.is(await ping(pod.name, outside.v4), ipMasq, 'IPv4');
    if (ipMasq) {
      const table = await must('ip', ['netns', 'exec', node.name, 'nft', 'list', 'table', 'inet', 'weft-pod-masq']);
      t.regex(table, /ip6 saddr @sources6 ip6 daddr != @keep6 masquerade/);
      t.true(table.includes(`${net.v6.prefix}2`), "the pod's IPv6 address is in sources6");
    }
    const del = await runCnitool({ verb: 'del', network: net.name, confDir: net.confDir, pluginDirs: [DIST], netnsPath: pod.path, inNetns: node.name });
    t.is(del.exitCode, 0, del.stderr);
    t.deepEqual(reservations(net), []);
  });
}

type BadFile = { title: string; subnets: { subnet: string; gateway: string }[]; msg: RegExp };

const v6 = randomV6().subnet;
const badFiles: BadFile[] = [
  {
    title: 'an IPv6 gateway outside its subnet',
    subnets: [{ subnet: v6.subnet, gateway: 'fd00:1:2:3::1' }],
    msg: /subnets\[0\]\.gateway "fd00:1:2:3::1" is not inside/,
  },
  {
    title: 'an IPv4 gateway for an IPv6 subnet',
    subnets: [{ subnet: v6.subnet, gateway: '10.230.0.1' }],
    msg: /subnets\[0\]\.gateway "10\.230\.0\.1" is not inside/,
  },
  {
    title: "an IPv6 gateway on the subnet's network address",
    subnets: [{ subnet: v6.subnet, gateway: v6.prefix }],
    msg: /subnets\[0\]\.gateway ".*" is not a usable address of .*: pick one after its network address/,
  },
  {
    title: 'two IPv6 subnets',
    subnets: [v6, { subnet: v6.subnet.replace(':1::/64', ':2::/64'), gateway: v6.gateway.replace(':1::1', ':2::1') }],
    msg: /subnets\[1\] .* is a second IPv6 subnet after .*: a node has one pod subnet per family/,
  },
  {
    title: 'two IPv4 subnets',
    subnets: [
      { subnet: '10.230.250.0/24', gateway: '10.230.250.1' },
      { subnet: '10.230.251.0/24', gateway: '10.230.251.1' },
    ],
    msg: /subnets\[1\] 10\.230\.251\.0\/24 is a second IPv4 subnet after 10\.230\.250\.0\/24/,
  },
  {
    title: 'an IPv6 subnet with host bits set',
    subnets: [{ subnet: v6.subnet.replace('::/64', '::5/64'), gateway: v6.gateway }],
    msg: /has host bits set: write it as .*::\/64/,
  },
  {
    title: 'an IPv6 subnet too large for one node',
    subnets: [{ subnet: 'fd00::/16', gateway: 'fd00::1' }],
    msg: /subnets\[0\]\.subnet fd00::\/16 is far too large/,
  },
  {
    title: 'an IPv6 subnet too small for a pod',
    subnets: [{ subnet: 'fd00::/127', gateway: 'fd00::1' }],
    msg: /subnets\[0\]\.subnet fd00::\/127 is too small/,
  },
];

for (const bad of badFiles) {
  test(`a subnet file with ${bad.title}: ADD is error 11 naming the entry, STATUS 50, and nothing changes`, async (t) => {
    const net = await makeFileNetwork(t, [4, 6]);
    writeFileSync(
      net.subnetFile,
      JSON.stringify({ version: 1, clusterNetworks: ['10.230.0.0/16', 'fd00::/8'], subnets: bad.subnets, mtu: 1450, ipMasq: false }),
    );
    const pod = await makeNetns(t);
    const id = cnitoolContainerId(pod.path);
    const before = await footprint(net, id);
    const r = await execWeft(attachment('ADD', pod), JSON.stringify(net.pluginConf));
    t.like(r.json, { code: 11 });
    t.regex(String(r.json?.msg), new RegExp(`^subnet file ${net.subnetFile.replace(/[.]/g, '\\.')} `));
    t.regex(String(r.json?.msg), bad.msg);
    t.regex(String(r.json?.details), /weftd/);
    t.deepEqual(await footprint(net, id), before);
    t.deepEqual(before, { bridgeExists: false, bridgePorts: [], hostVeth: undefined, reservations: [] });
    t.false(await linkExists('eth0', pod.name), 'nothing was made in the pod');
    const status = await execWeft({ CNI_COMMAND: 'STATUS' }, JSON.stringify(net.pluginConf));
    t.like(status.json, { code: 50 });
    t.regex(String(status.json?.msg), bad.msg);
  });
}
