import test from 'ava';
import { parseCidr } from '../../src/ipam/address.ts';
import { resolveDaemonConfig } from '../../src/daemon/config.ts';
import { parseListenAddress } from '../../src/daemon/health.ts';
import { parseNetConf } from '../../src/daemon/net-conf.ts';
import { masqueradeChains } from '../../src/daemon/masquerade.ts';
import { usablePodCidrs } from '../../src/daemon/own-node.ts';
import { parseClusterCidrs } from '../../src/daemon/run.ts';
import { createScheduler, type PassKind } from '../../src/daemon/scheduler.ts';
import { chooseUnderlay, type InterfaceView } from '../../src/daemon/underlay.ts';
import { restoreInput } from '../../src/linux/iptables.ts';

const v4 = (...addresses: string[]) => addresses.map((address) => ({ address, prefix: 24 }));
const ifaces: InterfaceView[] = [
  { name: 'lo', mtu: 65536, up: true, ipv4: [{ address: '127.0.0.1', prefix: 8 }] },
  { name: 'eth0', mtu: 1500, up: true, ipv4: v4('192.0.2.10') },
  { name: 'eth1', mtu: 9000, up: true, ipv4: v4('198.51.100.10', '198.51.100.11') },
  { name: 'eth2', mtu: 1500, up: false, ipv4: v4('203.0.113.10') },
];
const none = { iface: [], ifaceRegex: [] };

test('the underlay is the default route\'s interface unless a flag says otherwise, and says why', (t) => {
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, none), { name: 'eth0', ip: '192.0.2.10', prefix: 24, mtu: 1500, reason: 'it carries the default route' });
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, { ...none, iface: ['eth9', 'eth1'] }), { name: 'eth1', ip: '198.51.100.10', reason: '--iface eth1' });
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, { ...none, iface: ['198.51.100.11'] }), { name: 'eth1', ip: '198.51.100.11' });
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, { ...none, ifaceRegex: ['^eth[12]$'] }), { name: 'eth1' }, 'a down interface is never chosen');
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, { ...none, ifaceRegex: ['^198\\.51\\.100\\.11$'] }), { name: 'eth1', ip: '198.51.100.11' });
  t.like(chooseUnderlay(ifaces, 'eth0', { dev: 'eth1', src: '198.51.100.11' }, { ...none, ifaceCanReach: '198.51.100.1' }), { name: 'eth1', ip: '198.51.100.11' });
  t.throws(() => chooseUnderlay(ifaces, 'eth0', undefined, { ...none, iface: ['eth2'] }), { message: /no up interface with an IPv4 address matches --iface eth2/ });
  t.throws(() => chooseUnderlay(ifaces, undefined, undefined, none), { message: /no default route .*: pass --iface/ });
});

test('weftd refuses a pod CIDR outside the cluster network, and an IPv6-only node', (t) => {
  const cluster = [parseCidr('10.244.0.0/16')!];
  t.deepEqual(usablePodCidrs('n1', ['10.244.1.0/24', 'fd00::/64'], cluster), ['10.244.1.0/24']);
  t.throws(() => usablePodCidrs('n1', ['10.99.1.0/24'], cluster), { message: /pod CIDR 10\.99\.1\.0\/24 outside the cluster network/ });
  t.throws(() => usablePodCidrs('n1', ['10.0.0.0/8'], cluster), { message: /outside the cluster network/ }, 'wider than the cluster is outside too');
  t.throws(() => usablePodCidrs('n1', ['fd00::/64'], cluster), { message: /needs an IPv4 pod CIDR/ });
  t.throws(() => parseClusterCidrs([]), { message: /--cluster-cidr is required/ });
  t.throws(() => parseClusterCidrs(['10.244.0.0']), { message: /--cluster-cidr "10\.244\.0\.0" is not an IPv4 CIDR/ });
});

test('health address parsing names the flag and the form', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:9402'), { host: '127.0.0.1', port: 9402 });
  t.deepEqual(parseListenAddress(':0'), { host: '0.0.0.0', port: 0 });
  t.deepEqual(parseListenAddress('[::1]:9402'), { host: '::1', port: 9402 });
  t.throws(() => parseListenAddress('9402'), { message: /--health-addr "9402" is not HOST:PORT/ });
});

