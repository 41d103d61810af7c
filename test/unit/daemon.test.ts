import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { parseListenAddress } from '../../src/daemon/health.ts';
import { masqueradeChains } from '../../src/daemon/node-masquerade.ts';
import { usablePodCidrs } from '../../src/daemon/own-node.ts';
import { type ReadinessFacts, readiness } from '../../src/daemon/readiness.ts';
import { overlayOf } from '../../src/daemon/run-loop.ts';
import { createScheduler, type PassKind } from '../../src/daemon/scheduler.ts';
import { skipLogLines } from '../../src/daemon/skip-log.ts';
import { chooseUnderlays, type InterfaceAddress, type InterfaceView, type RouteView, type UnderlayOptions, type Underlays } from '../../src/daemon/underlay.ts';
import { exponentialBackoff } from '../../src/k8s/backoff.ts';
import { retriedRequest } from '../../src/k8s/retry.ts';
import { restoreInput } from '../../src/linux/iptables.ts';
import { formatAddress, formatCidr, parseAddress, parseCidr } from '../../src/net/address.ts';
import { macForName, vtepMacFor } from '../../src/net/mac.ts';
import type { Skipped } from '../../src/overlay/types.ts';
import { unicastProblem } from '../../src/overlay/vtep-checks.ts';
import { ensureSubnetFile, subnetFileFor } from '../../src/subnet/subnet-file.ts';

const global = (address: string, prefix: number, more: Partial<InterfaceAddress> = {}): InterfaceAddress => ({ address, prefix, scope: 'global', ...more });
const ifaces: InterfaceView[] = [
  { name: 'lo', mtu: 65536, up: true, addresses: [global('127.0.0.1', 8, { scope: 'host' }), global('::1', 128, { scope: 'host' })] },
  { name: 'eth0', mtu: 1500, up: true, addresses: [global('192.0.2.10', 24), global('2001:db8:1::10', 64), global('fe80::1', 64, { scope: 'link' })] },
  {
    name: 'eth1',
    mtu: 9000,
    up: true,
    addresses: [
      global('198.51.100.10', 24),
      global('198.51.100.11', 24),
      global('2001:db8:2::5', 64, { tentative: true }),
      global('2001:db8:2::6', 64, { dadfailed: true, tentative: true }),
      global('2001:db8:2::10', 64),
      global('2001:db8:2::11', 64),
    ],
  },
  { name: 'eth2', mtu: 1500, up: false, addresses: [global('203.0.113.10', 24), global('2001:db8:3::10', 64)] },
  { name: 'eth3', mtu: 1500, up: true, addresses: [global('10.0.0.5', 24)] },
  { name: 'v6only', mtu: 1480, up: true, addresses: [global('fe80::2', 64, { scope: 'link' }), global('fd00:1::10', 64)] },
  { name: 'linklocal', mtu: 1500, up: true, addresses: [global('fe80::3', 64, { scope: 'link' }), global('169.254.1.1', 16, { scope: 'link' })] },
];
const none: UnderlayOptions = { iface: [], ifaceRegex: [], ifaceCanReach: [] };
const noRoutes: RouteView = { defaultDev: {}, reach: {} };
/** Each family's choice on one line, as weftd logs it. */
const chosen = (u: Underlays): string[] => Object.entries(u).map(([key, x]) => `${key}: ${x.name} ${x.ip}/${x.prefix} MTU ${x.mtu}, ${x.reason}`);

