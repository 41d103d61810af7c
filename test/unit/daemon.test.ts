import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parseClusterCidrs, resolveDaemonConfig } from '../../src/daemon/config.ts';
import { parseListenAddress } from '../../src/daemon/health.ts';
import { parseNetConf } from '../../src/daemon/net-conf.ts';
import { masqueradeChains } from '../../src/daemon/node-masquerade.ts';
import { usablePodCidrs } from '../../src/daemon/own-node.ts';
import { type ReadinessFacts, readiness } from '../../src/daemon/readiness.ts';
import { createScheduler, type PassKind } from '../../src/daemon/scheduler.ts';
import { skipLogLines } from '../../src/daemon/skip-log.ts';
import { chooseUnderlay, type InterfaceView } from '../../src/daemon/underlay.ts';
import { exponentialBackoff } from '../../src/k8s/backoff.ts';
import { retriedRequest } from '../../src/k8s/retry.ts';
import { restoreInput } from '../../src/linux/iptables.ts';
import { formatCidr, parseCidr } from '../../src/net/address.ts';
import type { Skipped } from '../../src/overlay/types.ts';
import { ensureSubnetFile, subnetFileFor } from '../../src/subnet/subnet-file.ts';

const v4 = (...addresses: string[]) => addresses.map((address) => ({ address, prefix: 24 }));
const ifaces: InterfaceView[] = [
  { name: 'lo', mtu: 65536, up: true, ipv4: [{ address: '127.0.0.1', prefix: 8 }] },
  { name: 'eth0', mtu: 1500, up: true, ipv4: v4('192.0.2.10') },
  { name: 'eth1', mtu: 9000, up: true, ipv4: v4('198.51.100.10', '198.51.100.11') },
  { name: 'eth2', mtu: 1500, up: false, ipv4: v4('203.0.113.10') },
];
const none = { iface: [], ifaceRegex: [] };

test("the underlay is the default route's interface unless a flag says otherwise, and says why", (t) => {
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, none), { name: 'eth0', ip: '192.0.2.10', prefix: 24, mtu: 1500, reason: 'it carries the default route' });
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, { ...none, iface: ['eth9', 'eth1'] }), { name: 'eth1', ip: '198.51.100.10', reason: '--iface eth1' });
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, { ...none, iface: ['198.51.100.11'] }), { name: 'eth1', ip: '198.51.100.11' });
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, { ...none, ifaceRegex: ['^eth[12]$'] }), { name: 'eth1' }, 'a down interface is never chosen');
  t.like(chooseUnderlay(ifaces, 'eth0', undefined, { ...none, ifaceRegex: ['^198\\.51\\.100\\.11$'] }), { name: 'eth1', ip: '198.51.100.11' });
  t.like(chooseUnderlay(ifaces, 'eth0', { dev: 'eth1', src: '198.51.100.11' }, { ...none, ifaceCanReach: '198.51.100.1' }), {
    name: 'eth1',
    ip: '198.51.100.11',
  });
  t.throws(() => chooseUnderlay(ifaces, 'eth0', undefined, { ...none, iface: ['eth2'] }), {
    message: /no up interface with an IPv4 address matches --iface eth2/,
  });
  t.throws(() => chooseUnderlay(ifaces, undefined, undefined, none), { message: /no default route .*: pass --iface/ });
});

