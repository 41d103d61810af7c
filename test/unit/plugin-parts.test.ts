import test from 'ava';
import { bridgeCommands } from '../../src/cni/bridge.ts';
import { hostVethName, isHostVethName } from '../../src/cni/host-veth.ts';
import { outermost } from '../../src/cni/network.ts';
import { masqueradeScript } from '../../src/cni/pod-masquerade.ts';
import { podRoutes } from '../../src/cni/pod-routes.ts';
import type { Result } from '../../src/cni/types.ts';
import { resultForVersion } from '../../src/cni/version.ts';
import { formatCidr, parseAddress, parseCidr } from '../../src/net/address.ts';
import { macForAddress, macForName } from '../../src/net/mac.ts';
import { subnetFileProblem } from '../../src/subnet/subnet-file.ts';

const gw = { address: parseAddress('10.0.0.1')!, prefix: 24 };

test('a missing bridge is created with a MAC pinned to its gateway, addressed and set up', (t) => {
  t.deepEqual(
    bridgeCommands('weft0', undefined, [gw], 1450).map((c) => c.join(' ')),
    ['link add name weft0 mtu 1450 address 0a:58:0a:00:00:01 type bridge', 'addr replace 10.0.0.1/24 dev weft0', 'link set dev weft0 up'],
  );
});

test('an existing bridge keeps its gateway with an idempotent replace and is only set up when down', (t) => {
  const bridge = { name: 'weft0', isBridge: true, up: true, mtu: 1500, mac: '0a:58:0a:00:00:01' };
  t.deepEqual(
    bridgeCommands('weft0', bridge, [gw], undefined).map((c) => c.join(' ')),
    ['addr replace 10.0.0.1/24 dev weft0'],
  );
  t.deepEqual(
    bridgeCommands('weft0', { ...bridge, up: false }, [gw], undefined).map((c) => c.join(' ')),
    ['addr replace 10.0.0.1/24 dev weft0', 'link set dev weft0 up'],
  );
});

test('a dual-stack bridge gets its IPv6 gateway without DAD, so the first pod can use it at once; its MAC still comes from the IPv4 gateway', (t) => {
  const gw6 = { address: parseAddress('fd00:10:244:1::1')!, prefix: 64 };
  t.deepEqual(
    bridgeCommands('weft0', undefined, [gw, gw6], undefined).map((c) => c.join(' ')),
    [
      'link add name weft0 address 0a:58:0a:00:00:01 type bridge',
      'addr replace 10.0.0.1/24 dev weft0',
      'addr replace fd00:10:244:1::1/64 dev weft0 nodad',
      'link set dev weft0 up',
    ],
  );
});

test('a pod gets one default route per family, via the gateway of its first subnet of that family', (t) => {
  const assigned = [
    { address: parseAddress('fd00::5')!, gateway: parseAddress('fd00::1')! },
    { address: parseAddress('10.0.0.5')!, gateway: parseAddress('10.0.0.1')! },
  ];
  t.deepEqual(podRoutes(undefined, assigned), [
    { dst: '0.0.0.0/0', gw: '10.0.0.1' },
    { dst: '::/0', gw: 'fd00::1' },
  ]);
  t.deepEqual(podRoutes(undefined, assigned.slice(0, 1)), [{ dst: '::/0', gw: 'fd00::1' }]);
});

test('host veth names are stable, 15 characters, and recognisable', (t) => {
  const name = hostVethName('3f2a1b', 'eth0');
  t.is(name, hostVethName('3f2a1b', 'eth0'));
  t.is(name.length, 15);
  t.true(isHostVethName(name));
  t.not(name, hostVethName('3f2a1b', 'eth1'));
  t.false(isHostVethName('veth1234567890a'));
});

test('pod MACs encode the pod IP; other MACs are locally administered and differ from pod MACs', (t) => {
  t.is(macForAddress(parseAddress('10.244.1.5')!), '0a:58:0a:f4:01:05');
  t.regex(macForName('weft0'), /^0e(:[0-9a-f]{2}){5}$/);
});

