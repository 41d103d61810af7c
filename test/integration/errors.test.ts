// Every bad input a runtime or an operator can hand the plugin: one JSON error
// on stdout with the spec's code and a message that names the fix, a non-zero
// exit, and nothing changed on the host.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { execWeft, footprint, makeNetwork, type TestNetwork } from '../../testbed/cni.ts';
import { deleteLinkOnTeardown, makeNetns, tempDir, uniqueSuffix } from '../../testbed/fixtures.ts';
import { linkExists } from '../../testbed/netns.ts';
import { must } from '../../testbed/shell.ts';

type Case = {
  title: string;
  code: number;
  msg: RegExp;
  env?: (base: Record<string, string>) => Record<string, string>;
  conf?: (base: Record<string, unknown>, t: ExecutionContext, net: TestNetwork) => unknown | Promise<unknown>;
  stdin?: string;
};

// A link the injection payloads try to create; it must never appear.
const CANARY = `inj${uniqueSuffix()}`.slice(0, 15);
const withRoutes = (c: Record<string, unknown>, routes: unknown[]) => ({ ...c, ipam: { ...ipam(c), routes } });
const deep = (key: string, depth: number) => `{"cniVersion":"1.1.0","name":"deep","${key}":${'['.repeat(depth)}${']'.repeat(depth)}}`;
const without = (obj: Record<string, string>, key: string) => Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key));
const ipam = (base: Record<string, unknown>) => base.ipam as Record<string, unknown>;

