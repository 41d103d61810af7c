// Both programs' settings: the plugin's network config and CNI_* variables,
// and weftd's flags and net-conf.json.
import test from 'ava';
import { parseInvocation } from '../../src/cni/env.ts';
import { CniError } from '../../src/cni/errors.ts';
import { configVersion, decodeConfig, PLUGIN_DEFAULTS, parseNetworkConfig } from '../../src/cni/network-config.ts';
import { MIN_CLUSTER_PREFIX, parseClusterCidrs, resolveDaemonConfig, VXLAN_OVERHEAD } from '../../src/daemon/config.ts';
import { parseNetConf } from '../../src/daemon/net-conf.ts';
import { formatCidr } from '../../src/net/address.ts';

const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof CniError ? err.code : -1;
  }
  return undefined;
};

test('defaults fill everything the config leaves out', (t) => {
  const conf = parseNetworkConfig({ cniVersion: '1.1.0', name: 'weft', type: 'weft' });
  t.is(conf.bridge, PLUGIN_DEFAULTS.bridge);
  t.is(conf.subnetFile, '/run/weft/subnet.json');
  t.is(conf.ipam.dataDir, '/var/lib/cni/networks');
  t.true(conf.hairpinMode);
  t.false(conf.ipMasq);
  t.true(conf.spoofCheck, 'anti-spoofing is on unless turned off');
  t.is(conf.mtu, undefined);
  t.is(conf.ipam.ranges, undefined);
  t.deepEqual(conf.validAttachments, []);
});

test('unknown keys are ignored; known keys are typed', (t) => {
  const conf = parseNetworkConfig({
    cniVersion: '1.1.0',
    name: 'n',
    somethingElse: [1, 2],
    mtu: 1450,
    hairpinMode: false,
    ipMasq: true,
    spoofCheck: false,
    dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.0.0.0/24', gateway: '10.0.0.1' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: '/tmp/x' },
  });
  t.is(conf.mtu, 1450);
  t.false(conf.hairpinMode);
  t.true(conf.ipMasq);
  t.false(conf.spoofCheck);
  t.deepEqual(conf.dns, { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] });
  t.deepEqual(conf.ipam.ranges, [[{ subnet: '10.0.0.0/24', gateway: '10.0.0.1' }]]);
  t.deepEqual(conf.ipam.routes, [{ dst: { family: 4, network: 0n, prefix: 0 } }], 'routes are parsed values');
});

test('GC attachments come from cni.dev/valid-attachments, or the older cni.dev/attachments; null means none', (t) => {
  const a = [{ containerID: 'c1', ifname: 'eth0' }];
  t.deepEqual(parseNetworkConfig({ cniVersion: '1.1.0', name: 'n', 'cni.dev/valid-attachments': a }).validAttachments, a);
  t.deepEqual(parseNetworkConfig({ cniVersion: '1.1.0', name: 'n', 'cni.dev/attachments': a }).validAttachments, a);
  t.deepEqual(parseNetworkConfig({ cniVersion: '1.1.0', name: 'n', 'cni.dev/valid-attachments': null }).validAttachments, []);
  t.is(
    codeOf(() => parseNetworkConfig({ cniVersion: '1.1.0', name: 'n', 'cni.dev/valid-attachments': [{ containerID: '../x', ifname: 'eth0' }] })),
    7,
  );
});

test('decode failures are code 6, type errors code 7', (t) => {
  t.is(
    codeOf(() => decodeConfig('{')),
    6,
  );
  t.is(
    codeOf(() => decodeConfig('"string"')),
    6,
  );
  t.is(
    codeOf(() => configVersion({})),
    7,
  );
  t.is(
    codeOf(() => parseNetworkConfig({ cniVersion: '1.1.0', name: 'n', dns: { nameservers: '8.8.8.8' } })),
    7,
  );
  t.is(
    codeOf(() => parseNetworkConfig({ cniVersion: '1.1.0', name: 'n', ipam: { routes: [{ dst: 'default' }] } })),
    7,
  );
  t.is(
    codeOf(() => parseNetworkConfig({ cniVersion: '1.1.0', name: 'n', subnetFile: 'relative.json' })),
    7,
  );
  for (const spoofCheck of ['false', 0, null, []]) {
    t.throws(() => parseNetworkConfig({ cniVersion: '1.1.0', name: 'n', spoofCheck }), {
      instanceOf: CniError,
      message: /^spoofCheck must be true or false, got /,
    });
  }
});

