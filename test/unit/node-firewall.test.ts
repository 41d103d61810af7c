// The node firewall's decisions, as pure values: the VXLAN ingress table and
// its set changes, weft's FORWARD rules, and where their jumps go.
import test from 'ava';
import fc from 'fast-check';
import { resolveDaemonConfig } from '../../src/daemon/config.ts';
import { FORWARD_JUMP, masqueradeChains, masqueradeRulesets, type PodInterfaces } from '../../src/daemon/node-masquerade.ts';
import { ingressTable, peerSetChanges, replacedIngressTable } from '../../src/daemon/vxlan-ingress.ts';
import { nftLine } from '../../src/linux/command-words.ts';
import { type Jump, jumpEdits, restoreInput } from '../../src/linux/iptables.ts';
import { parseCidr } from '../../src/net/address.ts';

const cluster = [parseCidr('10.244.0.0/16')!];
const cluster6 = parseCidr('fd00:10:244::/56')!;
const dualStack = [...cluster, cluster6];
const via: PodInterfaces = { bridge: 'weft0', overlays: ['weft.1'] };
const script = (commands: readonly (readonly string[])[]) => commands.map(nftLine);

test('the VXLAN ingress table drops VXLAN from pods and from non-peers at the node, and from pods when forwarded', (t) => {
  const lines = script(ingressTable({ port: 4789, podNetworks: [...cluster, parseCidr('10.245.0.0/16')!] }, ['10.229.0.12', '10.229.0.13']));
  t.deepEqual(
    lines.filter((l) => l.startsWith('add rule')),
    [
      'add rule inet weft-vxlan input udp dport 4789 ip saddr { 10.244.0.0/16 , 10.245.0.0/16 } counter name vxlan-from-pods drop',
      'add rule inet weft-vxlan input udp dport 4789 ip saddr != @peer-vteps counter name vxlan-from-non-peers drop',
      'add rule inet weft-vxlan forward udp dport 4789 ip saddr { 10.244.0.0/16 , 10.245.0.0/16 } counter name vxlan-from-pods drop',
      // An IPv4 cluster may ride an IPv6 underlay: its VXLAN comes from IPv6 peers only.
      'add rule inet weft-vxlan input udp dport 4789 ip6 saddr != @peer-vteps6 counter name vxlan-from-non-peers drop',
    ],
  );
  t.true(lines.includes('add element inet weft-vxlan peer-vteps { 10.229.0.12 , 10.229.0.13 }'));
  t.false(lines.some((l) => l.startsWith('add element inet weft-vxlan peer-vteps6')));
  // Re-asserting refills chains and set before the rules go in, in the same transaction.
  const flushed = lines.indexOf('flush set inet weft-vxlan peer-vteps');
  t.true(flushed >= 0 && flushed < lines.findIndex((l) => l.startsWith('add element')));
  t.true(lines.indexOf('flush chain inet weft-vxlan input') < lines.findIndex((l) => l.startsWith('add rule')));
  t.true(lines.includes('add chain inet weft-vxlan input { type filter hook input priority -10 ; policy accept ; }'));
});

test('with no peers the table has an empty set, so every VXLAN packet is dropped; the port is the configured one', (t) => {
  const lines = script(ingressTable({ port: 8472, podNetworks: cluster }, []));
  t.false(lines.some((l) => l.startsWith('add element')));
  t.true(lines.includes('add rule inet weft-vxlan input udp dport 8472 ip saddr != @peer-vteps counter name vxlan-from-non-peers drop'));
});

test('a replaced table is deleted and made again in one transaction', (t) => {
  const lines = script(replacedIngressTable({ port: 4789, podNetworks: cluster }, ['10.229.0.12']));
  t.deepEqual(lines.slice(0, 3), ['add table inet weft-vxlan', 'delete table inet weft-vxlan', 'add table inet weft-vxlan']);
});

const set = (...ips: string[]) => new Set(ips);
const ALL = ['10.229.0.12', '10.229.0.13', '10.229.0.14'];

test('the peer set changes by element, looking only at the touched addresses: nothing when they agree', (t) => {
  t.deepEqual(peerSetChanges(set('10.229.0.12', '10.229.0.13'), set('10.229.0.13', '10.229.0.12'), ALL), []);
  t.deepEqual(script(peerSetChanges(set('10.229.0.12', '10.229.0.13'), set('10.229.0.13', '10.229.0.14'), ALL)), [
    'add element inet weft-vxlan peer-vteps { 10.229.0.14 }',
    'delete element inet weft-vxlan peer-vteps { 10.229.0.12 }',
  ]);
  t.deepEqual(script(peerSetChanges(set(), set('10.229.0.12'), ['10.229.0.12'])), ['add element inet weft-vxlan peer-vteps { 10.229.0.12 }']);
  // An event names only its own node's VTEP: the others are not looked at.
  t.deepEqual(script(peerSetChanges(set('10.229.0.12'), set('10.229.0.13'), ['10.229.0.13'])), ['add element inet weft-vxlan peer-vteps { 10.229.0.13 }']);
});

