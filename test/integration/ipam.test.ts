// Address management under the real plugin: concurrency, exhaustion, GC.
import test from 'ava';
import { cnitool, cnitoolContainerId, execWeft, footprint, makeNetwork, reservations } from '../support/cni.ts';
import { ipJson, linkExists, makeNetns, type Netns } from '../support/host.ts';

test('50 concurrent ADDs get 50 distinct addresses and 50 DELs leave no reservation', async (t) => {
  const net = await makeNetwork(t);
  const pods: Netns[] = [];
  for (let i = 0; i < 50; i++) pods.push(await makeNetns(t));
  const adds = await Promise.all(pods.map((p) => cnitool(net, 'add', p.path)));
  for (const add of adds) t.is(add.exitCode, 0, add.stderr);
  const addresses = adds.map((a) => (a.json as { ips: { address: string }[] }).ips[0]!.address);
  t.is(new Set(addresses).size, 50);
  t.is(reservations(net).length, 50);
  t.is((await ipJson(['link', 'show', 'master', net.bridge])).length, 50);

  const dels = await Promise.all(pods.map((p) => cnitool(net, 'del', p.path)));
  for (const del of dels) t.is(del.exitCode, 0, del.stderr);
  t.deepEqual(reservations(net), []);
  t.deepEqual(await ipJson(['link', 'show', 'master', net.bridge]), []);
});

test('a /29 hands out 5 addresses, then fails clearly leaving nothing behind, then works again after a DEL', async (t) => {
  const net = await makeNetwork(t, { subnet: (_claimed, prefix) => `${prefix}0/29` });
  const pods: Netns[] = [];
  for (let i = 0; i < 6; i++) pods.push(await makeNetns(t));
  const got: string[] = [];
  for (const pod of pods.slice(0, 5)) {
    const add = await cnitool(net, 'add', pod.path);
    t.is(add.exitCode, 0, add.stderr);
    got.push((add.json as { ips: { address: string }[] }).ips[0]!.address);
  }
  t.deepEqual(got, [2, 3, 4, 5, 6].map((h) => `${net.prefix}${h}/29`), 'never the network, gateway or broadcast address');

  const sixthId = cnitoolContainerId(pods[5]!.path);
  const before = await footprint(net, sixthId);
  const sixth = await cnitool(net, 'add', pods[5]!.path);
  t.not(sixth.exitCode, 0);
  t.regex(sixth.stderr, new RegExp(`no free address left in ${net.prefix.replace(/\./g, '\\.')}0/29`));
  t.deepEqual(await footprint(net, sixthId), before, 'the failed ADD left nothing behind');
  t.false(await linkExists('eth0', pods[5]!.name));

  t.is((await cnitool(net, 'del', pods[2]!.path)).exitCode, 0);
  const retry = await cnitool(net, 'add', pods[5]!.path);
  t.is(retry.exitCode, 0, retry.stderr);
  t.is((retry.json as { ips: { address: string }[] }).ips[0]!.address, `${net.prefix}4/29`);
});

test('GC releases every attachment not in cni.dev/valid-attachments and keeps the valid one working', async (t) => {
  const net = await makeNetwork(t);
  const keep = await makeNetns(t);
  const drop = await makeNetns(t);
  t.is((await cnitool(net, 'add', keep.path)).exitCode, 0);
  const dropped = await cnitool(net, 'add', drop.path);
  t.is(dropped.exitCode, 0);
  const dropVeth = (dropped.json as { interfaces: { name: string }[] }).interfaces[1]!.name;

  const gcConf = { ...net.pluginConf, 'cni.dev/valid-attachments': [{ containerID: cnitoolContainerId(keep.path), ifname: 'eth0' }] };
  const gc = await execWeft({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, JSON.stringify(gcConf));
  t.is(gc.exitCode, 0, gc.stdout);
  t.deepEqual(reservations(net), [`${net.prefix}2`], 'only the valid attachment keeps its address');
  t.false(await linkExists(dropVeth), 'the stale host veth is gone');
  t.is((await cnitool(net, 'check', keep.path)).exitCode, 0, 'the valid attachment still checks out');

  // The pre-1.1 key is honoured too; null means no attachment is valid.
  const legacy = await execWeft({ CNI_COMMAND: 'GC' }, JSON.stringify({ ...net.pluginConf, 'cni.dev/attachments': null }));
  t.is(legacy.exitCode, 0, legacy.stdout);
  t.deepEqual(reservations(net), []);
  t.deepEqual(await ipJson(['link', 'show', 'master', net.bridge]), []);
});
