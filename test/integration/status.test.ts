// STATUS, the subnet file contract and per-pod masquerade. VERSION is the
// conformance suite's version.* checks and src/cni/dispatch.ts's unit tests.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { writeSubnetFile } from '../../src/subnet/subnet-file.ts';
import { cnitool, execWeft, makeNetwork, reservations } from '../../testbed/cni.ts';
import { makeNetns, tempDir } from '../../testbed/fixtures.ts';
import { ipJson } from '../../testbed/netns.ts';
import { sh } from '../../testbed/shell.ts';

test('STATUS is 0 when ADD can work, 50 when the subnet file is missing or invalid', async (t) => {
  const net = await makeNetwork(t);
  const ok = await cnitool(net, 'status', '/dev/null');
  t.is(ok.exitCode, 0, ok.stderr);

  const dir = tempDir(t);
  const missing = { cniVersion: '1.1.0', name: 'statusnet', type: 'weft', subnetFile: join(dir, 'subnet.json'), ipam: { dataDir: join(dir, 'ipam') } };
  const r = await execWeft({ CNI_COMMAND: 'STATUS' }, JSON.stringify(missing));
  t.is(r.exitCode, 1);
  t.is(r.json?.code, 50);
  t.regex(String(r.json?.msg), /subnet file .*subnet\.json does not exist/);
  t.regex(String(r.json?.details), /weftd/);

  writeFileSync(join(dir, 'subnet.json'), '{"version":1,"subnets":[]}');
  const invalid = await execWeft({ CNI_COMMAND: 'STATUS' }, JSON.stringify(missing));
  t.is(invalid.json?.code, 50);
  t.regex(String(invalid.json?.msg), /has no valid "clusterNetworks"/);
});

test('STATUS is 50 while the pool is exhausted and 0 again after a DEL', async (t) => {
  const net = await makeNetwork(t, { subnet: (_c, prefix) => `${prefix}0/30` });
  const pod = await makeNetns(t);
  t.is((await cnitool(net, 'add', pod.path)).exitCode, 0);
  const full = await cnitool(net, 'status', '/dev/null');
  t.not(full.exitCode, 0);
  t.regex(full.stderr, /exhausted/);
  t.is((await cnitool(net, 'del', pod.path)).exitCode, 0);
  t.is((await cnitool(net, 'status', '/dev/null')).exitCode, 0);
});

test('without ipam.ranges the pod subnet and MTU come from the subnet file weftd writes', async (t) => {
  const net = await makeNetwork(t);
  const dir = tempDir(t);
  const subnetFile = join(dir, 'subnet.json');
  writeSubnetFile(subnetFile, {
    version: 1,
    clusterNetworks: ['10.230.0.0/16'],
    subnets: [{ subnet: net.subnet, gateway: `${net.prefix}1` }],
    mtu: 1410,
    ipMasq: false,
  });
  const conf = { cniVersion: '1.1.0', name: net.name, type: 'weft', bridge: net.bridge, subnetFile, ipam: { dataDir: net.dataDir } };
  const pod = await makeNetns(t);
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'from-subnet-file', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
  const add = await execWeft(env, JSON.stringify(conf));
  t.is(add.exitCode, 0, add.stdout);
  t.is((add.json!.ips as { address: string }[])[0]!.address, `${net.prefix}2/24`);
  const [eth0] = await ipJson<{ mtu: number }>(['link', 'show', 'dev', 'eth0'], pod.name);
  t.is(eth0!.mtu, 1410);
  t.is((await execWeft({ ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(conf))).exitCode, 0);
  t.deepEqual(reservations(net), []);
});

test("ipMasq adds the pod to weft's masquerade set on ADD and removes it on DEL", async (t) => {
  const net = await makeNetwork(t, { extra: { ipMasq: true } });
  t.teardown(async () => {
    await sh('nft', ['delete', 'table', 'inet', 'weft-pod-masq']);
  });
  const pod = await makeNetns(t);
  const add = await cnitool(net, 'add', pod.path);
  t.is(add.exitCode, 0, add.stderr);
  const ip = (add.json as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
  const table = await sh('nft', ['list', 'table', 'inet', 'weft-pod-masq']);
  t.regex(table.stdout, new RegExp(`elements = \\{[^}]*${ip.replace(/\./g, '\\.')}`));
  t.regex(table.stdout, /ip saddr @sources4 ip daddr != @keep4 masquerade/);
  t.regex(table.stdout, new RegExp(net.subnet.replace(/\./g, '\\.').replace('/', '\\/')));
  t.is((await cnitool(net, 'del', pod.path)).exitCode, 0);
  const after = await sh('nft', ['list', 'set', 'inet', 'weft-pod-masq', 'sources4']);
  t.notRegex(after.stdout, new RegExp(ip.replace(/\./g, '\\.')));
});
