// bench-dataplane judges each family's weft row against the by-hand path of
// the same family: comparing the IPv6 row with the IPv4 reference (or the
// other way round) would report a target met or missed by the families'
// different MTUs rather than by weft.
import test from 'ava';
import { judge, type MtuCheck, type PathRole, type PathSummary, type Result, summarize, table } from '../../bench/overlay-dataplane-report.ts';
import type { Family } from '../../src/net/address.ts';

const run = (gbps: number) => ({ gbps, retransmits: 1, senderCpu: 50, receiverCpu: 40, load1: 1 });
const path = (name: string, family: Family, role: PathRole, ...gbps: number[]): PathSummary => summarize(name, family, role, gbps.map(run));

// IPv6 paths first and IPv4's reference the fastest: a lookup by position or by role alone would pick the wrong one.
const paths = [
  path('weft IPv6 pod → pod', 6, 'weft', 9, 9.5, 10),
  path('by hand IPv6 pod → pod', 6, 'hand', 9.5, 10, 12),
  path('weft IPv4 pod → pod', 4, 'weft', 11, 12, 13),
  path('node → node over IPv4', 4, 'node', 20, 20, 20),
  path('by hand IPv4 pod → pod', 4, 'hand', 11.5, 11.5, 11.5),
];

test('each family is judged against its own by-hand path', (t) => {
  const six = judge(paths, 6);
  t.like(six, { family: 6, weftGbps: 9.5, byHandGbps: 10, ratio: 0.95, met: false });
  t.is(six.byHandSpread, 0.25);
  t.like(judge(paths, 4), { family: 4, weftGbps: 12, byHandGbps: 11.5, met: true });
});

test('a family without a by-hand path is an error naming it, not a ratio against the other family', (t) => {
  const withoutHand6 = paths.filter((p) => !(p.family === 6 && p.role === 'hand'));
  const err = t.throws(() => judge(withoutHand6, 6));
  t.regex(err.message, /no IPv6 hand path among the measured ones/);
});

test('the table shows each ping size at its family’s headers and each row against its own family’s reference', (t) => {
  const check = (label: string, family: Family, podMtu: number): MtuCheck => ({
    label,
    family,
    podMtu,
    dfFits: true,
    dfTooBig: true,
    tooBigMessage: 'message too long',
    fragmentsDuringPing: 0,
  });
  const result: Result = {
    machine: { node: 'v24', kernel: '6.1', nproc: 2, cpu: 'x', date: '2026-01-01T00:00:00Z' },
    config: { runs: 3, seconds: 5, streams: 1, knobs: false },
    mtu: {
      clusters: [
        { family: 4, underlay: 1500, vxlanDevice: 'weft.1', vxlan: 1450, pod: 1450 },
        { family: 6, underlay: 1500, vxlanDevice: 'weft6.1', vxlan: 1430, pod: 1430 },
      ],
      checks: [check('weft IPv4', 4, 1450), check('weft IPv6', 6, 1430)],
      fragmentsDuringIperf: 0,
    },
    paths,
    targets: [judge(paths, 4), judge(paths, 6)],
  };
  const out = table(result);
  t.regex(out, /weft IPv4: ping -M do -s 1422 crosses; -s 1423 refused/);
  t.regex(out, /weft IPv6: ping -M do -s 1382 crosses; -s 1383 refused/);
  t.regex(out, /IPv6 cluster: underlay 1500, weft6\.1 1430, pod 1430/);
  t.regex(out, /weft IPv6 pod → pod +9\.50 .* 95% /);
  t.regex(out, /weft IPv4 pod → pod +12\.00 .* 104% /);
  t.regex(out, /target weft IPv6 pod→pod >= 100% of by hand: 9\.50 vs 10\.00 Gbit\/s = 95\.0% -> MISSED \(by less than/);
  t.regex(out, /target weft IPv4 pod→pod >= 100% of by hand: 12\.00 vs 11\.50 Gbit\/s = 104\.3% -> met/);
});