test("without flags each family's underlay is its own default route's interface", (t) => {
  const defaults = (defaultDev: RouteView['defaultDev']) => chosen(chooseUnderlays(ifaces, { defaultDev, reach: {} }, none));
  t.deepEqual(defaults({ 4: 'eth0', 6: 'eth0' }), [
    '4: eth0 192.0.2.10/24 MTU 1500, it carries the IPv4 default route',
    '6: eth0 2001:db8:1::10/64 MTU 1500, it carries the IPv6 default route',
  ]);
  t.deepEqual(defaults({ 4: 'eth3', 6: 'v6only' }), [
    '4: eth3 10.0.0.5/24 MTU 1500, it carries the IPv4 default route',
    '6: v6only fd00:1::10/64 MTU 1480, it carries the IPv6 default route',
  ]);
  t.deepEqual(defaults({ 6: 'v6only' }), ['6: v6only fd00:1::10/64 MTU 1480, it carries the IPv6 default route'], 'IPv6 only');
  t.deepEqual(defaults({ 4: 'eth0' }), ['4: eth0 192.0.2.10/24 MTU 1500, it carries the IPv4 default route'], 'no IPv6 default route: no IPv6 underlay');
  t.deepEqual(defaults({ 4: 'eth3', 6: 'eth3' }), ['4: eth3 10.0.0.5/24 MTU 1500, it carries the IPv4 default route'], 'eth3 has no IPv6 address');
  t.deepEqual(defaults({ 4: 'eth2', 6: 'eth0' }), ['6: eth0 2001:db8:1::10/64 MTU 1500, it carries the IPv6 default route'], 'eth2 is down');
  const nothing =
    /^no default route \(IPv4 or IPv6\) through an up interface with a global address of its family: pass --iface, --iface-regex or --iface-can-reach$/;
  t.throws(() => chooseUnderlays(ifaces, noRoutes, none), { message: nothing });
  t.throws(() => chooseUnderlays(ifaces, { defaultDev: { 4: 'linklocal', 6: 'linklocal' }, reach: {} }, none), { message: nothing }, 'link-local only');
  t.throws(() => chooseUnderlays(ifaces, { defaultDev: { 4: 'lo', 6: 'lo' }, reach: {} }, none), { message: nothing }, 'loopback');
});

test('--iface gives each family the first entry with an up interface holding a usable address of it', (t) => {
  const iface = (...entries: string[]) => chosen(chooseUnderlays(ifaces, { defaultDev: { 4: 'eth0', 6: 'eth0' }, reach: {} }, { ...none, iface: entries }));
  t.deepEqual(
    iface('eth9', 'eth1'),
    ['4: eth1 198.51.100.10/24 MTU 9000, --iface eth1', '6: eth1 2001:db8:2::10/64 MTU 9000, --iface eth1'],
    'tentative and dadfailed addresses are passed over',
  );
  t.deepEqual(iface('v6only', 'eth0'), ['4: eth0 192.0.2.10/24 MTU 1500, --iface eth0', '6: v6only fd00:1::10/64 MTU 1480, --iface v6only']);
  t.deepEqual(
    iface('2001:DB8:2:0::11'),
    [
      '4: eth1 198.51.100.10/24 MTU 9000, --iface 2001:DB8:2:0::11 is an address of eth1; 198.51.100.10 is its first global IPv4 address',
      '6: eth1 2001:db8:2::11/64 MTU 9000, --iface 2001:DB8:2:0::11 is an address of eth1',
    ],
    'an IPv6 address picks itself for IPv6, and its interface for IPv4',
  );
  t.deepEqual(iface('198.51.100.11'), [
    '4: eth1 198.51.100.11/24 MTU 9000, --iface 198.51.100.11 is an address of eth1',
    '6: eth1 2001:db8:2::10/64 MTU 9000, --iface 198.51.100.11 is an address of eth1; 2001:db8:2::10 is its first global IPv6 address',
  ]);
  t.deepEqual(iface('eth3'), ['4: eth3 10.0.0.5/24 MTU 1500, --iface eth3'], "a flag decides alone: no IPv6 underlay from eth0's default route");
  for (const entry of ['eth2', 'fe80::1', '2001:db8:2::5', '2001:db8:2::6', 'linklocal', 'lo', '127.0.0.1', 'eth']) {
    t.throws(
      () => iface(entry),
      {
        message: `no up interface with a global address (not loopback, link-local or tentative) matches --iface ${entry}: check the flags against \`ip -br addr\``,
      },
      entry,
    );
  }
});

