import test from 'ava';
import { parseInvocation } from '../../src/cni/env.ts';
import { CniError } from '../../src/cni/errors.ts';
import { configVersion, decodeConfig, PLUGIN_DEFAULTS, parseNetworkConfig } from '../../src/cni/network-config.ts';

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
