import test from 'ava';
import { IpamError } from '../../src/ipam/errors.ts';
import { candidates, capacity, parseRange, parseRangeSets, type RangeSpec } from '../../src/ipam/range.ts';
import { formatAddress, parseAddress, parseCidr } from '../../src/net/address.ts';

const addr = (s: string) => parseAddress(s)!;
const list = (it: Iterable<{ family: 4 | 6; value: bigint }>) => [...it].map(formatAddress);

test('a /29 hands out .2-.6: never network, gateway or broadcast', (t) => {
  const set = parseRangeSets([[{ subnet: '10.0.0.0/29' }]], 'ranges');
  t.deepEqual(list(candidates(set[0]!)), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  t.is(capacity(set[0]!), 5n);
});

test('allocation is round-robin from the last reservation and wraps', (t) => {
  const [set] = parseRangeSets([[{ subnet: '10.0.0.0/29' }]], 'ranges');
  t.deepEqual(list(candidates(set!, addr('10.0.0.4'))), ['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  t.deepEqual(list(candidates(set!, addr('10.0.0.6'))), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  t.deepEqual(list(candidates(set!, addr('192.168.0.1'))).length, 5, 'a marker outside the set starts at the beginning');
});

test('a range set walks all its ranges, skipping each gateway', (t) => {
  const [set] = parseRangeSets([[{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30', gateway: '10.0.1.2' }]], 'ranges');
  t.deepEqual(list(candidates(set!)), ['10.0.0.2', '10.0.1.1']);
  t.deepEqual(list(candidates(set!, addr('10.0.0.2'))), ['10.0.1.1', '10.0.0.2']);
});

test('rangeStart, rangeEnd and gateway narrow the range', (t) => {
  const r = parseRange({ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.12', gateway: '10.1.0.254' }, 'r');
  t.deepEqual(list(candidates([r])), ['10.1.0.10', '10.1.0.11', '10.1.0.12']);
  t.is(formatAddress({ family: 4, value: r.gateway }), '10.1.0.254');
});

test('IPv6 ranges use the compressed text form and may use the last address', (t) => {
  const [set] = parseRangeSets([[{ subnet: 'fd00:10::/126' }]], 'ranges');
  t.deepEqual(list(candidates(set!)), ['fd00:10::2', 'fd00:10::3']);
});

test('bad ranges are config errors naming the field and the fix', (t) => {
  const bad = (spec: object, re: RegExp) => {
    const err = t.throws(() => parseRangeSets([[spec as { subnet: string }]], 'ipam.ranges'), { instanceOf: IpamError });
    t.regex(err.message, re);
    t.is(err.kind, 'config');
  };
  bad({ subnet: 'nonsense' }, /ipam\.ranges\[0\]\[0\]\.subnet "nonsense" is not a CIDR/);
  bad({ subnet: '10.0.0.0/31' }, /too small/);
  bad({ subnet: '10.0.0.0/24', gateway: '10.0.0.255' }, /gateway "10\.0\.0\.255" is not a usable address of 10\.0\.0\.0\/24/);
  bad({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.9', rangeEnd: '10.0.0.3' }, /rangeStart 10\.0\.0\.9 is after rangeEnd/);
  t.throws(() => parseRangeSets([[{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.0/25' }]], 'r'), { message: /overlap/ });
  t.throws(() => parseRangeSets([[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]], 'r'), { message: /mixes IPv4 and IPv6/ });
  t.throws(() => parseRangeSets([], 'r'), { message: /is empty/ });
});

test('bad IPv6 ranges name the field and the fix', (t) => {
  const bad = (spec: RangeSpec, message: string | RegExp) => t.throws(() => parseRangeSets([[spec]], 'r'), { instanceOf: IpamError, message });
  bad(
    { subnet: 'fd00:10::/64', gateway: 'fd00:10::' },
    'r[0][0].gateway "fd00:10::" is not a usable address of fd00:10::/64: pick one after its network address (the subnet-router anycast address)',
  );
  bad({ subnet: 'fd00:10::/64', rangeStart: 'fd00:11::1' }, /rangeStart "fd00:11::1" is not a usable address of fd00:10::\/64/);
  bad({ subnet: 'fd00:10::/127' }, 'r[0][0].subnet fd00:10::/127 is too small to hold a gateway and a pod: use /126 or larger');
  bad({ subnet: 'fd00::/24' }, "r[0][0].subnet fd00::/24 is far too large for one node's pods: use /32 or smaller");
  t.throws(() => parseRangeSets([[{ subnet: 'fd00:10::/64' }], [{ subnet: 'fd00:10::/72' }]], 'r'), { message: /overlap/ });
});

test('CIDR parsing keeps the host part and normalises the network', (t) => {
  const c = parseCidr('10.2.3.4/16')!;
  t.is(formatAddress({ family: 4, value: c.network }), '10.2.0.0');
  t.is(formatAddress({ family: 4, value: c.host }), '10.2.3.4');
  t.is(parseCidr('10.0.0.0/33'), undefined);
  t.is(parseCidr('10.0.0.0'), undefined);
  t.is(parseAddress('fe80::1%eth0'), undefined);
});