test('property: applying the changes for every touched address leaves the set equal to the peers', (t) => {
  const address = fc.constantFrom('10.229.0.1', '10.229.0.2', '10.229.0.3', 'fd00:229::1', 'fd00:229::2');
  fc.assert(
    fc.property(fc.uniqueArray(address), fc.uniqueArray(address), (before, after) => {
      const kernel = new Set<string>(before);
      for (const command of peerSetChanges(new Set(before), new Set(after), [...before, ...after])) {
        const ips = command.slice(command.indexOf('{') + 1, command.indexOf('}')).filter((w) => w !== ',');
        for (const ip of ips) {
          if (command[0] === 'add') kernel.add(ip);
          else kernel.delete(ip);
        }
      }
      t.deepEqual([...kernel].sort(), [...after].sort());
    }),
  );
});

test('forwarding is accepted by interface and connection state, never by destination alone', (t) => {
  const { chains } = masqueradeChains(cluster, via);
  const forward = restoreInput(chains.filter((c) => c.table === 'filter'))
    .split('\n')
    .filter((l) => l.startsWith('-A'));
  t.deepEqual(
    forward.map((l) => l.replace(/ -m comment --comment \S+/, '')),
    [
      '-A WEFT-FORWARD -d 10.244.0.0/16 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT',
      '-A WEFT-FORWARD -s 10.244.0.0/16 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A WEFT-FORWARD -i weft0 -s 10.244.0.0/16 -j ACCEPT',
      '-A WEFT-FORWARD -i weft.1 -d 10.244.0.0/16 -j ACCEPT',
    ],
  );
  for (const rule of forward) t.regex(rule, /-i |--ctstate /, rule);
});

test('with direct routing, pods and hosts on the underlay subnet may reach pods through the underlay device', (t) => {
  const direct = { dev: 'eth0', subnet: parseCidr('10.229.0.0/24')! };
  const { chains } = masqueradeChains(cluster, { ...via, direct: [direct] });
  const input = restoreInput(chains);
  t.regex(input, /-A WEFT-FORWARD -i eth0 -s 10\.244\.0\.0\/16 -d 10\.244\.0\.0\/16 .*-j ACCEPT/);
  t.regex(input, /-A WEFT-FORWARD -i eth0 -s 10\.229\.0\.0\/24 -d 10\.244\.0\.0\/16 .*-j ACCEPT/);
});

const forwardJump = (): Jump => masqueradeChains(cluster, via).jumps.find((j) => j.from === 'FORWARD')!;

test("the FORWARD jump is appended after the operator's rules, and a jump an older weftd inserted at the top is removed", (t) => {
  const fresh = '-P FORWARD ACCEPT\n-A FORWARD -s 10.244.1.5/32 -j DROP\n';
  t.deepEqual(jumpEdits(fresh, forwardJump()), [`-A FORWARD -m comment --comment ${FORWARD_JUMP} -j WEFT-FORWARD`]);

  const legacy = '-P FORWARD ACCEPT\n-A FORWARD -m comment --comment weft-forward -j WEFT-FORWARD\n-A FORWARD -s 10.244.1.5/32 -j DROP\n';
  t.deepEqual(jumpEdits(legacy, forwardJump()), [
    '-D FORWARD -m comment --comment weft-forward -j WEFT-FORWARD',
    `-A FORWARD -m comment --comment ${FORWARD_JUMP} -j WEFT-FORWARD`,
  ]);
});