const cases: Case[] = [
  { title: 'stdin that is not JSON', code: 6, msg: /not valid JSON/, stdin: '{"cniVersion": "1.1.0",' },
  { title: 'stdin that is a JSON array', code: 6, msg: /not a JSON object/, stdin: '[]' },
  { title: 'an unsupported old cniVersion', code: 1, msg: /cniVersion "0\.2\.0" is not supported/, conf: (c) => ({ ...c, cniVersion: '0.2.0' }) },
  { title: 'an unknown future cniVersion', code: 1, msg: /cniVersion "9\.9\.9" is not supported/, conf: (c) => ({ ...c, cniVersion: '9.9.9' }) },
  { title: 'a missing cniVersion', code: 7, msg: /cniVersion is missing/, conf: ({ cniVersion: _, ...c }) => c },
  { title: 'a missing CNI_COMMAND', code: 4, msg: /CNI_COMMAND is not set/, env: (e) => without(e, 'CNI_COMMAND') },
  { title: 'an unknown CNI_COMMAND', code: 4, msg: /CNI_COMMAND "ATTACH" is unknown/, env: (e) => ({ ...e, CNI_COMMAND: 'ATTACH' }) },
  {
    title: 'a container ID with a path in it',
    code: 4,
    msg: /CNI_CONTAINERID "\.\.\/\.\.\/etc" is invalid/,
    env: (e) => ({ ...e, CNI_CONTAINERID: '../../etc' }),
  },
  { title: 'a container ID starting with a dash', code: 4, msg: /CNI_CONTAINERID "-rf" is invalid/, env: (e) => ({ ...e, CNI_CONTAINERID: '-rf' }) },
  { title: 'a missing CNI_CONTAINERID', code: 4, msg: /CNI_CONTAINERID is required for ADD/, env: (e) => without(e, 'CNI_CONTAINERID') },
  { title: 'an IFNAME with a slash', code: 4, msg: /CNI_IFNAME "a\/b" may only hold letters, digits/, env: (e) => ({ ...e, CNI_IFNAME: 'a/b' }) },
  { title: 'an IFNAME with a colon', code: 4, msg: /CNI_IFNAME "eth0:1" may only hold/, env: (e) => ({ ...e, CNI_IFNAME: 'eth0:1' }) },
  { title: 'an IFNAME of 16 characters', code: 4, msg: /is 16 characters long/, env: (e) => ({ ...e, CNI_IFNAME: 'e'.repeat(16) }) },
  { title: 'an IFNAME of ".."', code: 4, msg: /may not be "\." or "\.\."/, env: (e) => ({ ...e, CNI_IFNAME: '..' }) },
  { title: 'an IFNAME that looks like an option', code: 4, msg: /may not start with "-"/, env: (e) => ({ ...e, CNI_IFNAME: '-force' }) },
  { title: 'an IFNAME with whitespace', code: 4, msg: /may only hold/, env: (e) => ({ ...e, CNI_IFNAME: 'eth 0' }) },
  { title: 'a relative CNI_NETNS', code: 4, msg: /is not an absolute path/, env: (e) => ({ ...e, CNI_NETNS: 'var/run/netns/x' }) },
  {
    title: 'a CNI_NETNS that does not exist',
    code: 4,
    msg: /does not exist: the container's network namespace/,
    env: (e) => ({ ...e, CNI_NETNS: '/var/run/netns/weft-no-such-ns' }),
  },
  { title: 'a missing CNI_NETNS on ADD', code: 4, msg: /CNI_NETNS is required for ADD/, env: (e) => without(e, 'CNI_NETNS') },
  { title: 'a missing network name', code: 7, msg: /name is missing/, conf: ({ name: _, ...c }) => c },
  { title: 'a network name that is a path', code: 7, msg: /name "\.\.\/x" is invalid/, conf: (c) => ({ ...c, name: '../x' }) },
  { title: 'an mtu given as a string', code: 7, msg: /mtu must be an integer from 68 to 65535, got "1500"/, conf: (c) => ({ ...c, mtu: '1500' }) },
  { title: 'an mtu out of range', code: 7, msg: /mtu must be an integer from 68 to 65535, got 10/, conf: (c) => ({ ...c, mtu: 10 }) },
  { title: 'hairpinMode given as a string', code: 7, msg: /hairpinMode must be true or false/, conf: (c) => ({ ...c, hairpinMode: 'yes' }) },
  {
    title: 'a bridge name that is too long',
    code: 7,
    msg: /bridge "weft-bridge-too-long" is 20 characters long/,
    conf: (c) => ({ ...c, bridge: 'weft-bridge-too-long' }),
  },
  {
    title: 'ipam.ranges that is not an array',
    code: 7,
    msg: /ipam\.ranges must be an array/,
    conf: (c) => ({ ...c, ipam: { ...ipam(c), ranges: '10.0.0.0/24' } }),
  },
  {
    title: 'a range subnet that is not a CIDR',
    code: 7,
    msg: /ipam\.ranges\[0\]\[0\]\.subnet "10\.0\.0\.0\/33" is not a CIDR/,
    conf: (c) => ({ ...c, ipam: { ...ipam(c), ranges: [[{ subnet: '10.0.0.0/33' }]] } }),
  },
  {
    title: 'a rangeStart outside the subnet',
    code: 7,
    msg: /rangeStart "10\.9\.9\.9" is not a usable address/,
    conf: (c, _t, n) => ({ ...c, ipam: { ...ipam(c), ranges: [[{ subnet: n.subnet, rangeStart: '10.9.9.9' }]] } }),
  },
  {
    title: 'a relative ipam.dataDir',
    code: 7,
    msg: /ipam\.dataDir "ipam" is not an absolute path/,
    conf: (c) => ({ ...c, ipam: { ...ipam(c), dataDir: 'ipam' } }),
  },
  {
    title: 'an ipam.type weft does not implement',
    code: 7,
    msg: /ipam\.type "dhcp" is not supported/,
    conf: (c) => ({ ...c, ipam: { ...ipam(c), type: 'dhcp' } }),
  },
  {
    title: 'a missing subnet file without ipam.ranges (try again later)',
    code: 11,
    msg: /subnet file .* does not exist/,
    conf: (c, t) => ({ ...c, subnetFile: join(tempDir(t), 'subnet.json'), ipam: { dataDir: ipam(c).dataDir } }),
  },
  {
    title: 'a subnet file that is not valid JSON',
    code: 11,
    msg: /subnet file .* is not valid JSON/,
    conf: (c, t) => {
      const file = join(tempDir(t), 'subnet.json');
      writeFileSync(file, '{"version":1,');
      return { ...c, subnetFile: file, ipam: { dataDir: ipam(c).dataDir } };
    },
  },
  {
    title: 'a bridge name already taken by a non-bridge link',
    code: 7,
    msg: /bridge wv[0-9a-f]+ exists but is a veth link, not a bridge: delete it or set "bridge" to another name/,
    conf: async (c, t) => {
      const name = `wv${uniqueSuffix()}`;
      await must('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
      await deleteLinkOnTeardown(t, name);
      return { ...c, bridge: name };
    },
  },
  // Hostile values: each would change what `ip -batch` runs, which name the
  // kernel picks, or how much work the plugin does, if it got past parsing.
  {
    title: 'a route gw that smuggles a second ip command',
    code: 7,
    msg: /ipam\.routes\[0\]\.gw "10\.230\.\d+\.1\\nlink add \w+ type bridge" is not an IPv4 address/,
    conf: (c, _t, n) => withRoutes(c, [{ dst: '10.99.0.0/16', gw: `${n.prefix}1\nlink add ${CANARY} type bridge` }]),
  },
  {
    title: 'a route gw with a comment sign',
    code: 7,
    msg: /ipam\.routes\[0\]\.gw "10\.230\.\d+\.1 #" is not an IPv4 address/,
    conf: (c, _t, n) => withRoutes(c, [{ dst: '10.99.0.0/16', gw: `${n.prefix}1 #` }]),
  },
  {
    title: 'a route gw of the other family',
    code: 7,
    msg: /gw "fd00::1" is not an IPv4 address/,
    conf: (c) => withRoutes(c, [{ dst: '10.99.0.0/16', gw: 'fd00::1' }]),
  },
  {
    title: 'a route gw the pod cannot reach',
    code: 7,
    msg: /gw 192\.0\.2\.1 is not on any of the pod's subnets/,
    conf: (c) => withRoutes(c, [{ dst: '10.99.0.0/16', gw: '192.0.2.1' }]),
  },
  {
    title: 'a route dst listed twice',
    code: 7,
    msg: /ipam\.routes\[1\]\.dst "10\.99\.0\.0\/16" is listed twice/,
    conf: (c) => withRoutes(c, [{ dst: '10.99.0.0/16' }, { dst: '10.99.0.0/16' }]),
  },
  {
    title: 'a route dst with a newline',
    code: 7,
    msg: /ipam\.routes\[0\]\.dst "10\.99\.0\.0\/16\\n.*" is not a CIDR/,
    conf: (c) => withRoutes(c, [{ dst: `10.99.0.0/16\nlink add ${CANARY} type bridge` }]),
  },
  {
    title: 'a CNI_NETNS with a comment sign',
    code: 4,
    msg: /CNI_NETNS "\/var\/run\/netns\/x#y" may only hold/,
    env: (e) => ({ ...e, CNI_NETNS: '/var/run/netns/x#y' }),
  },
  {
    title: 'a CNI_NETNS with a newline',
    code: 4,
    msg: /CNI_NETNS ".*\\n.*" may only hold/,
    env: (e) => ({ ...e, CNI_NETNS: `${e.CNI_NETNS}\nlink add ${CANARY} type bridge` }),
  },
  {
    title: 'a CNI_NETNS that climbs out with ..',
    code: 4,
    msg: /has an empty, "\." or "\.\." component/,
    env: (e) => ({ ...e, CNI_NETNS: '/var/run/netns/../../proc/1/ns/net' }),
  },
  { title: 'a bridge name with a kernel template %d', code: 7, msg: /bridge "br%d" may only hold letters/, conf: (c) => ({ ...c, bridge: 'br%d' }) },
  { title: 'a bridge name with a quote', code: 7, msg: /bridge "br\\"x" may only hold/, conf: (c) => ({ ...c, bridge: 'br"x' }) },
  { title: 'a bridge name with a newline', code: 7, msg: /bridge "b\\nr" may only hold/, conf: (c) => ({ ...c, bridge: 'b\nr' }) },
  { title: 'an IFNAME with a kernel template %d', code: 4, msg: /CNI_IFNAME "eth%d" may only hold/, env: (e) => ({ ...e, CNI_IFNAME: 'eth%d' }) },
  { title: 'an IFNAME with a comment sign', code: 4, msg: /CNI_IFNAME "e#0" may only hold/, env: (e) => ({ ...e, CNI_IFNAME: 'e#0' }) },
  { title: 'an IFNAME with a quote', code: 4, msg: /CNI_IFNAME "e'0" may only hold/, env: (e) => ({ ...e, CNI_IFNAME: "e'0" }) },
  { title: 'an IFNAME with a control character', code: 4, msg: /CNI_IFNAME "e\\u001b0" may only hold/, env: (e) => ({ ...e, CNI_IFNAME: 'e\u001b0' }) },
  {
    title: 'an ipam.dataDir with a NUL byte',
    code: 7,
    msg: /ipam\.dataDir "\/tmp\\u0000x" may only hold/,
    conf: (c) => ({ ...c, ipam: { ...ipam(c), dataDir: '/tmp\u0000x' } }),
  },
  { title: 'a subnetFile with a newline', code: 7, msg: /subnetFile "\/run\/weft\\nx" may only hold/, conf: (c) => ({ ...c, subnetFile: '/run/weft\nx' }) },
  { title: 'an mtu nested 100 000 levels deep', code: 7, msg: /^mtu must be an integer from 68 to 65535, got an array of 1$/, stdin: deep('mtu', 100_000) },
  {
    title: 'a network name of 1 MiB',
    code: 7,
    msg: /^name must be at most 1024 characters, got "x{64}…" \(1048576 characters\)$/,
    conf: (c) => ({ ...c, name: 'x'.repeat(1 << 20) }),
  },
  {
    title: '100 000 range sets',
    code: 7,
    msg: /ipam\.ranges has 100000 entries, at most 16 are allowed/,
    conf: (c, _t, n) => ({ ...c, ipam: { ...ipam(c), ranges: Array.from({ length: 100_000 }, () => [{ subnet: n.subnet }]) } }),
  },
  {
    title: '100 000 nameservers',
    code: 7,
    msg: /dns\.nameservers has 100000 entries, at most 64 are allowed/,
    conf: (c) => ({ ...c, dns: { nameservers: Array.from({ length: 100_000 }, () => '10.0.0.10') } }),
  },
  { title: 'a stdin of 5 MiB', code: 6, msg: /network config on stdin is larger than 4 MiB/, conf: (c) => ({ ...c, padding: 'x'.repeat(5 << 20) }) },
  { title: 'a stdin nested 100 000 levels deep', code: 6, msg: /not a JSON object/, stdin: `${'['.repeat(100_000)}${']'.repeat(100_000)}` },
  {
    title: 'an IPv4 /1 pod range',
    code: 7,
    msg: /subnet 0\.0\.0\.0\/1 is far too large for one node's pods: use \/8 or smaller/,
    conf: (c) => ({ ...c, ipam: { ...ipam(c), ranges: [[{ subnet: '0.0.0.0/1' }]] } }),
  },
  {
    title: "a gateway of one range set inside another set's range",
    code: 7,
    msg: /gateway 10\.230\.\d+\.5 of 10\.230\.\d+\.0\/24 lies inside the range of 10\.230\.\d+\.0\/24: it would be handed to a pod/,
    conf: (c, _t, n) => ({
      ...c,
      ipam: {
        ...ipam(c),
        ranges: [
          [{ subnet: n.subnet, rangeStart: `${n.prefix}2`, rangeEnd: `${n.prefix}100` }],
          [{ subnet: n.subnet, rangeStart: `${n.prefix}101`, gateway: `${n.prefix}5` }],
        ],
      },
    }),
  },
  {
    title: 'subnets of two range sets that overlap without being equal',
    code: 7,
    msg: /subnets 10\.230\.\d+\.0\/24 and 10\.230\.\d+\.128\/25 overlap/,
    conf: (c, _t, n) => ({
      ...c,
      ipam: {
        ...ipam(c),
        ranges: [
          [{ subnet: n.subnet, rangeEnd: `${n.prefix}100` }],
          [{ subnet: `${n.prefix}128/25`, gateway: `${n.prefix}129`, rangeStart: `${n.prefix}130` }],
        ],
      },
    }),
  },
];

for (const c of cases) {
  test(`ADD rejects ${c.title}`, async (t) => {
    const net = await makeNetwork(t);
    const pod = await makeNetns(t);
    const containerId = `bad-${uniqueSuffix()}`;
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
    const conf = c.conf ? await c.conf(net.pluginConf, t, net) : net.pluginConf;
    const before = await footprint(net, containerId);

    const r = await execWeft(c.env ? c.env(env) : env, c.stdin ?? JSON.stringify(conf));

    t.not(r.exitCode, 0);
    t.is(r.stdout.trim().split('\n').length, 1, 'exactly one JSON object on stdout');
    t.like(r.json, { code: c.code });
    t.regex(String(r.json?.msg), c.msg);
    t.is(typeof r.json?.cniVersion, 'string');
    t.deepEqual(await footprint(net, containerId), before, 'nothing changed on the host');
    t.false(await linkExists(CANARY), 'no injected command ran');
    t.true(String(r.json?.msg).length < 400, 'the message quotes a short prefix of a bad value, not all of it');
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace: this is not an internal error');
  });
}

test('ADD into a netns that already has the interface fails, releases its address and leaves no veth and no bridge', async (t) => {
  const net = await makeNetwork(t);
  const pod = await makeNetns(t);
  await must('ip', ['-n', pod.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer']);
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'dup-ifname', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
  // The first ADD creates the bridge; what matters is what the attachment leaves.
  const r = await execWeft(env, JSON.stringify(net.pluginConf));
  t.is(r.json?.code, 4);
  t.regex(String(r.json?.msg), /interface eth0 already exists in \/var\/run\/netns\/wt-/);
  const after = await footprint(net, 'dup-ifname');
  t.deepEqual(after.reservations, []);
  t.is(after.hostVeth, undefined);
  t.false(after.bridgeExists, 'the bridge this ADD created went with it');
});

test('CHECK is refused below cniVersion 0.4.0 and without prevResult', async (t) => {
  const net = await makeNetwork(t);
  const pod = await makeNetns(t);
  const env = { CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'chk', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
  const old = await execWeft(env, JSON.stringify({ ...net.pluginConf, cniVersion: '0.3.1' }));
  t.like(old.json, { code: 1 });
  t.regex(String(old.json?.msg), /CHECK is not defined for cniVersion 0\.3\.1/);
  const noPrev = await execWeft(env, JSON.stringify(net.pluginConf));
  t.like(noPrev.json, { code: 7 });
  t.regex(String(noPrev.json?.msg), /prevResult is missing/);
});
