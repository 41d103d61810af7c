// weftd's underlay choice against a real kernel: network namespaces with a
// dual-stack underlay and an IPv6-only one, read by detectUnderlays run
// inside them, as weftd runs in its node's namespace.
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { UnderlayOptions, Underlays } from '../../src/daemon/underlay.ts';
import { makeNetns } from '../../testbed/fixtures.ts';
import { REPO } from '../../testbed/paths.ts';
import { must, sh } from '../../testbed/shell.ts';

const UNDERLAY_MODULE = join(REPO, 'src', 'daemon', 'underlay.ts');
const DETECT = `
const { detectUnderlays } = await import(process.argv[1]);
try {
  console.log(JSON.stringify(detectUnderlays(JSON.parse(process.argv[2]))));
} catch (err) {
  console.log(JSON.stringify({ error: err.message }));
}`;

/** detectUnderlays in `netns`: what it chose, or its error message. */
async function detect(netns: string, opts: Partial<UnderlayOptions> = {}): Promise<Underlays | { error: string }> {
  const full: UnderlayOptions = { iface: [], ifaceRegex: [], ifaceCanReach: [], ...opts };
  const r = await sh('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', DETECT, UNDERLAY_MODULE, JSON.stringify(full)]);
  if (r.exitCode !== 0) throw new Error(`detectUnderlays in ${netns} exited ${r.exitCode}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Underlays | { error: string };
}

/** Each family's choice on one line, as weftd logs it. */
const chosen = (u: Underlays | { error: string }): string[] =>
  'error' in u ? [`error: ${u.error}`] : Object.entries(u).map(([key, x]) => `${key}: ${x.name} ${x.ip}/${x.prefix} MTU ${x.mtu}, ${x.reason}`);

/**
 * A veth pair inside `netns`, both ends up (so the kernel runs duplicate
 * address detection on it), with the addresses given on `name`. IPv6
 * addresses are added nodad unless `tentative`: for those, DAD is made to
 * last minutes, so they stay tentative while the test reads them.
 */
async function underlayLink(netns: string, name: string, opts: { mtu?: number; addresses: string[]; tentative?: string[] }) {
  const ip = (...args: string[]) => must('ip', ['-n', netns, ...args]);
  await ip('link', 'add', 'name', name, 'type', 'veth', 'peer', 'name', `${name}p`);
  if (opts.mtu) await ip('link', 'set', 'dev', name, 'mtu', String(opts.mtu));
  await must('ip', ['netns', 'exec', netns, 'sysctl', '-qw', `net.ipv6.conf.${name}.dad_transmits=200`]);
  await ip('link', 'set', 'dev', name, 'up');
  await ip('link', 'set', 'dev', `${name}p`, 'up');
  for (const a of opts.addresses) await ip('addr', 'add', a, 'dev', name, ...(a.includes(':') ? ['nodad'] : []));
  for (const a of opts.tentative ?? []) await ip('addr', 'add', a, 'dev', name);
}

async function dualStack(t: ExecutionContext): Promise<string> {
  const { name } = await makeNetns(t);
  await underlayLink(name, 'u0', { addresses: ['192.0.2.10/24', '2001:db8:1::10/64'] });
  await underlayLink(name, 'w0', { mtu: 9000, addresses: ['198.51.100.10/24', '2001:db8:2::10/64'], tentative: ['2001:db8:2::5/64'] });
  await must('ip', ['-n', name, 'route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'u0']);
  await must('ip', ['-n', name, '-6', 'route', 'add', 'default', 'via', '2001:db8:1::1', 'dev', 'u0']);
  return name;
}

test('a dual-stack node gets an underlay per family from its default routes, or from the flags', async (t) => {
  const ns = await dualStack(t);
  t.deepEqual(chosen(await detect(ns)), [
    '4: u0 192.0.2.10/24 MTU 1500, it carries the IPv4 default route',
    '6: u0 2001:db8:1::10/64 MTU 1500, it carries the IPv6 default route',
  ]);
  // flannel-io/flannel#2081: an IPv6 address to reach picks the IPv6 underlay.
  t.deepEqual(chosen(await detect(ns, { ifaceCanReach: ['2001:db8:2::1'] })), [
    '4: w0 198.51.100.10/24 MTU 9000, it reaches 2001:db8:2::1 (--iface-can-reach); 198.51.100.10 is its first global IPv4 address',
    '6: w0 2001:db8:2::10/64 MTU 9000, it reaches 2001:db8:2::1 (--iface-can-reach)',
  ]);
  t.deepEqual(chosen(await detect(ns, { ifaceCanReach: ['198.51.100.1', '2001:db8:1::1'] })), [
    '4: w0 198.51.100.10/24 MTU 9000, it reaches 198.51.100.1 (--iface-can-reach)',
    '6: u0 2001:db8:1::10/64 MTU 1500, it reaches 2001:db8:1::1 (--iface-can-reach)',
  ]);
  t.deepEqual(chosen(await detect(ns, { iface: ['2001:db8:2::10'] })), [
    '4: w0 198.51.100.10/24 MTU 9000, --iface 2001:db8:2::10 is an address of w0; 198.51.100.10 is its first global IPv4 address',
    '6: w0 2001:db8:2::10/64 MTU 9000, --iface 2001:db8:2::10 is an address of w0',
  ]);
  const link = (await must('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', 'w0'])).replace(/\s/g, '');
  t.regex(link, /"local":"2001:db8:2::5","prefixlen":64,"scope":"global","tentative":true/, 'the kernel still holds 2001:db8:2::5 tentative');
  t.deepEqual(chosen(await detect(ns, { ifaceRegex: ['^2001:db8:2::5$', '^fe80:'] })), [
    'error: no up interface with a global address (not loopback, link-local or tentative) matches --iface-regex ^2001:db8:2::5$, --iface-regex ^fe80:: check the flags against `ip -br addr`',
  ]);
});

test('an IPv6-only node gets an IPv6 underlay and no IPv4 one', async (t) => {
  const { name: ns } = await makeNetns(t);
  await underlayLink(ns, 'u0', { mtu: 1480, addresses: ['2001:db8:1::10/64'] });
  await must('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'via', '2001:db8:1::1', 'dev', 'u0']);
  t.deepEqual(chosen(await detect(ns)), ['6: u0 2001:db8:1::10/64 MTU 1480, it carries the IPv6 default route']);
  t.deepEqual(chosen(await detect(ns, { iface: ['u0'] })), ['6: u0 2001:db8:1::10/64 MTU 1480, --iface u0']);
  t.deepEqual(chosen(await detect(ns, { ifaceCanReach: ['2001:db8:9::1'] })), [
    '6: u0 2001:db8:1::10/64 MTU 1480, it reaches 2001:db8:9::1 (--iface-can-reach)',
  ]);
  t.deepEqual(chosen(await detect(ns, { ifaceCanReach: ['10.0.0.1'] })), [
    'error: no up interface with a global IPv4 address routes to 10.0.0.1 (--iface-can-reach): check `ip route get 10.0.0.1` and `ip -br addr`',
  ]);
  await must('ip', ['-n', ns, '-6', 'route', 'del', 'default']);
  t.deepEqual(chosen(await detect(ns)), [
    'error: no default route (IPv4 or IPv6) through an up interface with a global address of its family: pass --iface, --iface-regex or --iface-can-reach',
  ]);
});