test('weftd refuses a pod CIDR outside the cluster network, and an IPv6-only node', (t) => {
  const cluster = [parseCidr('10.244.0.0/16')!];
  t.deepEqual(usablePodCidrs('n1', ['10.244.1.0/24', 'fd00::/64'], cluster).map(formatCidr), ['10.244.1.0/24']);
  t.deepEqual(usablePodCidrs('n1', ['10.244.1.9/24'], cluster).map(formatCidr), ['10.244.1.0/24'], 'canonical');
  t.throws(() => usablePodCidrs('n1', ['10.244.1.0/24 dev lo'], cluster), { message: /pod CIDR "10\.244\.1\.0\/24 dev lo", which is not a CIDR/ });
  t.throws(() => usablePodCidrs('n1', ['10.99.1.0/24'], cluster), { message: /pod CIDR 10\.99\.1\.0\/24 outside the cluster network/ });
  t.throws(() => usablePodCidrs('n1', ['10.0.0.0/8'], cluster), { message: /outside the cluster network/ }, 'wider than the cluster is outside too');
  t.throws(() => usablePodCidrs('n1', ['fd00::/64'], cluster), { message: /needs an IPv4 pod CIDR/ });
  t.throws(() => parseClusterCidrs([]), { message: /--cluster-cidr is required/ });
  t.throws(() => parseClusterCidrs(['10.244.0.0']), { message: /--cluster-cidr "10\.244\.0\.0" is not an IPv4 CIDR/ });
  t.throws(() => parseClusterCidrs(['0.0.0.0/0']), { message: /--cluster-cidr "0\.0\.0\.0\/0" is far wider than a pod network: use a \/8 or longer prefix/ });
  t.throws(() => parseClusterCidrs(['10.0.0.0/8', '64.0.0.0/2']), { message: /"64\.0\.0\.0\/2" is far wider/ });
  t.is(parseClusterCidrs(['10.0.0.0/8'])[0]!.prefix, 8);
  t.throws(() => parseClusterCidrs(['10.244.1.0/16']), {
    message: /--cluster-cidr "10\.244\.1\.0\/16" has bits set after its prefix: did you mean 10\.244\.0\.0\/16\?/,
  });
});

test('health address parsing names the flag and the form', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:9402'), { host: '127.0.0.1', port: 9402 });
  t.deepEqual(parseListenAddress(':0'), { host: '0.0.0.0', port: 0 });
  t.deepEqual(parseListenAddress('[::1]:9402'), { host: '::1', port: 9402 });
  t.throws(() => parseListenAddress('9402'), { message: /--health-addr "9402" is not HOST:PORT/ });
});

test("masquerade keeps pod-to-pod addresses and masquerades what leaves the cluster, in weft's own chains", (t) => {
  const { chains, jumps } = masqueradeChains([parseCidr('10.244.0.0/16')!], { bridge: 'weft0', overlay: 'weft.1' });
  const input = restoreInput(chains);
  t.regex(
    input,
    /^\*nat\n:WEFT-POSTROUTING - \[0:0\]\n-A WEFT-POSTROUTING -s 10\.244\.0\.0\/16 -d 10\.244\.0\.0\/16 .*-j RETURN\n-A WEFT-POSTROUTING -s 10\.244\.0\.0\/16 ! -d 224\.0\.0\.0\/4 .*-j MASQUERADE --random-fully\nCOMMIT\n\*filter\n:WEFT-FORWARD/,
  );
  t.deepEqual(
    jumps.map((j) => `${j.table}/${j.from}->${j.to}`),
    ['nat/POSTROUTING->WEFT-POSTROUTING', 'filter/FORWARD->WEFT-FORWARD'],
  );
});