test('--iface-regex matches names, then addresses, per family, after --iface', (t) => {
  const choose = (opts: Partial<UnderlayOptions>) => chosen(chooseUnderlays(ifaces, noRoutes, { ...none, ...opts }));
  t.deepEqual(
    choose({ ifaceRegex: ['^eth[12]$'] }),
    ['4: eth1 198.51.100.10/24 MTU 9000, --iface-regex ^eth[12]$ matches eth1', '6: eth1 2001:db8:2::10/64 MTU 9000, --iface-regex ^eth[12]$ matches eth1'],
    'a down interface is never chosen',
  );
  t.deepEqual(
    choose({ ifaceRegex: ['^198\\.51\\.100\\.11$'] })[0],
    '4: eth1 198.51.100.11/24 MTU 9000, --iface-regex ^198\\.51\\.100\\.11$ matches address 198.51.100.11 of eth1',
  );
  t.deepEqual(choose({ ifaceRegex: ['^fd00:'] }), ['6: v6only fd00:1::10/64 MTU 1480, --iface-regex ^fd00: matches address fd00:1::10 of v6only']);
  t.deepEqual(choose({ ifaceRegex: ['^eth3$', '^v6'] }), [
    '4: eth3 10.0.0.5/24 MTU 1500, --iface-regex ^eth3$ matches eth3',
    '6: v6only fd00:1::10/64 MTU 1480, --iface-regex ^v6 matches v6only',
  ]);
  t.deepEqual(choose({ iface: ['v6only'], ifaceRegex: ['^eth0$'] }), [
    '4: eth0 192.0.2.10/24 MTU 1500, --iface-regex ^eth0$ matches eth0',
    '6: v6only fd00:1::10/64 MTU 1480, --iface v6only',
  ]);
  t.throws(() => choose({ iface: ['eth9'], ifaceRegex: ['^fe80:', '^wlan'] }), {
    message: /matches --iface eth9, --iface-regex \^fe80:, --iface-regex \^wlan: check the flags/,
  });
});

test('--iface-can-reach picks the interface and source the route takes, IPv4 or IPv6, one per family', (t) => {
  const reach = (targets: string[], routes: RouteView['reach']) =>
    chosen(chooseUnderlays(ifaces, { defaultDev: { 4: 'eth0', 6: 'eth0' }, reach: routes }, { ...none, ifaceCanReach: targets }));
  t.deepEqual(reach(['198.51.100.1'], { '198.51.100.1': { dev: 'eth1', src: '198.51.100.11' } }), [
    '4: eth1 198.51.100.11/24 MTU 9000, it reaches 198.51.100.1 (--iface-can-reach)',
    '6: eth1 2001:db8:2::10/64 MTU 9000, it reaches 198.51.100.1 (--iface-can-reach); 2001:db8:2::10 is its first global IPv6 address',
  ]);
  // flannel-io/flannel#2081: an IPv6 --iface-can-reach must choose the IPv6 underlay.
  t.deepEqual(reach(['2001:db8:2::1'], { '2001:db8:2::1': { dev: 'eth1', src: '2001:db8:2::11' } }), [
    '4: eth1 198.51.100.10/24 MTU 9000, it reaches 2001:db8:2::1 (--iface-can-reach); 198.51.100.10 is its first global IPv4 address',
    '6: eth1 2001:db8:2::11/64 MTU 9000, it reaches 2001:db8:2::1 (--iface-can-reach)',
  ]);
  t.deepEqual(
    reach(['fd00:1::1'], { 'fd00:1::1': { dev: 'v6only' } }),
    ['6: v6only fd00:1::10/64 MTU 1480, it reaches fd00:1::1 (--iface-can-reach)'],
    'no source: the first address',
  );
  t.deepEqual(
    reach(['10.0.0.1', '2001:db8:2::1'], { '10.0.0.1': { dev: 'eth3' }, '2001:db8:2::1': { dev: 'eth1', src: '2001:db8:2::11' } }),
    [
      '4: eth3 10.0.0.5/24 MTU 1500, it reaches 10.0.0.1 (--iface-can-reach)',
      '6: eth1 2001:db8:2::11/64 MTU 9000, it reaches 2001:db8:2::1 (--iface-can-reach)',
    ],
    "each family's own --iface-can-reach wins over the other's interface",
  );
  t.deepEqual(
    chosen(chooseUnderlays(ifaces, { defaultDev: {}, reach: { '10.0.0.1': { dev: 'eth3' } } }, { ...none, iface: ['v6only'], ifaceCanReach: ['10.0.0.1'] })),
    ['4: eth3 10.0.0.5/24 MTU 1500, it reaches 10.0.0.1 (--iface-can-reach)', '6: v6only fd00:1::10/64 MTU 1480, --iface v6only'],
    '--iface first, then --iface-can-reach for the family it left',
  );
  t.throws(() => reach(['2001:db8:9::1'], {}), {
    message: 'no up interface with a global IPv6 address routes to 2001:db8:9::1 (--iface-can-reach): check `ip route get 2001:db8:9::1` and `ip -br addr`',
  });
  t.throws(
    () => reach(['2001:db8:9::1'], { '2001:db8:9::1': { dev: 'linklocal', src: 'fe80::3' } }),
    { message: /global IPv6 address routes to 2001:db8:9::1/ },
    'a link-local source never',
  );
  t.throws(() => reach(['2001:db8:9::1'], { '2001:db8:9::1': { dev: 'eth3' } }), { message: /global IPv6 address routes to/ }, 'eth3 has no IPv6 address');
  t.throws(() => reach(['10.9.9.9'], { '10.9.9.9': { dev: 'eth2' } }), { message: /global IPv4 address routes to 10\.9\.9\.9/ }, 'eth2 is down');
});