test('a jump in place is left where it is, a duplicate is removed, and the NAT jump goes to the top', (t) => {
  const placed = `-P FORWARD ACCEPT\n-A FORWARD -j KUBE-FORWARD\n-A FORWARD -m comment --comment ${FORWARD_JUMP} -j WEFT-FORWARD\n-A FORWARD -j DROP\n`;
  t.deepEqual(jumpEdits(placed, forwardJump()), []);
  t.deepEqual(jumpEdits(`${placed}-A FORWARD -m comment --comment ${FORWARD_JUMP} -j WEFT-FORWARD\n`, forwardJump()), [
    `-D FORWARD -m comment --comment ${FORWARD_JUMP} -j WEFT-FORWARD`,
  ]);
  // Another chain's jump with a similar comment is not weft's.
  t.deepEqual(jumpEdits('-A FORWARD -m comment --comment weft-forward -j OTHER\n', forwardJump()), [
    `-A FORWARD -m comment --comment ${FORWARD_JUMP} -j WEFT-FORWARD`,
  ]);
  const nat = masqueradeChains(cluster, via).jumps.find((j) => j.table === 'nat')!;
  t.deepEqual(jumpEdits('-P POSTROUTING ACCEPT\n-A POSTROUTING -j KUBE-POSTROUTING\n', nat), [
    '-I POSTROUTING 1 -m comment --comment weft-masquerade -j WEFT-POSTROUTING',
  ]);
});

test('the jump edits go into the same restore as the chains, after them', (t) => {
  const { chains } = masqueradeChains(cluster, via);
  const input = restoreInput(chains, [{ table: 'filter', lines: ['-D FORWARD -m comment --comment weft-forward -j WEFT-FORWARD'] }]);
  t.regex(input, /\*filter\n:WEFT-FORWARD - \[0:0\]\n(-A WEFT-FORWARD .*\n)+-D FORWARD .*\nCOMMIT\n$/);
});

test('a dual-stack table drops IPv6 VXLAN from IPv6 pods and from non-peers, with each family in its own peer set', (t) => {
  const lines = script(ingressTable({ port: 4789, podNetworks: dualStack }, ['10.229.0.12', 'fd00:229::12', 'fd00:229::13']));
  t.deepEqual(
    lines.filter((l) => l.startsWith('add rule')),
    [
      'add rule inet weft-vxlan input udp dport 4789 ip saddr { 10.244.0.0/16 } counter name vxlan-from-pods drop',
      'add rule inet weft-vxlan input udp dport 4789 ip saddr != @peer-vteps counter name vxlan-from-non-peers drop',
      'add rule inet weft-vxlan forward udp dport 4789 ip saddr { 10.244.0.0/16 } counter name vxlan-from-pods drop',
      'add rule inet weft-vxlan input udp dport 4789 ip6 saddr { fd00:10:244::/56 } counter name vxlan-from-pods drop',
      'add rule inet weft-vxlan input udp dport 4789 ip6 saddr != @peer-vteps6 counter name vxlan-from-non-peers drop',
      'add rule inet weft-vxlan forward udp dport 4789 ip6 saddr { fd00:10:244::/56 } counter name vxlan-from-pods drop',
    ],
  );
  t.true(lines.includes('add set inet weft-vxlan peer-vteps6 { type ipv6_addr ; }'));
  t.true(lines.includes('add element inet weft-vxlan peer-vteps { 10.229.0.12 }'));
  t.true(lines.includes('add element inet weft-vxlan peer-vteps6 { fd00:229::12 , fd00:229::13 }'));
  const flushed6 = lines.indexOf('flush set inet weft-vxlan peer-vteps6');
  t.true(flushed6 >= 0 && flushed6 < lines.indexOf('add element inet weft-vxlan peer-vteps6 { fd00:229::12 , fd00:229::13 }'));
});

