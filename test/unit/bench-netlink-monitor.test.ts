// bench-overlay times each entry by the line `ip monitor` / `bridge monitor`
// prints for it: weftd's routes carry proto 119, flannel's proto boot, which
// iproute2 leaves out of the line. A parse that drops either daemon's lines
// would make its convergence look like a timeout.
import test from 'ava';
import { parseBridgeTs, parseFdbEvent, parseIpEvent, parseIpTs } from '../../bench/lib/netlink-monitor.ts';

test("a route is read with weft's protocol, and with flannel's, which ip monitor leaves out", (t) => {
  t.deepEqual(parseIpEvent('10.244.7.0/24 via 10.244.7.0 dev weft.1 proto 119 onlink ', 'weft.1', 119), {
    kind: 'route',
    key: '10.244.7.0/24',
    value: '10.244.7.0',
    deleted: false,
  });
  t.deepEqual(parseIpEvent('10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink ', 'flannel.1', 3), {
    kind: 'route',
    key: '10.244.7.0/24',
    value: '10.244.7.0',
    deleted: false,
  });
  t.deepEqual(parseIpEvent('Deleted 10.244.7.5 via 10.244.7.0 dev weft.1 proto 119 onlink ', 'weft.1', 119), {
    kind: 'route',
    key: '10.244.7.5/32',
    value: '10.244.7.0',
    deleted: true,
  });
});

test("a route of another protocol, another device's entries and non-permanent neighbours are not the daemon's", (t) => {
  t.is(parseIpEvent('10.244.7.0/24 via 10.244.7.0 dev weft.1 proto static onlink ', 'weft.1', 119), undefined);
  t.is(parseIpEvent('10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink ', 'weft.1', 119), undefined);
  t.is(parseIpEvent('10.244.7.0 dev weft.1 lladdr 0e:00:00:00:00:07 STALE', 'weft.1', 119), undefined);
  t.deepEqual(parseIpEvent('10.244.7.0 dev weft.1 lladdr 0e:00:00:00:00:07 PERMANENT', 'weft.1', 119), {
    kind: 'neigh',
    key: '10.244.7.0',
    value: '0e:00:00:00:00:07',
    deleted: false,
  });
});

test('FDB lines and both timestamp formats', (t) => {
  t.deepEqual(parseFdbEvent('0e:00:00:00:00:07 dev weft.1 dst 10.229.0.17 self permanent', 'weft.1'), {
    kind: 'fdb',
    key: '0e:00:00:00:00:07',
    value: '10.229.0.17',
    deleted: false,
  });
  t.is(parseFdbEvent('0e:00:00:00:00:07 dev flannel.1 dst 10.229.0.17 self permanent', 'weft.1'), undefined);
  t.deepEqual(parseIpTs('[2026-11-24T05:29:43.304718] 10.244.7.0 dev weft.1'), {
    tsMs: Date.UTC(2026, 10, 24, 5, 29, 43) + 304.718,
    rest: '10.244.7.0 dev weft.1',
  });
  t.is(parseBridgeTs('Timestamp: Tue Nov 24 05:29:43 2026 317210 usec'), Date.UTC(2026, 10, 24, 5, 29, 43) + 317.21);
});