test('the scheduler coalesces a burst into one pass, runs once more for events during a pass, and retries failures', async (t) => {
  const passes: PassKind[] = [];
  let fail = 1;
  let release: () => void = () => {};
  let blocking = false;
  const errors: unknown[] = [];
  const s = createScheduler(
    async (kind) => {
      passes.push(kind);
      if (blocking) await new Promise<void>((r) => (release = r));
      if (fail-- > 0) throw new Error('boom');
    },
    { coalesceMs: 20, retryMs: 30, periodicMs: 60_000, onError: (e) => errors.push(e) },
  );
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
  const s = createScheduler(
    async (kind) => {
      passes.push(kind);
    },
    { coalesceMs: 5, retryMs: 5, periodicMs: 30, onError: () => {} },
  );
  t.teardown(() => s.stop());
  // Bounded wait rather than a fixed sleep: timers run late on a loaded machine.
  for (let waited = 0; passes.length < 2 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  t.true(passes.length >= 2);
  t.true(passes.every((k) => k === 'periodic'));
});

test('flags win over net-conf.json, which wins over the defaults', (t) => {
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

test('bad settings name where they came from and the fix', (t) => {
  const n = { nodeName: 'n', clusterCidr: ['10.244.0.0/16'] };
  t.throws(() => resolveDaemonConfig({}, {}), { message: /--node-name is required/ });
  t.throws(() => resolveDaemonConfig({ nodeName: 'n' }, {}), { message: /--cluster-cidr is required \(or net-conf "network"\)/ });
  t.throws(() => resolveDaemonConfig({ nodeName: 'n' }, { network: ['10.244.0.0/33'] }), {
    message: /^net-conf "network" "10\.244\.0\.0\/33" is not an IPv4 CIDR/,
  });
  t.throws(
    () => resolveDaemonConfig({ ...n, ifaceCanReach: 'eth0; reboot' }, {}),
    { message: /^--iface-can-reach "eth0; reboot" is not an IP address/ },
    'only an address reaches ip route get',
  );
  t.is(resolveDaemonConfig({ ...n, ifaceCanReach: '2001:DB8:0::1' }, {}).underlay.ifaceCanReach, '2001:db8::1', 'in canonical form');
  t.throws(() => resolveDaemonConfig({ ...n, ifaceRegex: ['eth[0-'] }, {}), { message: /^--iface-regex "eth\[0-" is not a regular expression/ });
  t.throws(() => resolveDaemonConfig(n, { vni: 0 }), { message: /VNI 0 \(--vni or net-conf "vni"\) is out of range/ });
  t.throws(() => resolveDaemonConfig({ ...n, port: 70000 }, {}), { message: /port 70000 .* is not a UDP port/ });
  t.throws(() => resolveDaemonConfig({ ...n, resync: 0 }, {}), { message: /--resync must be a positive number of seconds/ });
  t.throws(() => parseNetConf('{', 'f.json'), { message: /--net-conf f\.json is not valid JSON/ });
  t.throws(() => parseNetConf('{"Network":"10.0.0.0/8"}', 'f.json'), { message: /unknown field\(s\) Network: the fields are network, vni/ });
  t.throws(() => parseNetConf('{"ipMasq":"yes"}', 'f.json'), { message: /"ipMasq" must be true or false, got "yes"/ });
  t.throws(() => parseNetConf('{"network":[]}', 'f.json'), { message: /"network" must be a CIDR or a list of CIDRs/ });
});

test('a skipped node is logged once per change, and once more when it is no longer skipped', (t) => {
  const conflict: Skipped = { node: 'aaa-hijack', reason: 'conflict', problem: 'claims pod CIDR 10.244.2.0/24, which overlaps …' };
  const malformed: Skipped = { node: 'bad', reason: 'malformed', problem: 'has VTEP MAC 00:00:00:00:00:00 (weft.dev/vtep-mac), which is all zeros' };
  const waiting: Skipped = { node: 'joining', reason: 'not-ready', problem: 'has no IPv4 pod CIDR yet' };
  const first = skipLogLines(new Map(), [conflict, malformed, waiting]);
  t.deepEqual(
    first.lines,
    [
      'skipping node aaa-hijack: it claims pod CIDR 10.244.2.0/24, which overlaps … [conflict]',
      'skipping node bad: it has VTEP MAC 00:00:00:00:00:00 (weft.dev/vtep-mac), which is all zeros [malformed]',
    ],
    'a node still joining is counted, not logged',
  );
  const again = skipLogLines(first.after, [conflict, malformed, waiting]);
  t.deepEqual(again.lines, [], 'nothing new: nothing logged');
  const changed = skipLogLines(again.after, [
    conflict,
    { ...malformed, problem: 'has VTEP MAC 01:00:5e:00:00:01 (weft.dev/vtep-mac), which is a multicast MAC' },
  ]);
  t.deepEqual(changed.lines, ['skipping node bad: it has VTEP MAC 01:00:5e:00:00:01 (weft.dev/vtep-mac), which is a multicast MAC [malformed]']);
  t.deepEqual(skipLogLines(changed.after, [malformed]).lines, [
    'skipping node bad: it has VTEP MAC 00:00:00:00:00:00 (weft.dev/vtep-mac), which is all zeros [malformed]',
    'node aaa-hijack is no longer skipped',
  ]);
});

test('readiness names the first thing missing: VTEP, sync, subnet file, network condition', (t) => {
  const ok: ReadinessFacts = {
    podCidr: true,
    vtep: { succeeded: true },
    synced: true,
    subnetFile: { path: '/run/weft/subnet.json', present: true },
    networkAvailable: { succeeded: true },
  };
  t.deepEqual(readiness(ok), { ready: true, reason: 'ready' });
  t.deepEqual(readiness({ ...ok, podCidr: false }), { ready: false, reason: "waiting for this node's pod CIDR" });
  t.is(
    readiness({ ...ok, vtep: { succeeded: false, error: 'cannot publish the VTEP on node n1: HTTP 500' } }).reason,
    'cannot publish the VTEP on node n1: HTTP 500; retrying',
  );
  t.is(readiness({ ...ok, vtep: { succeeded: false } }).reason, "publishing this node's VTEP");
  t.is(readiness({ ...ok, synced: false }).reason, 'waiting for the first full sync of Nodes');
  t.deepEqual(readiness({ ...ok, subnetFile: { path: '/run/weft/subnet.json', present: false } }), {
    ready: false,
    reason: 'subnet file /run/weft/subnet.json is missing; the next reconcile pass writes it again',
  });
  t.is(
    readiness({ ...ok, networkAvailable: { succeeded: false, error: 'cannot mark the network available on node n1: HTTP 500' } }).reason,
    'cannot mark the network available on node n1: HTTP 500; retrying',
  );
});

test('an API request weftd needs is retried with growing pauses until it succeeds', async (t) => {
  let failures = 3;
  const sent: number[] = [];
  const pauses: number[] = [];
  const errors: string[] = [];
  const request = retriedRequest(
    async () => {
      sent.push(sent.length);
      if (failures-- > 0) throw new Error('HTTP 500');
    },
    {
      backoff: exponentialBackoff(100, 1000, () => 0),
      onError: (err, delay) => errors.push(`${(err as Error).message} ${delay}`),
      pause: async (ms) => {
        pauses.push(ms);
      },
    },
  );
  t.false(request.succeeded());
  request.request();
  request.request(); // asked again while trying: no second loop
  for (let i = 0; i < 100 && request.busy(); i++) await new Promise((r) => setImmediate(r));
  t.true(request.succeeded());
  t.false(request.busy());
  t.deepEqual(pauses, [100, 200, 400]);
  t.deepEqual(errors, ['HTTP 500 100', 'HTTP 500 200', 'HTTP 500 400']);
  t.is(request.lastError(), undefined);
  t.is(sent.length, 5, 'three failures, the success, and once more for the request made during the tries');
  await request.stop();
});

test('the subnet file is rewritten when missing or different, and left alone when right', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'subnet.json');
  const file = subnetFileFor([parseCidr('10.244.1.0/24')!], [parseCidr('10.244.0.0/16')!], 1450, false);
  t.deepEqual(file, {
    version: 1,
    clusterNetworks: ['10.244.0.0/16'],
    subnets: [{ subnet: '10.244.1.0/24', gateway: '10.244.1.1' }],
    mtu: 1450,
    ipMasq: false,
  });
  t.is(ensureSubnetFile(path, file), 'missing');
  t.deepEqual(JSON.parse(readFileSync(path, 'utf8')), file);
  t.is(ensureSubnetFile(path, file), 'unchanged');
  writeFileSync(path, JSON.stringify({ ...file, mtu: 9000 }));
  t.is(ensureSubnetFile(path, file), 'different');
  t.is(JSON.parse(readFileSync(path, 'utf8')).mtu, 1450);
});