test('whatever the kernel reports, an underlay is a usable unicast address of its own family on an up interface', (t) => {
  const names = ['eth0', 'eth1', 'eth2'];
  const seen = { 4: 0, 6: 0 };
  const anyAddress = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.constantFrom('127.0.0.1', '::1', 'fe80::1', 'ff02::1', '224.0.0.1', '169.254.3.4', '0.0.0.0', '::', '::ffff:10.0.0.1', '255.255.255.255'),
  );
  const address = fc.record({
    address: anyAddress,
    prefix: fc.integer({ min: 0, max: 128 }),
    scope: fc.constantFrom('global', 'global', 'global', 'link', 'host', undefined),
    tentative: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
  });
  const iface = fc.record({
    name: fc.constantFrom(...names),
    mtu: fc.integer({ min: 576, max: 9000 }),
    up: fc.boolean(),
    addresses: fc.array(address, { maxLength: 5 }),
  });
  const dev = fc.option(fc.constantFrom(...names), { nil: undefined });
  // Absent half the time: a target without a usable route is an error, and errors are not what this looks at.
  const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });
  const target = fc.tuple(maybe(fc.ipV4()), maybe(fc.ipV6()), dev, dev);
  fc.assert(
    fc.property(
      fc.array(iface, { maxLength: 4 }),
      dev,
      dev,
      target,
      fc.array(fc.oneof(fc.constantFrom(...names), anyAddress), { maxLength: 2 }),
      fc.array(fc.constantFrom('^eth', '1', ':', '\\.', '^f'), { maxLength: 2 }),
      (views, default4, default6, [reach4, reach6, dev4, dev6], iface, ifaceRegex) => {
        const targets = [reach4, reach6].filter((x) => x !== undefined).map((x) => formatAddress(parseAddress(x)!));
        const reach: RouteView['reach'] = {};
        if (reach4) reach[targets[0]!] = dev4 ? { dev: dev4 } : undefined;
        if (reach6) reach[targets.at(-1)!] = dev6 ? { dev: dev6 } : undefined;
        let found: Underlays;
        try {
          found = chooseUnderlays(views, { defaultDev: { 4: default4, 6: default6 }, reach }, { iface, ifaceRegex, ifaceCanReach: targets });
        } catch (err) {
          return err instanceof Error && /: (pass|check) /.test(err.message);
        }
        const entries = Object.entries(found);
        for (const [key] of entries) seen[Number(key) as 4 | 6]++;
        return (
          entries.length > 0 &&
          entries.every(([key, u]) => {
            const ip = parseAddress(u.ip);
            const on = views.find(
              (v) => v.name === u.name && v.up && v.addresses.some((a) => a.address === u.ip || parseAddress(a.address)?.value === ip?.value),
            );
            return Number(key) === u.family && ip?.family === u.family && unicastProblem(ip) === undefined && on !== undefined;
          })
        );
      },
    ),
    { numRuns: 500 },
  );
  t.true(seen[4] > 0 && seen[6] > 0, `the runs chose underlays of both families (${seen[4]} IPv4, ${seen[6]} IPv6)`);
});

