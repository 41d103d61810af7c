// ADD, CHECK and DEL through libcni (cnitool) against the real kernel.
import test from 'ava';
import { execa } from 'execa';
import { cnitool, execWeft, makeNetwork, reservations } from '../../testbed/cni.ts';
import { makeNetns } from '../../testbed/fixtures.ts';
import { ipJson, ping } from '../../testbed/netns.ts';
import { must, sh } from '../../testbed/shell.ts';

type Addr = { ifname: string; mtu: number; address: string; link_index?: number; addr_info: { local: string; prefixlen: number }[] };
type Link = { ifname: string; ifindex: number; master?: string; address: string; linkinfo?: { info_slave_data?: { hairpin?: boolean } } };

test('ADD wires the pod to the bridge, pods reach the gateway and each other, CHECK passes, DEL cleans up', async (t) => {
  const net = await makeNetwork(t);
  const a = await makeNetns(t);
  const b = await makeNetns(t);

  const addA = await cnitool(net, 'add', a.path);
  t.is(addA.exitCode, 0, addA.stderr);
  const addB = await cnitool(net, 'add', b.path);
  t.is(addB.exitCode, 0, addB.stderr);

  const result = addA.json as {
    interfaces: { name: string; mac: string; sandbox?: string }[];
    ips: { address: string; gateway: string; interface: number }[];
    routes: { dst: string; gw: string }[];
  };
  t.deepEqual(result.interfaces.map((i) => i.name).slice(0, 1), [net.bridge]);
  t.is(result.interfaces[2]!.name, 'eth0');
  t.is(result.interfaces[2]!.sandbox, a.path);
  t.is(result.ips.length, 1);
  t.is(result.ips[0]!.interface, 2);
  t.is(result.ips[0]!.gateway, `${net.prefix}1`);
  t.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: `${net.prefix}1` }]);

  // The kernel agrees with the result.
  const [eth0] = await ipJson<Addr>(['addr', 'show', 'dev', 'eth0'], a.name);
  t.deepEqual(
    eth0!.addr_info.filter((x) => !x.local.includes(':')).map((x) => `${x.local}/${x.prefixlen}`),
    [result.ips[0]!.address],
  );
  t.is(eth0!.address, result.interfaces[2]!.mac);
  const routes = await ipJson<{ dst: string; gateway?: string }>(['route', 'show'], a.name);
  t.true(routes.some((r) => r.dst === 'default' && r.gateway === `${net.prefix}1`));
  const [hostVeth] = await ipJson<Link>(['-d', 'link', 'show', 'dev', result.interfaces[1]!.name]);
  t.is(hostVeth!.master, net.bridge);
  t.is(hostVeth!.linkinfo?.info_slave_data?.hairpin, true);
  t.is(eth0!.link_index, hostVeth!.ifindex);
  const [bridgeAddr] = await ipJson<Addr>(['addr', 'show', 'dev', net.bridge]);
  t.true(bridgeAddr!.addr_info.some((x) => x.local === `${net.prefix}1` && x.prefixlen === 24));

  const ipB = (addB.json as typeof result).ips[0]!.address.split('/')[0]!;
  t.true(await ping(a.name, `${net.prefix}1`), 'pod reaches its gateway');
  t.true(await ping(a.name, ipB), 'pod reaches another pod on the bridge');
  t.deepEqual(reservations(net).length, 2);

  const check = await cnitool(net, 'check', a.path);
  t.is(check.exitCode, 0, check.stderr);

  t.is((await cnitool(net, 'del', a.path)).exitCode, 0);
  t.is((await cnitool(net, 'del', b.path)).exitCode, 0);
  t.deepEqual(reservations(net), []);
  t.deepEqual(await ipJson(['link', 'show', 'master', net.bridge]), []);
  const podLinks = await ipJson<{ ifname: string }>(['link', 'show'], a.name);
  t.deepEqual(
    podLinks.map((l) => l.ifname),
    ['lo'],
    'eth0 is gone from the pod',
  );
});

