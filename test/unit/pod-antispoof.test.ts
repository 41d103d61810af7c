// The anti-spoofing and masquerade scripts and the pod's MAC, as pure
// functions: what goes into the one nft transaction of each verb.
import test from 'ava';
import {
  antispoofElements,
  antispoofProblem,
  antispoofRemovalScript,
  antispoofScript,
  attachmentElements,
  parseAntispoofListing,
  staleElements,
} from '../../src/cni/pod-antispoof.ts';
import { podMac, possiblePodMacs } from '../../src/cni/pod-mac.ts';
import { masqueradeRemovalScript } from '../../src/cni/pod-masquerade.ts';
import { nftLine } from '../../src/linux/command-words.ts';
import { parseAddress } from '../../src/net/address.ts';

const v4 = parseAddress('10.0.0.5')!;
const v6 = parseAddress('fd00::5')!;
const pod = { hostVeth: 'weft0123456789a', mac: '0a:58:0a:00:00:05', addresses: [v4, v6] };

test("ADD's script asserts the table and its rules, then adds the pod's elements; every line is safe nft", (t) => {
  const lines = antispoofScript(pod).map(nftLine);
  const firstElement = lines.findIndex((l) => l.startsWith('add element'));
  t.true(
    lines.slice(0, firstElement).every((l) => !l.includes(pod.hostVeth)),
    'no rule names a pod',
  );
  t.true(lines.indexOf('flush chain bridge weft-antispoof pod') < lines.findIndex((l) => l.startsWith('add rule bridge weft-antispoof pod')));
  t.deepEqual(lines.slice(firstElement), [
    'add element bridge weft-antispoof ports { weft0123456789a }',
    'add element bridge weft-antispoof macs { weft0123456789a . 0a:58:0a:00:00:05 }',
    'add element bridge weft-antispoof sources4 { weft0123456789a . 0a:58:0a:00:00:05 . 10.0.0.5 }',
    'add element bridge weft-antispoof sources6 { weft0123456789a . 0a:58:0a:00:00:05 . fd00::5 }',
  ]);
});

test('removal adds each element before deleting it, once, so it succeeds whether or not the element was there', (t) => {
  const elements = [...antispoofElements(pod), ...antispoofElements(pod)];
  const lines = antispoofRemovalScript(elements).map(nftLine);
  const adds = lines.filter((l) => l.startsWith('add element'));
  const deletes = lines.filter((l) => l.startsWith('delete element'));
  t.is(adds.length, 4, 'duplicates are dropped: a second delete of one element would fail the transaction');
  t.deepEqual(
    deletes,
    adds.map((l) => l.replace(/^add/, 'delete')),
  );
  t.true(lines.lastIndexOf(adds.at(-1)!) < lines.indexOf(deletes[0]!));
  t.deepEqual(antispoofRemovalScript([]), [], 'nothing to remove costs no nft run');
  t.deepEqual(masqueradeRemovalScript([]), []);
  t.deepEqual(
    masqueradeRemovalScript([v4])
      .filter((c) => c[1] === 'element')
      .map((c) => c.join(' ')),
    ['add element inet weft-pod-masq sources4 { 10.0.0.5 }', 'delete element inet weft-pod-masq sources4 { 10.0.0.5 }'],
  );
});

test("the pod's MAC follows its first address when IPv4, and DEL's candidates always include it", (t) => {
  t.is(podMac(v4, 'c1', 'eth0'), '0a:58:0a:00:00:05');
  t.regex(podMac(v6, 'c1', 'eth0'), /^0e:/);
  // A dual-stack pod whose first range set is IPv6: ADD took the name-derived MAC.
  for (const first of [v4, v6]) t.true(possiblePodMacs([v6, v4], 'c1', 'eth0').includes(podMac(first, 'c1', 'eth0')));
  t.deepEqual(possiblePodMacs([], 'c1', 'eth0'), [podMac(v6, 'c1', 'eth0')]);
  const elements = attachmentElements('weft0123456789a', possiblePodMacs([v4], 'c1', 'eth0'), [v4]);
  t.is(elements.filter((e) => e.set === 'ports').length, 2, 'one per MAC; the removal script drops the duplicate');
});

// What `nft -j list table bridge weft-antispoof` prints for the pod above (nft 1.0.6).
const listed = [
  { metainfo: { version: '1.0.6' } },
  { table: { family: 'bridge', name: 'weft-antispoof' } },
  { set: { name: 'ports', elem: ['weft0123456789a', 'weftfffffffffff'] } },
  { set: { name: 'macs', elem: [{ concat: ['weft0123456789a', '0a:58:0a:00:00:05'] }] } },
  { set: { name: 'sources4', elem: [{ concat: ['weft0123456789a', '0a:58:0a:00:00:05', '10.0.0.5'] }] } },
  { set: { name: 'sources6', elem: [{ concat: ['weft0123456789a', '0a:58:0a:00:00:05', 'fd00:0::5'] }] } },
  { rule: { chain: 'prerouting' } },
  ...Array.from({ length: 6 }, () => ({ rule: { chain: 'pod' } })),
];

test('CHECK finds nothing wrong with the table ADD made, and names what is missing or changed', (t) => {
  const listing = parseAntispoofListing(listed);
  t.is(antispoofProblem(listing, pod), undefined, "nft's spelling of an address is not a difference");
  t.is(antispoofProblem(listing, { ...pod, mac: pod.mac.toUpperCase() }), undefined);
  t.is(antispoofProblem(undefined, pod), 'table bridge weft-antispoof is missing');
  const noV6 = parseAntispoofListing(listed.filter((o) => !('set' in o && o.set?.name === 'sources6')));
  t.is(
    antispoofProblem(noV6, pod),
    'anti-spoofing element weft0123456789a . 0a:58:0a:00:00:05 . fd00::5 is missing from set sources6 of table bridge weft-antispoof',
  );
  const lessRules = parseAntispoofListing(listed.slice(0, -1));
  t.is(antispoofProblem(lessRules, pod), 'chain pod of table bridge weft-antispoof has 5 rules, weft puts 6 there');
});

test('GC takes the elements of veths that are gone, and only those', (t) => {
  const listing = parseAntispoofListing(listed);
  t.deepEqual(staleElements(listing, new Set(['weft0123456789a'])), [{ set: 'ports', key: ['weftfffffffffff'] }]);
  t.is(staleElements(listing, new Set()).length, 5);
});
