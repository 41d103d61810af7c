// The shipped plugin speaks rtnetlink itself and runs no `ip`: with every
// `ip` it could spawn counted, ADD, CHECK, GC and DEL do all their work and
// the count stays 0. The kernel, read with iproute2, holds what ADD reported.
import test from 'ava';
import { hostVethName } from '../../src/cni/host-veth.ts';
import { execWeft, footprint, makeNetwork } from '../../testbed/cni.ts';
import { makeNetns, uniqueSuffix } from '../../testbed/fixtures.ts';
import { ipJson } from '../../testbed/netns.ts';
import { countingPath } from '../../testbed/tool-path.ts';

type Link = {
  ifname: string;
  address: string;
  mtu: number;
  master?: string;
  ifalias?: string;
  flags: string[];
  linkinfo?: { info_slave_data?: { hairpin?: boolean } };
};
type Addr = { ifname: string; addr_info: { family: string; local: string; prefixlen: number; nodad?: boolean }[] };
type Route = { dst: string; gateway?: string; dev?: string };

test('ADD, CHECK, GC and DEL spawn no ip, and the kernel holds what ADD reported', async (t) => {
  const net = await makeNetwork(t, { extra: { hairpinMode: true, mtu: 1400 } });
  const pod = await makeNetns(t);
  const ip = await countingPath(t, 'ip');
  const containerId = `nl-${uniqueSuffix()}`;
  const env = { CNI_CONTAINERID: containerId, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', PATH: ip.PATH };

  const add = await execWeft({ ...env, CNI_COMMAND: 'ADD' }, JSON.stringify(net.pluginConf));
  t.is(add.exitCode, 0, add.stdout + add.stderr);
  const result = add.json as { interfaces: { name: string; mac: string }[]; ips: { address: string; gateway: string }[] };
  const host = hostVethName(containerId, 'eth0');
  const [bridge] = await ipJson<Link>(['-d', 'link', 'show', 'dev', net.bridge]);
  t.is(bridge?.address, result.interfaces[0]?.mac, 'the bridge has its pinned MAC');
  const [veth] = await ipJson<Link>(['-d', 'link', 'show', 'dev', host]);
  t.like(veth, {
    address: result.interfaces[1]?.mac,
    mtu: 1400,
    master: net.bridge,
    ifalias: `weft:${net.name}`,
    linkinfo: { info_slave_data: { hairpin: true } },
  });
  t.true(veth?.flags.includes('UP'));
  const [eth0] = await ipJson<Link>(['link', 'show', 'dev', 'eth0'], pod.name);
  t.like(eth0, { address: result.interfaces[2]?.mac, mtu: 1400 });
  t.true(eth0?.flags.includes('UP'));
  const [addrs] = await ipJson<Addr>(['addr', 'show', 'dev', 'eth0', 'scope', 'global'], pod.name);
  t.deepEqual(
    // iproute2's JSON keeps an empty entry for each address the scope filter hid.
    addrs?.addr_info.filter((a) => a.local).map((a) => `${a.local}/${a.prefixlen}`),
    result.ips.map((i) => i.address),
  );
  const routes = await ipJson<Route>(['route', 'show', 'default'], pod.name);
  t.is(routes.length, 1);
  t.like(routes[0], { dst: 'default', gateway: result.ips[0]!.gateway, dev: 'eth0' });

  const check = await execWeft({ ...env, CNI_COMMAND: 'CHECK' }, JSON.stringify({ ...net.pluginConf, prevResult: result }));
  t.is(check.exitCode, 0, check.stdout + check.stderr);
  const gc = await execWeft(
    { CNI_COMMAND: 'GC', PATH: ip.PATH },
    JSON.stringify({ ...net.pluginConf, 'cni.dev/valid-attachments': [{ containerID: containerId, ifname: 'eth0' }] }),
  );
  t.is(gc.exitCode, 0, gc.stdout + gc.stderr);
  t.is((await footprint(net, containerId)).hostVeth, host, 'GC keeps a valid attachment');
  const del = await execWeft({ ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(net.pluginConf));
  t.is(del.exitCode, 0, del.stdout + del.stderr);
  t.like(await footprint(net, containerId), { hostVeth: undefined, reservations: [] });

  t.is(ip.runs(), 0, 'no ip process ran');
});