test('results convert to the requested version', (t) => {
  const result: Result = {
    cniVersion: '1.1.0',
    interfaces: [
      { name: 'weft0', mac: 'm1' },
      { name: 'h', mac: 'm2' },
      { name: 'eth0', mac: 'm3', mtu: 1450, sandbox: '/ns' },
    ],
    ips: [
      { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 2 },
      { address: 'fd00::2/64', gateway: 'fd00::1', interface: 2 },
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
    dns: {},
  };
  const v040 = resultForVersion(result, '0.4.0') as { ips: { version: string }[]; interfaces: { mtu?: number }[] };
  t.deepEqual(
    v040.ips.map((i) => i.version),
    ['4', '6'],
  );
  t.is(v040.interfaces[2]!.mtu, undefined);
  const v100 = resultForVersion(result, '1.0.0') as { ips: { version?: string }[] };
  t.is(v100.ips[0]!.version, undefined);
  const v110 = resultForVersion(result, '1.1.0') as { interfaces: { mtu?: number }[] };
  t.is(v110.interfaces[2]!.mtu, 1450);
});

test('the subnet file is validated field by field', (t) => {
  const good = { version: 1, clusterNetworks: ['10.244.0.0/16'], subnets: [{ subnet: '10.244.1.0/24', gateway: '10.244.1.1' }], mtu: 1450, ipMasq: true };
  t.is(subnetFileProblem(good), undefined);
  t.regex(subnetFileProblem({ ...good, version: 2 })!, /has version 2/);
  t.regex(subnetFileProblem({ ...good, subnets: [] })!, /has no "subnets"/);
  t.regex(subnetFileProblem({ ...good, subnets: [{ subnet: '10.244.1.0/24', gateway: '10.9.9.9' }] })!, /gateway "10\.9\.9\.9" is not inside/);
  t.regex(subnetFileProblem({ ...good, mtu: 'big' })!, /invalid "mtu"/);
  t.regex(subnetFileProblem({ ...good, ipMasq: 'yes' })!, /boolean "ipMasq"/);
});

test('a subnet file has at most one subnet per family, each written as its network', (t) => {
  const v4 = { subnet: '10.244.1.0/24', gateway: '10.244.1.1' };
  const v6 = { subnet: 'fd00:10:244:1::/64', gateway: 'fd00:10:244:1::1' };
  const file = (subnets: unknown[]) => ({ version: 1, clusterNetworks: ['10.244.0.0/16', 'fd00:10:244::/56'], subnets, mtu: 1450, ipMasq: false });
  t.is(subnetFileProblem(file([v4, v6])), undefined);
  t.is(subnetFileProblem(file([v6, v4])), undefined, 'either family may come first');
  t.is(subnetFileProblem(file([v6])), undefined, 'IPv6 only');
  t.is(
    subnetFileProblem(file([v6, v4, { subnet: 'fd00:10:244:2::/64', gateway: 'fd00:10:244:2::1' }])),
    'subnets[2] fd00:10:244:2::/64 is a second IPv6 subnet after fd00:10:244:1::/64: a node has one pod subnet per family',
  );
  t.regex(subnetFileProblem(file([v4, { subnet: '10.244.2.0/24', gateway: '10.244.2.1' }]))!, /subnets\[1\] 10\.244\.2\.0\/24 is a second IPv4 subnet/);
  t.is(
    subnetFileProblem(file([{ ...v6, subnet: 'fd00:10:244:1::7/64' }])),
    'subnets[0].subnet "fd00:10:244:1::7/64" has host bits set: write it as fd00:10:244:1::/64',
  );
  t.regex(subnetFileProblem(file([{ ...v6, gateway: 'fd00:10:244:2::1' }]))!, /subnets\[0\]\.gateway "fd00:10:244:2::1" is not inside fd00:10:244:1::\/64/);
});

test('the destinations a masquerading pod keeps its address for are the outermost CIDRs, once each', (t) => {
  const cidrs = (...texts: string[]) => texts.map((c) => parseCidr(c)!);
  const keep = (...texts: string[]) => outermost(cidrs(...texts)).map(formatCidr);
  t.deepEqual(keep('10.244.1.0/24', 'fd00:10:244:1::/64', '10.244.0.0/16', 'fd00:10:244::/56'), ['10.244.0.0/16', 'fd00:10:244::/56']);
  t.deepEqual(keep('10.244.1.0/24', '10.244.1.0/24', '10.245.0.0/16'), ['10.244.1.0/24', '10.245.0.0/16']);
  t.deepEqual(keep('fd00::/64', '10.0.0.0/8'), ['fd00::/64', '10.0.0.0/8'], 'families never cover each other');
});

test('the masquerade script only adds set elements after a flush-and-readd of its two rules', (t) => {
  const script = masqueradeScript([parseAddress('10.0.0.5')!], [parseCidr('10.0.0.0/24')!, parseCidr('10.244.0.0/16')!]);
  const lines = script.map((c) => c.join(' '));
  t.is(lines.filter((l) => l.startsWith('add rule')).length, 2);
  t.true(lines.indexOf('flush chain inet weft-pod-masq postrouting') < lines.findIndex((l) => l.startsWith('add rule')));
  t.true(lines.includes('add element inet weft-pod-masq keep4 { 10.244.0.0/16 }'));
  t.true(lines.includes('add element inet weft-pod-masq sources4 { 10.0.0.5 }'));
});