test('an IPv6-only cluster has no IPv4 pod rule, and still drops IPv4 VXLAN from non-peers (its pods may ride an IPv4 underlay)', (t) => {
  const rules = script(ingressTable({ port: 4789, podNetworks: [cluster6] }, ['fd00:229::12'])).filter((l) => l.startsWith('add rule'));
  t.false(
    rules.some((l) => / ip saddr \{/.test(l)),
    rules.join('\n'),
  );
  t.true(rules.includes('add rule inet weft-vxlan input udp dport 4789 ip saddr != @peer-vteps counter name vxlan-from-non-peers drop'));
  t.true(rules.includes('add rule inet weft-vxlan forward udp dport 4789 ip6 saddr { fd00:10:244::/56 } counter name vxlan-from-pods drop'));
});

test("mixed-family peer changes go to each family's set, and the same peers change nothing", (t) => {
  const before = ['10.229.0.12', 'fd00:229::12', 'fd00:229::13'];
  const after = ['10.229.0.12', '10.229.0.14', 'fd00:229::13', 'fd00:229::14'];
  t.deepEqual(peerSetChanges(new Set(before), new Set(before), before), []);
  t.deepEqual(script(peerSetChanges(new Set(before), new Set(after), [...before, ...after])), [
    'add element inet weft-vxlan peer-vteps { 10.229.0.14 }',
    'add element inet weft-vxlan peer-vteps6 { fd00:229::14 }',
    'delete element inet weft-vxlan peer-vteps6 { fd00:229::12 }',
  ]);
  t.deepEqual(script(peerSetChanges(set('fd00:229::12'), set(), ['fd00:229::12'])), ['delete element inet weft-vxlan peer-vteps6 { fd00:229::12 }']);
});

const restoreLines = (input: string) => input.split('\n').filter((l) => l.startsWith('-A'));
const withoutComments = (lines: string[]) => lines.map((l) => l.replace(/ -m comment --comment \S+/, ''));

test('a dual-stack cluster gets the same chains in the IPv4 and IPv6 tables, each with its own CIDRs', (t) => {
  const rulesets = masqueradeRulesets(dualStack, { bridge: 'weft0', overlays: ['weft.1', 'weft6.1'] });
  t.deepEqual(
    rulesets.map((r) => r.family),
    [4, 6],
  );
  const [v4, v6] = rulesets as [(typeof rulesets)[0], (typeof rulesets)[0]];
  t.deepEqual(v6.jumps, v4.jumps, 'one jump per chain, placed the same way, in each family');
  t.deepEqual(withoutComments(restoreLines(restoreInput(v6.chains))), [
    '-A WEFT-POSTROUTING -s fd00:10:244::/56 -d fd00:10:244::/56 -j RETURN',
    '-A WEFT-POSTROUTING -s fd00:10:244::/56 -d fe80::/10 -j RETURN',
    '-A WEFT-POSTROUTING -s fd00:10:244::/56 ! -d ff00::/8 -j MASQUERADE --random-fully',
    '-A WEFT-FORWARD -d fd00:10:244::/56 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT',
    '-A WEFT-FORWARD -s fd00:10:244::/56 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A WEFT-FORWARD -i weft0 -s fd00:10:244::/56 -j ACCEPT',
    '-A WEFT-FORWARD -i weft.1 -d fd00:10:244::/56 -j ACCEPT',
    '-A WEFT-FORWARD -i weft6.1 -d fd00:10:244::/56 -j ACCEPT',
  ]);
  const v4Rules = withoutComments(restoreLines(restoreInput(v4.chains)));
  t.false(
    v4Rules.some((l) => l.includes(':')),
    v4Rules.join('\n'),
  );
  // IPv4 link-local (metadata services) stays masqueraded; only multicast is exempt.
  t.false(v4Rules.some((l) => l.includes('169.254.')));
});

test('only the families the cluster has get rules', (t) => {
  t.deepEqual(
    masqueradeRulesets(cluster, via).map((r) => r.family),
    [4],
  );
  const v6only = masqueradeRulesets([cluster6], via);
  t.deepEqual(
    v6only.map((r) => r.family),
    [6],
  );
  t.false(restoreInput(v6only[0]!.chains).includes('10.244.'));
});

test("with direct routing per family, each family's chain accepts only its own underlay subnet's peers", (t) => {
  const direct = [
    { dev: 'eth0', subnet: parseCidr('10.229.0.0/24')! },
    { dev: 'eth1', subnet: parseCidr('fd00:229::/64')! },
  ];
  const [v4, v6] = masqueradeRulesets(dualStack, { ...via, direct }).map((r) => restoreLines(restoreInput(r.chains)).filter((l) => l.includes('-i eth')));
  t.deepEqual(withoutComments(v6!), [
    '-A WEFT-FORWARD -i eth1 -s fd00:10:244::/56 -d fd00:10:244::/56 -j ACCEPT',
    '-A WEFT-FORWARD -i eth1 -s fd00:229::/64 -d fd00:10:244::/56 -j ACCEPT',
  ]);
  t.deepEqual(withoutComments(v4!), [
    '-A WEFT-FORWARD -i eth0 -s 10.244.0.0/16 -d 10.244.0.0/16 -j ACCEPT',
    '-A WEFT-FORWARD -i eth0 -s 10.229.0.0/24 -d 10.244.0.0/16 -j ACCEPT',
  ]);
});

test('a --bridge that is not an interface name is refused, naming the flag', (t) => {
  const flags = { nodeName: 'n1', clusterCidr: ['10.244.0.0/16'] };
  t.is(resolveDaemonConfig(flags, {}).bridge, 'weft0');
  t.is(resolveDaemonConfig({ ...flags, bridge: 'cni0' }, {}).bridge, 'cni0');
  for (const bad of ['', '-i', 'a b', 'sixteen-chars-xx', 'x;y']) {
    t.throws(() => resolveDaemonConfig({ ...flags, bridge: bad }, {}), { message: /^--bridge .* is not an interface name/ }, bad);
  }
});