// DEL twice, after the netns is gone and with an empty CNI_NETNS: the
// conformance suite's del.* checks prove these of weft (conformance.test.ts).

test('CHECK fails precisely when the pod address is removed, and when the host veth leaves the bridge', async (t) => {
  const net = await makeNetwork(t);
  const a = await makeNetns(t);
  const add = await cnitool(net, 'add', a.path);
  t.is(add.exitCode, 0);
  const address = (add.json as { ips: { address: string }[] }).ips[0]!.address;

  await must('ip', ['-n', a.name, 'addr', 'del', address, 'dev', 'eth0']);
  const check = await cnitool(net, 'check', a.path);
  t.not(check.exitCode, 0);
  t.regex(check.stderr, new RegExp(`address ${address.replace(/\./g, '\\.')} is missing on eth0`));

  await must('ip', ['-n', a.name, 'addr', 'add', address, 'dev', 'eth0']);
  await must('ip', ['-n', a.name, 'route', 'add', 'default', 'via', `${net.prefix}1`]);
  t.is((await cnitool(net, 'check', a.path)).exitCode, 0, 'restoring the address and route makes CHECK pass again');

  const hostVeth = (add.json as { interfaces: { name: string }[] }).interfaces[1]!.name;
  await must('ip', ['link', 'set', hostVeth, 'nomaster']);
  const detached = await cnitool(net, 'check', a.path);
  t.not(detached.exitCode, 0);
  t.regex(detached.stderr, /is attached to no bridge/);
});

test('an ADD into a netns given as /proc/PID/ns/net works and DEL removes it', async (t) => {
  const net = await makeNetwork(t);
  const holder = execa('unshare', ['--net', 'sleep', '120'], { reject: false });
  t.teardown(() => holder.kill());
  const netns = `/proc/${holder.pid}/ns/net`;
  // unshare has exec'd sleep once the netns differs from ours.
  for (let i = 0; i < 50 && (await sh('readlink', [netns])).stdout === (await sh('readlink', ['/proc/self/ns/net'])).stdout; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const conf = JSON.stringify(net.pluginConf);
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'proc-netns', CNI_NETNS: netns, CNI_IFNAME: 'eth1' };
  const add = await execWeft(env, conf);
  t.is(add.exitCode, 0, add.stdout);
  const inside = await sh('nsenter', [`--net=${netns}`, 'ip', '-j', 'addr', 'show', 'dev', 'eth1']);
  t.regex(inside.stdout, new RegExp(`"local":"${net.prefix.replace(/\./g, '\\.')}2"`));
  t.is((await execWeft({ ...env, CNI_COMMAND: 'DEL' }, conf)).exitCode, 0);
  t.deepEqual(reservations(net), []);
});

test('a 0.4.0 config gets a 0.4.0 result with ips[].version; 1.1.0 results carry the pod MTU', async (t) => {
  const legacy = await makeNetwork(t, { cniVersion: '0.4.0' });
  const a = await makeNetns(t);
  const add = await cnitool(legacy, 'add', a.path);
  t.is(add.exitCode, 0, add.stderr);
  t.is(add.json?.cniVersion, '0.4.0');
  const ips = add.json?.ips as { version: string; address: string }[];
  t.is(ips[0]!.version, '4');
  t.is((add.json!.interfaces as { mtu?: number }[])[2]!.mtu, undefined);

  const current = await makeNetwork(t, { extra: { mtu: 1400 } });
  const b = await makeNetns(t);
  const addB = await cnitool(current, 'add', b.path);
  t.is(addB.exitCode, 0, addB.stderr);
  t.is((addB.json!.ips as { version?: string }[])[0]!.version, undefined);
  t.is((addB.json!.interfaces as { mtu?: number }[])[2]!.mtu, 1400);
  const [eth0] = await ipJson<Addr>(['addr', 'show', 'dev', 'eth0'], b.name);
  t.is(eth0!.mtu, 1400);
  t.is((await cnitool(legacy, 'del', a.path)).exitCode, 0);
  t.is((await cnitool(current, 'del', b.path)).exitCode, 0);
});
