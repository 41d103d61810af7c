// The plugin's `ip` command forms as rtnetlink requests, byte for byte as
// linux/netlink.h, linux/rtnetlink.h and linux/if_link.h lay them out (and
// as iproute2 sends them), and the forms the netlink path refuses.
import test from 'ava';
import { CommandFailure, UnsupportedCommandError } from '../../src/linux/netlink/errors.ts';
import { encodeRequest } from '../../src/linux/netlink/message.ts';
import { checkSupported, ipRequest, type Lookup } from '../../src/linux/netlink/requests.ts';

/** Bytes from hex, spaces ignored. */
const hex = (text: string) => Uint8Array.from(text.replace(/\s+/g, '').match(/../g)!, (b) => Number.parseInt(b, 16));

const INDEXES: Record<string, number> = { weft0: 3, weftabc: 7, eth0: 2 };
const lookup: Lookup = {
  index(name) {
    const index = INDEXES[name];
    if (index === undefined) throw new CommandFailure(`Cannot find device "${name}"`, 19);
    return index;
  },
  netnsFd: () => 5,
};
const encode = (words: string[]) => encodeRequest(ipRequest(words, lookup), 1);

test('link set dev NAME up: RTM_NEWLINK for the index with IFF_UP in flags and change, acknowledged', (t) => {
  t.deepEqual(
    encode(['link', 'set', 'dev', 'weftabc', 'up']),
    //   len      type flags seq      port     | fam pad type index    flags    change
    hex('20000000 1000 0500 01000000 00000000   00  00  0000 07000000 01000000 01000000'),
  );
});

test('link del dev NAME: RTM_DELLINK for the index', (t) => {
  t.deepEqual(encode(['link', 'del', 'dev', 'weft0']), hex('20000000 1100 0500 01000000 00000000 0000 0000 03000000 00000000 00000000'));
});

test('link set alias, master and hairpin: IFLA_IFALIAS without NUL, IFLA_MASTER by index, bridge port mode as slave data', (t) => {
  t.deepEqual(
    encode(['link', 'set', 'dev', 'weftabc', 'alias', 'weft:n']),
    hex('2c000000 1000 0500 01000000 00000000 0000 0000 07000000 00000000 00000000   0a00 1400 7765 6674 3a6e 0000'),
  );
  t.deepEqual(
    encode(['link', 'set', 'dev', 'weftabc', 'master', 'weft0']),
    hex('28000000 1000 0500 01000000 00000000 0000 0000 07000000 00000000 00000000   0800 0a00 03000000'),
  );
  t.deepEqual(
    encode(['link', 'set', 'dev', 'weftabc', 'type', 'bridge_slave', 'hairpin', 'on']),
    //                                                                            LINKINFO  SLAVE_DATA  MODE=1
    hex('30000000 1000 0500 01000000 00000000 0000 0000 07000000 00000000 00000000   1000 1200 0c00 0500 0500 0400 01 000000'),
  );
});

test('link add of a bridge: RTM_NEWLINK create-exclusive with name (NUL-terminated), MTU, MAC and kind', (t) => {
  t.deepEqual(
    encode(['link', 'add', 'name', 'weft1', 'mtu', '1450', 'address', '0a:58:0a:00:00:01', 'type', 'bridge']),
    hex(`50000000 1000 0506 01000000 00000000  00000000 00000000 00000000 00000000
         0a00 0300 77656674 3100 0000
         0800 0400 aa050000
         0a00 0100 0a580a000001 0000
         1000 1200 0a00 0100 627269646765 0000`),
  );
});

test('link add of a veth pair: the peer is a nested ifinfomsg with its own name, MTU, MAC and netns descriptor', (t) => {
  const words = ['link', 'add', 'name', 'weftabc', 'mtu', '1400', 'address', '0e:00:00:00:00:01', 'type', 'veth'];
  const peer = ['peer', 'name', 'eth0', 'mtu', '1400', 'address', '0a:58:0a:00:00:02', 'netns', '/var/run/netns/pod'];
  t.deepEqual(
    encode([...words, ...peer]),
    hex(`8c000000 1000 0506 01000000 00000000  00000000 00000000 00000000 00000000
         0c00 0300 77656674 61626300
         0800 0400 78050000
         0a00 0100 0e0000000001 0000
         4c00 1200
           0800 0100 76657468
           4000 0200
             3c00 0100
               00000000 00000000 00000000 00000000
               0900 0300 65746830 00 000000
               0800 0400 78050000
               0a00 0100 0a580a000002 0000
               0800 1c00 05000000`),
  );
});

test('link add with master and up: IFLA_MASTER by index after the MAC, IFF_UP in flags and change; a peer takes neither', (t) => {
  const words = ['link', 'add', 'name', 'weftabc', 'mtu', '1400', 'master', 'weft0', 'up', 'type', 'veth', 'peer', 'name', 'eth0'];
  t.deepEqual(
    encode(words),
    hex(`6c000000 1000 0506 01000000 00000000  00000000 00000000 01000000 01000000
         0c00 0300 77656674 61626300
         0800 0400 78050000
         0800 0a00 03000000
         3000 1200
           0800 0100 76657468
           2400 0200
             2000 0100
               00000000 00000000 00000000 00000000
               0900 0300 65746830 00 000000`),
  );
  for (const option of [['master', 'weft0'], ['up']]) {
    t.throws(() => checkSupported([[...words, ...option]]), { instanceOf: UnsupportedCommandError }, option.join(' '));
  }
  t.throws(() => encode(['link', 'add', 'name', 'weftabc', 'master', 'nosuch0', 'type', 'bridge']), {
    instanceOf: CommandFailure,
    message: 'Cannot find device "nosuch0"',
  });
});

