// Address management under the real plugin: concurrency, exhaustion, GC.
import test from 'ava';
import { cnitool, execWeft, footprint, makeNetwork, reservations } from '../../testbed/cni.ts';
import { cnitoolContainerId } from '../../testbed/cnitool.ts';
import { makeNetns, type Netns } from '../../testbed/fixtures.ts';
import { ipJson, linkExists, ping } from '../../testbed/netns.ts';

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
  t.deepEqual(
    got,
    [2, 3, 4, 5, 6].map((h) => `${net.prefix}${h}/29`),
    'never the network, gateway or broadcast address',
  );

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

test("GC of one network leaves another network's pods on the same bridge alone", async (t) => {
  const mine = await makeNetwork(t);
  // A second network (its own name, subnet and data dir) on mine's bridge.
  const theirs = await makeNetwork(t, { extra: { bridge: mine.bridge } });
  const podA = await makeNetns(t);
  const podB = await makeNetns(t);
  t.is((await cnitool(mine, 'add', podA.path)).exitCode, 0);
  const added = await cnitool(theirs, 'add', podB.path);
  t.is(added.exitCode, 0, added.stderr);
  const theirVeth = (added.json as { interfaces: { name: string }[] }).interfaces[1]!.name;

  const gc = await execWeft({ CNI_COMMAND: 'GC' }, JSON.stringify({ ...mine.pluginConf, 'cni.dev/valid-attachments': [] }));
  t.is(gc.exitCode, 0, gc.stdout);
  t.deepEqual(reservations(mine), []);
  t.deepEqual(reservations(theirs), [`${theirs.prefix}2`], 'the other network keeps its reservation');
  t.true(await linkExists(theirVeth), 'and its veth');
  t.deepEqual(
    (await ipJson<{ ifname: string }>(['link', 'show', 'master', mine.bridge])).map((l) => l.ifname),
    [theirVeth],
  );
  t.is((await cnitool(theirs, 'check', podB.path)).exitCode, 0, "the other network's pod still checks out");
});

test('several range sets of one family give the pod an address from each and one default route', async (t) => {
  // Two /25 halves of the claimed /24, as two range sets.
  const net = await makeNetwork(t);
  const ranges = [[{ subnet: `${net.prefix}0/25` }], [{ subnet: `${net.prefix}128/25` }]];
  const conf = { ...net.pluginConf, ipam: { ranges, dataDir: net.dataDir } };
  const pod = await makeNetns(t);
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'two-sets', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
  const add = await execWeft(env, JSON.stringify(conf));
  t.is(add.exitCode, 0, add.stdout);
  const result = add.json as { ips: { address: string; gateway: string }[]; routes: { dst: string; gw: string }[] };
  t.deepEqual(
    result.ips.map((ip) => ip.address),
    [`${net.prefix}2/25`, `${net.prefix}130/25`],
  );
  t.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: `${net.prefix}1` }]);
  const [eth0] = await ipJson<{ addr_info: { local: string; prefixlen: number; family: string }[] }>(['addr', 'show', 'dev', 'eth0'], pod.name);
  t.deepEqual(
    eth0!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    result.ips.map((ip) => ip.address),
  );
  t.true((await ping(pod.name, `${net.prefix}1`)) && (await ping(pod.name, `${net.prefix}129`)), 'both gateways answer');

  const check = await execWeft({ ...env, CNI_COMMAND: 'CHECK' }, JSON.stringify({ ...conf, prevResult: result }));
  t.is(check.exitCode, 0, check.stdout);
  const del = await execWeft({ ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(conf));
  t.is(del.exitCode, 0, del.stdout);
  t.deepEqual(reservations(net), []);
  t.deepEqual(await ipJson(['link', 'show', 'master', net.bridge]), []);
});