test('the CNI_* variables are validated for each verb', (t) => {
  const add = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/proc/1/ns/net', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAME=p;IgnoreUnknown=1' };
  const inv = parseInvocation(add);
  t.is(inv.command, 'ADD');
  t.deepEqual(inv.args, { K8S_POD_NAME: 'p', IgnoreUnknown: '1' });
  t.is(parseInvocation({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0' }).netns, '');
  t.is(parseInvocation({ CNI_COMMAND: 'GC' }).command, 'GC');
  t.is(parseInvocation({ CNI_COMMAND: 'STATUS' }).command, 'STATUS');
  t.is(
    codeOf(() => parseInvocation({ ...add, CNI_CONTAINERID: '' })),
    4,
  );
  t.is(
    codeOf(() => parseInvocation({ ...add, CNI_IFNAME: 'x'.repeat(15) })),
    undefined,
    '15 characters is the limit, not over it',
  );
  t.is(
    codeOf(() => parseInvocation({ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0' })),
    4,
  );
});

test("weftd's flags win over net-conf.json, which wins over the defaults", (t) => {
  const file = parseNetConf('{"network":"10.244.0.0/16","vni":7,"port":8472,"mtu":1400,"directRouting":true,"ipMasq":true}', 'net-conf.json');
  const fromFile = resolveDaemonConfig({ nodeName: 'n1' }, file);
  t.like(fromFile, { vni: 7, port: 8472, mtu: 1400, directRouting: true, ipMasq: true, resyncMs: 30_000 });
  t.deepEqual(fromFile.clusterCidrs.map(formatCidr), ['10.244.0.0/16']);
  const flagged = resolveDaemonConfig({ nodeName: 'n1', clusterCidr: ['10.1.0.0/16'], vni: 2, ipMasq: false, resync: 2 }, file);
  t.like(flagged, { vni: 2, port: 8472, ipMasq: false, resyncMs: 2000 });
  t.deepEqual(flagged.clusterCidrs.map(formatCidr), ['10.1.0.0/16']);
  t.like(resolveDaemonConfig({ nodeName: 'n1', clusterCidr: ['10.244.0.0/16'] }, {}), {
    vni: 1,
    port: 4789,
    mtu: undefined,
    ipMasq: false,
    directRouting: false,
    subnetFile: '/run/weft/subnet.json',
  });
});

test('bad weftd settings name where they came from and the fix', (t) => {
  const n = { nodeName: 'n', clusterCidr: ['10.244.0.0/16'] };
  t.throws(() => resolveDaemonConfig({}, {}), { message: /--node-name is required/ });
  t.throws(() => resolveDaemonConfig({ nodeName: 'n' }, {}), { message: /--cluster-cidr is required \(or net-conf "network"\)/ });
  t.throws(() => resolveDaemonConfig({ nodeName: 'n' }, { network: ['10.244.0.0/33'] }), {
    message: /^net-conf "network" "10\.244\.0\.0\/33" is not a CIDR: write it like 10\.244\.0\.0\/16 or fd00:10:244::\/56$/,
  });
  t.throws(
    () => resolveDaemonConfig({ ...n, ifaceCanReach: ['eth0; reboot'] }, {}),
    { message: /^--iface-can-reach "eth0; reboot" is not an IP address/ },
    'only an address reaches ip route get',
  );
  t.throws(() => resolveDaemonConfig({ ...n, ifaceRegex: ['eth[0-'] }, {}), { message: /^--iface-regex "eth\[0-" is not a regular expression/ });
  t.throws(() => resolveDaemonConfig(n, { vni: 0 }), { message: /VNI 0 \(--vni or net-conf "vni"\) is out of range/ });
  t.throws(() => resolveDaemonConfig({ ...n, port: 70000 }, {}), { message: /port 70000 .* is not a UDP port/ });
  t.throws(() => resolveDaemonConfig({ ...n, resync: 0 }, {}), { message: /--resync must be a positive number of seconds/ });
  t.throws(() => parseNetConf('{', 'f.json'), { message: /--net-conf f\.json is not valid JSON/ });
  t.throws(() => parseNetConf('{"Network":"10.0.0.0/8"}', 'f.json'), { message: /unknown field\(s\) Network: the fields are network, vni/ });
  t.throws(() => parseNetConf('{"ipMasq":"yes"}', 'f.json'), { message: /"ipMasq" must be true or false, got "yes"/ });
  t.throws(() => parseNetConf('{"network":[]}', 'f.json'), { message: /"network" must be a CIDR or a list of CIDRs/ });
});

test('the cluster network takes IPv4 and IPv6 CIDRs, repeated or comma-separated, from a flag or net-conf', (t) => {
  const cidrs = (texts: string[]) => parseClusterCidrs(texts).map(formatCidr);
  t.deepEqual(cidrs(['10.244.0.0/16,fd00:10:244::/56']), ['10.244.0.0/16', 'fd00:10:244::/56'], "kube-controller-manager's form");
  t.deepEqual(cidrs(['10.244.0.0/16', 'FD00:10:244:0::/56']), ['10.244.0.0/16', 'fd00:10:244::/56'], 'repeated, in canonical form');
  t.deepEqual(cidrs(['fd00:10:244::/56']), ['fd00:10:244::/56'], 'IPv6 only');
  t.deepEqual(cidrs(['10.244.0.0/16, 10.245.0.0/16']), ['10.244.0.0/16', '10.245.0.0/16'], 'several of one family, spaces after commas');
  t.deepEqual(cidrs([`10.0.0.0/${MIN_CLUSTER_PREFIX[4]}`, `fd00:1::/${MIN_CLUSTER_PREFIX[6]}`]), ['10.0.0.0/8', 'fd00:1::/48'], 'the widest each family takes');
  const fromFile = (network: string) => resolveDaemonConfig({ nodeName: 'n' }, parseNetConf(network, 'f.json')).clusterCidrs.map(formatCidr);
  t.deepEqual(fromFile('{"network":["10.244.0.0/16","fd00:10:244::/56"]}'), ['10.244.0.0/16', 'fd00:10:244::/56']);
  t.deepEqual(fromFile('{"network":"10.244.0.0/16,fd00:10:244::/56"}'), ['10.244.0.0/16', 'fd00:10:244::/56']);
  t.deepEqual(
    resolveDaemonConfig({ nodeName: 'n', clusterCidr: ['fd00:1::/56'] }, { network: ['10.244.0.0/16'] }).clusterCidrs.map(formatCidr),
    ['fd00:1::/56'],
    'the flag wins over the file as a whole',
  );
  t.deepEqual(VXLAN_OVERHEAD, { 4: 50, 6: 70 }, 'outer IPv4 or IPv6 header, UDP, VXLAN and inner Ethernet');
});

test('a bad cluster network is refused with the fix', (t) => {
  const refused = (text: string, message: string, source?: string) => t.throws(() => parseClusterCidrs([text], source), { message }, text);
  refused('fd00::/32', '--cluster-cidr "fd00::/32" is far wider than a pod network: use a /48 or longer IPv6 prefix, e.g. fd00:10:244::/56');
  refused('::/0', '--cluster-cidr "::/0" is far wider than a pod network: use a /48 or longer IPv6 prefix, e.g. fd00:10:244::/56');
  refused('0.0.0.0/0', '--cluster-cidr "0.0.0.0/0" is far wider than a pod network: use a /8 or longer IPv4 prefix, e.g. 10.244.0.0/16');
  refused('10.0.0.0/8,64.0.0.0/2', '--cluster-cidr "64.0.0.0/2" is far wider than a pod network: use a /8 or longer IPv4 prefix, e.g. 10.244.0.0/16');
  refused('fd00:10:244::1/56', '--cluster-cidr "fd00:10:244::1/56" has bits set after its prefix: did you mean fd00:10:244::/56?');
  refused('10.244.1.0/16', '--cluster-cidr "10.244.1.0/16" has bits set after its prefix: did you mean 10.244.0.0/16?');
  for (const bad of ['10.244.0.0', 'fd00::/129', 'fd00:::/56', '10.244.0.0/16;', '10.244.0.0/16,', 'eth0'] as const) {
    t.throws(() => parseClusterCidrs([bad]), { message: /is not a CIDR: write it like 10\.244\.0\.0\/16 or fd00:10:244::\/56$/ }, bad);
  }
  refused(
    'fd00::/8',
    'net-conf "network" "fd00::/8" is far wider than a pod network: use a /48 or longer IPv6 prefix, e.g. fd00:10:244::/56',
    'net-conf "network"',
  );
  t.throws(() => parseClusterCidrs([]), {
    message:
      '--cluster-cidr is required (or net-conf "network"): pass the cluster\'s pod networks, e.g. --cluster-cidr 10.244.0.0/16 or --cluster-cidr 10.244.0.0/16,fd00:10:244::/56',
  });
});

test('--iface-can-reach takes one address per family, IPv4 or IPv6, in canonical form', (t) => {
  const n = { nodeName: 'n', clusterCidr: ['10.244.0.0/16'] };
  const reach = (ifaceCanReach: string[]) => resolveDaemonConfig({ ...n, ifaceCanReach }, {}).underlay.ifaceCanReach;
  t.deepEqual(reach(['2001:DB8:0::1']), ['2001:db8::1']);
  t.deepEqual(reach(['10.0.0.1', '2001:db8::1']), ['10.0.0.1', '2001:db8::1']);
  t.deepEqual(reach(['2001:db8::1,10.0.0.1']), ['2001:db8::1', '10.0.0.1'], 'comma-separated, as WEFTD_IFACE_CAN_REACH carries both');
  t.deepEqual(resolveDaemonConfig(n, {}).underlay, { iface: [], ifaceRegex: [], ifaceCanReach: [] });
  t.throws(() => reach(['10.0.0.1', '10.0.0.2']), {
    message: '--iface-can-reach "10.0.0.1" and "10.0.0.2" are both IPv4: give at most one address per family (one IPv4, one IPv6)',
  });
  t.throws(() => reach(['2001:db8::1,2001:db8::2']), { message: /"2001:db8::1" and "2001:db8::2" are both IPv6: give at most one address per family/ });
  t.throws(() => reach(['10.0.0.1/24']), {
    message:
      /^--iface-can-reach "10\.0\.0\.1\/24" is not an IP address: give the address of a host the underlay reaches, e\.g\. --iface-can-reach 10\.0\.0\.1 or --iface-can-reach 2001:db8::1$/,
  });
});