test("weftd takes its pod CIDRs of the cluster's families, and refuses one outside the cluster network or none of its families", (t) => {
  const cluster = [parseCidr('10.244.0.0/16')!];
  t.deepEqual(usablePodCidrs('n1', ['10.244.1.0/24', 'fd00::/64'], cluster).map(formatCidr), ['10.244.1.0/24']);
  t.deepEqual(usablePodCidrs('n1', ['10.244.1.9/24'], cluster).map(formatCidr), ['10.244.1.0/24'], 'canonical');
  t.throws(() => usablePodCidrs('n1', ['10.244.1.0/24 dev lo'], cluster), { message: /pod CIDR "10\.244\.1\.0\/24 dev lo", which is not a CIDR/ });
  t.throws(() => usablePodCidrs('n1', ['10.99.1.0/24'], cluster), { message: /pod CIDR 10\.99\.1\.0\/24 outside the cluster network/ });
  t.throws(() => usablePodCidrs('n1', ['10.0.0.0/8'], cluster), { message: /outside the cluster network/ }, 'wider than the cluster is outside too');
  t.throws(() => usablePodCidrs('n1', ['fd00::/64'], cluster), {
    message:
      'node n1 has only IPv6 pod CIDRs (fd00::/64), and the cluster network (--cluster-cidr 10.244.0.0/16) is IPv4: weft needs a pod CIDR of a family the cluster network has; give kube-controller-manager and weft the same --cluster-cidr',
  });
  const dual = [parseCidr('10.244.0.0/16')!, parseCidr('fd00:10:244::/56')!];
  t.deepEqual(usablePodCidrs('n1', ['10.244.1.0/24', 'FD00:10:244:1:0::/64'], dual).map(formatCidr), ['10.244.1.0/24', 'fd00:10:244:1::/64']);
  t.deepEqual(usablePodCidrs('n1', ['fd00:10:244:1::/64'], dual).map(formatCidr), ['fd00:10:244:1::/64'], 'an IPv6-only node in a dual-stack cluster');
  t.deepEqual(usablePodCidrs('n1', ['fd00:10:244:1::/64', '10.1.0.0/24'], [dual[1]!]).map(formatCidr), ['fd00:10:244:1::/64'], 'an IPv6 cluster ignores IPv4');
  t.throws(() => usablePodCidrs('n1', ['10.244.1.0/24', 'fd00:10:245::/64'], dual), { message: /pod CIDR fd00:10:245::\/64 outside the cluster network/ });
});

test('one VXLAN device per underlay family: weft.<vni> and weft6.<vni>, MTU less 50 or 70 bytes, MAC per family', (t) => {
  const cfg = { nodeName: 'n1', vni: 7, port: 4789, mtu: undefined, directRouting: true };
  const underlays = {
    4: { family: 4 as const, name: 'eth0', ip: '192.0.2.10', prefix: 24, mtu: 1500, reason: '' },
    6: { family: 6 as const, name: 'eth1', ip: '2001:db8::10', prefix: 64, mtu: 9000, reason: '' },
  };
  const both = overlayOf(cfg, underlays);
  t.deepEqual(
    both.specs.map((s) => [s.name, s.family, s.localIp, s.underlay, s.mtu, s.mac]),
    [
      ['weft.7', 4, '192.0.2.10', 'eth0', 1450, macForName('n1')],
      ['weft6.7', 6, '2001:db8::10', 'eth1', 8930, vtepMacFor('n1', 6)],
    ],
  );
  t.deepEqual(both.vteps, { 4: { ip: '192.0.2.10', mac: macForName('n1') }, 6: { ip: '2001:db8::10', mac: vtepMacFor('n1', 6) } });
  t.deepEqual(both.local.devices, { 4: 'weft.7', 6: 'weft6.7' });
  t.deepEqual(both.local.direct?.[6], { subnet: parseCidr('2001:db8::10/64'), dev: 'eth1' });
  const six = overlayOf({ ...cfg, mtu: 1400, directRouting: false }, { 6: underlays[6] });
  t.deepEqual(
    six.specs.map((s) => [s.name, s.mtu]),
    [['weft6.7', 1400]],
    '--mtu wins',
  );
  t.deepEqual(six.vteps, { 6: { ip: '2001:db8::10', mac: vtepMacFor('n1', 6) } });
  t.is(six.local.direct, undefined);
});

test('health address parsing names the flag and the form', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:9402'), { host: '127.0.0.1', port: 9402 });
  t.deepEqual(parseListenAddress(':0'), { host: '0.0.0.0', port: 0 });
  t.deepEqual(parseListenAddress('[::1]:9402'), { host: '::1', port: 9402 });
  t.throws(() => parseListenAddress('9402'), { message: /--health-addr "9402" is not HOST:PORT/ });
});

test("masquerade keeps pod-to-pod addresses and masquerades what leaves the cluster, in weft's own chains", (t) => {
  const { chains, jumps } = masqueradeChains([parseCidr('10.244.0.0/16')!], { bridge: 'weft0', overlays: ['weft.1'] });
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