test('masquerade keeps pod-to-pod addresses and masquerades what leaves the cluster, in weft\'s own chains', (t) => {
  const { chains, jumps } = masqueradeChains([parseCidr('10.244.0.0/16')!]);
  const input = restoreInput(chains);
  t.regex(input, /^\*nat\n:WEFT-POSTROUTING - \[0:0\]\n-A WEFT-POSTROUTING -s 10\.244\.0\.0\/16 -d 10\.244\.0\.0\/16 .*-j RETURN\n-A WEFT-POSTROUTING -s 10\.244\.0\.0\/16 ! -d 224\.0\.0\.0\/4 .*-j MASQUERADE --random-fully\nCOMMIT\n\*filter\n:WEFT-FORWARD/);
  t.deepEqual(jumps.map((j) => `${j.table}/${j.from}->${j.to}`), ['nat/POSTROUTING->WEFT-POSTROUTING', 'filter/FORWARD->WEFT-FORWARD']);
});

test('the scheduler coalesces a burst into one pass, runs once more for events during a pass, and retries failures', async (t) => {
  const passes: PassKind[] = [];
  let fail = 1;
  let release: () => void = () => {};
  let blocking = false;
  const errors: unknown[] = [];
  const s = createScheduler(async (kind) => {
    passes.push(kind);
    if (blocking) await new Promise<void>((r) => (release = r));
    if (fail-- > 0) throw new Error('boom');
  }, { coalesceMs: 20, retryMs: 30, periodicMs: 60_000, onError: (e) => errors.push(e) });
  t.teardown(() => s.stop());
  for (let i = 0; i < 10; i++) s.trigger();
  for (let waited = 0; passes.length < 2 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(passes, ['event', 'event'], 'ten events coalesce into one pass; its failure is retried once');
  t.is(errors.length, 1);

  blocking = true;
  s.trigger();
  for (let waited = 0; passes.length < 3 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  s.trigger();
  s.trigger();
  blocking = false;
  release();
  for (let waited = 0; passes.length < 4 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  t.is(passes.length, 4, 'events during a pass cause exactly one more pass');
});

test('the periodic resync runs without any event', async (t) => {
  const passes: PassKind[] = [];
  const s = createScheduler(async (kind) => { passes.push(kind); }, { coalesceMs: 5, retryMs: 5, periodicMs: 30, onError: () => {} });
  t.teardown(() => s.stop());
  // Bounded wait rather than a fixed sleep: timers run late on a loaded machine.
  for (let waited = 0; passes.length < 2 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  t.true(passes.length >= 2);
  t.true(passes.every((k) => k === 'periodic'));
});

test('flags win over net-conf.json, which wins over the defaults', (t) => {
  const file = parseNetConf('{"network":"10.244.0.0/16","vni":7,"port":8472,"mtu":1400,"directRouting":true,"ipMasq":true}', 'net-conf.json');
  const fromFile = resolveDaemonConfig({ nodeName: 'n1' }, file);
  t.like(fromFile, { clusterCidrs: ['10.244.0.0/16'], vni: 7, port: 8472, mtu: 1400, directRouting: true, ipMasq: true, resyncMs: 30_000 });
  const flagged = resolveDaemonConfig({ nodeName: 'n1', clusterCidr: ['10.1.0.0/16'], vni: 2, ipMasq: false, resync: 2 }, file);
  t.like(flagged, { clusterCidrs: ['10.1.0.0/16'], vni: 2, port: 8472, ipMasq: false, resyncMs: 2000 });
  t.like(resolveDaemonConfig({ nodeName: 'n1' }, {}), { vni: 1, port: 4789, mtu: undefined, ipMasq: false, directRouting: false, subnetFile: '/run/weft/subnet.json' });
});

test('bad settings name where they came from and the fix', (t) => {
  t.throws(() => resolveDaemonConfig({}, {}), { message: /--node-name is required/ });
  t.throws(() => resolveDaemonConfig({ nodeName: 'n' }, { vni: 0 }), { message: /VNI 0 \(--vni or net-conf "vni"\) is out of range/ });
  t.throws(() => resolveDaemonConfig({ nodeName: 'n', port: 70000 }, {}), { message: /port 70000 .* is not a UDP port/ });
  t.throws(() => resolveDaemonConfig({ nodeName: 'n', resync: 0 }, {}), { message: /--resync must be a positive number of seconds/ });
  t.throws(() => parseNetConf('{', 'f.json'), { message: /--net-conf f\.json is not valid JSON/ });
  t.throws(() => parseNetConf('{"Network":"10.0.0.0/8"}', 'f.json'), { message: /unknown field\(s\) Network: the fields are network, vni/ });
  t.throws(() => parseNetConf('{"ipMasq":"yes"}', 'f.json'), { message: /"ipMasq" must be true or false, got "yes"/ });
  t.throws(() => parseNetConf('{"network":[]}', 'f.json'), { message: /"network" must be a CIDR or a list of CIDRs/ });
});