test('addr add|replace: IFA_LOCAL and IFA_ADDRESS, nodad in ifa_flags, EXCL for add and REPLACE for replace', (t) => {
  const v6 = '14000200 fd000000 00000000 00000000 00000002   14000100 fd000000 00000000 00000000 00000002';
  t.deepEqual(encode(['addr', 'add', 'fd00::2/64', 'dev', 'eth0', 'nodad']), hex(`40000000 1400 0506 01000000 00000000   0a 40 02 00 02000000 ${v6}`));
  t.deepEqual(
    encode(['addr', 'replace', '10.0.0.1/24', 'dev', 'weft0']),
    hex('28000000 1400 0505 01000000 00000000   02 18 00 00 03000000   0800 0200 0a000001   0800 0100 0a000001'),
  );
});

test('route add: table main, proto boot, unicast; universe scope via a gateway, link scope without; no RTA_DST for /0', (t) => {
  t.deepEqual(
    encode(['route', 'add', '0.0.0.0/0', 'via', '10.0.0.1', 'dev', 'eth0']),
    //                                     fam dst src tos table proto scope type flags
    hex('2c000000 1800 0506 01000000 00000000 02 00 00 00 fe 03 00 01 00000000   0800 0500 0a000001   0800 0400 02000000'),
  );
  t.deepEqual(
    encode(['route', 'add', '10.1.0.0/16', 'dev', 'eth0']),
    hex('2c000000 1800 0506 01000000 00000000 02 10 00 00 fe 03 fd 01 00000000   0800 0100 0a010000   0800 0400 02000000'),
  );
});

test('a device that does not exist fails its line the way iproute2 says it', (t) => {
  const err = t.throws(() => encode(['addr', 'add', '10.0.0.2/24', 'dev', 'nosuch0']), { instanceOf: CommandFailure });
  t.is(err?.message, 'Cannot find device "nosuch0"');
});

test('bad values fail their line, naming the value', (t) => {
  t.throws(() => encode(['link', 'set', 'dev', 'eth0', 'mtu', '99999999999']), {
    instanceOf: CommandFailure,
    message: /"99999999999" is wrong: Invalid "mtu"/,
  });
  t.throws(() => encode(['link', 'add', 'name', 'x', 'address', '0a:58', 'type', 'bridge']), { instanceOf: CommandFailure, message: /"0a:58" is wrong/ });
  t.throws(() => encode(['addr', 'add', '10.0.0.300/24', 'dev', 'eth0']), { instanceOf: CommandFailure, message: /"10\.0\.0\.300\/24"/ });
  t.throws(() => encode(['route', 'add', '0.0.0.0/0', 'via', 'fd00::1', 'dev', 'eth0']), {
    instanceOf: CommandFailure,
    message: /inet address is expected rather than "fd00::1"/,
  });
});

const UNSUPPORTED: string[][] = [
  ['neigh', 'add', '10.0.0.1', 'lladdr', '0a:58:0a:00:00:01', 'dev', 'eth0'],
  ['route', 'replace', '10.1.0.0/16', 'dev', 'eth0'],
  ['route', 'add', '10.1.0.0/16', 'dev', 'eth0', 'onlink'],
  ['link', 'add', 'name', 'vx0', 'type', 'vxlan', 'id', '1'],
  ['link', 'add', 'name', 'br0', 'type', 'bridge', 'vlan_filtering', '1'],
  ['link', 'set', 'dev', 'eth0', 'netns', '/proc/1/ns/net'],
  ['link', 'set', 'dev', 'eth0', 'type', 'bridge_slave', 'learning', 'off'],
  ['link', 'set', 'eth0', 'up'],
  ['addr', 'add', '10.0.0.2/24', 'dev', 'eth0', 'label', 'eth0:1'],
  ['addr', 'del', '10.0.0.2/24', 'dev', 'eth0'],
  ['link', 'add'],
];

for (const words of UNSUPPORTED) {
  test(`"${words.join(' ')}" is refused as a bug, before anything is sent`, (t) => {
    t.throws(() => checkSupported([['link', 'set', 'dev', 'eth0', 'up'], words]), { instanceOf: UnsupportedCommandError, message: /this is a bug in weft/ });
  });
}

test('a batch of only supported forms passes the check, bad values included (they fail at their turn)', (t) => {
  t.notThrows(() =>
    checkSupported([
      ['link', 'add', 'name', 'weftabc', 'mtu', 'lots', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', '/nonexistent'],
      ['link', 'set', 'dev', 'weftabc', 'alias', 'weft:n'],
      ['link', 'set', 'dev', 'weftabc', 'master', 'weft0'],
      ['link', 'set', 'dev', 'weftabc', 'type', 'bridge_slave', 'hairpin', 'on'],
      ['link', 'set', 'dev', 'weftabc', 'up'],
      ['addr', 'add', '10.0.0.2/24', 'dev', 'eth0'],
      ['route', 'add', '::/0', 'via', 'fd00::1', 'dev', 'eth0'],
      ['link', 'del', 'dev', 'weftabc'],
    ]),
  );
});
