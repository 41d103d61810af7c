// Kernel replies, written out byte for byte as the kernel lays them out, read
// back as the `ip -j -d` shapes CHECK and GC use; and the show forms the
// netlink path answers.
import test from 'ava';
import { parseShow } from '../../src/linux/netlink/batch.ts';
import { UnsupportedCommandError } from '../../src/linux/netlink/errors.ts';
import { parseAck, parseMessages } from '../../src/linux/netlink/message.ts';
import { addressesByLink, decodeLink, mainRoutes, namedLinks } from '../../src/linux/netlink/replies.ts';
import { parseCidr } from '../../src/net/address.ts';

const hex = (text: string) => Uint8Array.from(text.replace(/\s+/g, '').match(/../g)!, (b) => Number.parseInt(b, 16));

// A host veth as RTM_NEWLINK describes it: up and running, on bridge 3,
// aliased, its peer (index 2) in another namespace, hairpin on. LINKINFO
// carries NLA_F_NESTED (0x8000), which must be masked off.
const HOST_VETH = hex(`
  00 00 0100 05000000 43100100 00000000
  0c00 0300 77656674 61626300
  0800 0400 78050000
  0a00 0100 0e0000000001 0000
  0800 0a00 03000000
  0b00 1400 77656674 3a6e0000
  0800 0500 02000000
  0800 2500 00000000
  3000 1280
    0900 0100 76657468 00000000
    0b00 0400 62726964 67650000
    1400 0500
      0500 0100 03000000
      0500 0400 01000000`);

test('a link reads as ip -j -d shows it: flags by name, MAC, alias, peer index, kind, bridge port hairpin', (t) => {
  t.deepEqual(decodeLink(HOST_VETH), {
    ifindex: 5,
    ifname: 'weftabc',
    mtu: 1400,
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    masterIndex: 3,
    address: '0e:00:00:00:00:01',
    ifalias: 'weft:n',
    link_index: 2,
    linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { hairpin: true } },
  });
});

test('the master is named from the other links, or from names looked up separately', (t) => {
  const veth = decodeLink(HOST_VETH);
  t.is(namedLinks([veth], new Map([[3, 'weft0']]))[0]!.master, 'weft0');
  t.false('master' in namedLinks([veth])[0]!, 'an unknown master is left out, not guessed');
  t.false('masterIndex' in namedLinks([veth])[0]!);
});

test('an up link without carrier says NO-CARRIER first, as iproute2 does', (t) => {
  const down = hex('00 00 0100 01000000 03100000 00000000   0800 0300 6c6f0000'); // UP|BROADCAST|MULTICAST, not RUNNING
  t.deepEqual(decodeLink(down).flags, ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP']);
});

test('routes of table main within the root, "default" for /0 and a bare address for a host route', (t) => {
  const main = '0800 0f00 fe000000';
  const oif = '0800 0400 02000000';
  const routes = [
    hex(`02 00 00 00 fe 03 00 01 00000000 ${main} 0800 0500 0a000001 ${oif}`),
    hex(`02 18 00 00 fe 02 fd 01 00000000 ${main} 0800 0100 0a000000 ${oif}`),
    hex(`02 20 00 00 fe 03 00 01 00000000 ${main} 0800 0100 0a090909 ${oif}`),
    // table local: not listed
    hex(`02 20 00 00 ff 02 fe 02 00000000 0800 0f00 ff000000 0800 0100 0a000002 ${oif}`),
    // a cloned (cached) route: not listed
    hex(`02 20 00 00 fe 03 00 01 00020000 ${main} 0800 0100 0a080808 ${oif}`),
  ];
  const names = new Map([[2, 'eth0']]);
  t.deepEqual(mainRoutes(routes, parseCidr('0.0.0.0/0')!, names), [
    { dst: 'default', gateway: '10.0.0.1', dev: 'eth0' },
    { dst: '10.0.0.0/24', dev: 'eth0' },
    { dst: '10.9.9.9', dev: 'eth0' },
  ]);
  t.deepEqual(
    mainRoutes(routes, parseCidr('10.0.0.0/16')!, names).map((r) => r.dst),
    ['10.0.0.0/24'],
  );
  t.deepEqual(mainRoutes(routes, parseCidr('::/0')!, names), []);
});

test('addresses are listed under their link, every link listed, IPv6 from IFA_ADDRESS', (t) => {
  const addrs = [
    hex('02 18 00 00 02000000   0800 0100 0a000002   0800 0200 0a000002'),
    hex('0a 40 02 00 02000000   1400 0100 fd000000 00000000 00000000 00000002'),
  ];
  const links = [
    { ifindex: 1, ifname: 'lo', mtu: 65536 },
    { ifindex: 2, ifname: 'eth0', mtu: 1500 },
  ];
  t.deepEqual(addressesByLink(links, addrs), [
    { ifname: 'lo', addr_info: [] },
    {
      ifname: 'eth0',
      addr_info: [
        { family: 'inet', local: '10.0.0.2', prefixlen: 24 },
        { family: 'inet6', local: 'fd00::2', prefixlen: 64 },
      ],
    },
  ]);
});

test('a datagram splits into its messages, and an error carries its errno and the kernel explanation', (t) => {
  const datagram = hex(`
    20000000 1000 0200 07000000 00000000   00000000 01000000 00000000 00000000
    2c000000 0200 0003 07000000 00000000   efffffff   20000000 1000 0500 07000000 00000000   0800 0100 42616400`);
  const [reply, error] = parseMessages(datagram);
  t.like(reply, { type: 16, flags: 2, seq: 7 });
  t.is(reply!.payload.length, 16);
  t.like(error, { type: 2, seq: 7 });
  t.deepEqual(parseAck(error!), { errno: 17, detail: 'Bad' });
  t.deepEqual(parseAck({ type: 2, flags: 0, seq: 7, payload: hex('00000000 20000000 1000 0500 07000000 00000000') }), { errno: 0, detail: undefined });
});

test('a message claiming more bytes than the datagram holds is refused', (t) => {
  t.throws(() => parseMessages(hex('40000000 1000 0200 07000000 00000000 00000000')), { message: /malformed netlink reply/ });
});

test('the show forms CHECK, GC and readLink send are read; others are refused as a bug', (t) => {
  t.deepEqual(parseShow(['link', 'show']), { kind: 'links', type: undefined });
  t.deepEqual(parseShow(['link', 'show', 'type', 'veth']), { kind: 'links', type: 'veth' });
  t.deepEqual(parseShow(['link', 'show', 'dev', 'weft0']), { kind: 'link', name: 'weft0' });
  t.deepEqual(parseShow(['addr', 'show']), { kind: 'addresses' });
  t.like(parseShow(['route', 'show', 'table', 'main', 'root', '::/0']), { kind: 'routes', root: { family: 6, prefix: 0 } });
  for (const words of [
    ['link', 'show', 'master', 'weft0'],
    ['neigh', 'show'],
    ['route', 'show'],
    ['route', 'show', 'table', 'local', 'root', '0.0.0.0/0'],
    ['addr', 'show', 'dev', 'eth0'],
  ]) {
    t.throws(() => parseShow(words), { instanceOf: UnsupportedCommandError, message: /this is a bug in weft/ }, words.join(' '));
  }
});
