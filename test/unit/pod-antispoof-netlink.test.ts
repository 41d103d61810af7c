// The anti-spoofing elements as the nfnetlink changes ADD and DEL send once
// the table exists: one change per set, each field typed as the set's key.
import test from 'ava';
import { antispoofChanges, antispoofElements, antispoofRemovalChanges } from '../../src/cni/pod-antispoof.ts';
import { encodeElementBatch } from '../../src/linux/netlink/nftables.ts';
import { parseAddress } from '../../src/net/address.ts';

const pod = { hostVeth: 'weft0123456789a', mac: '0a:58:0a:00:00:05', addresses: [parseAddress('10.0.0.5')!, parseAddress('fd00::5')!] };
const veth = { type: 'ifname', value: pod.hostVeth } as const;
const mac = { type: 'ether_addr', value: pod.mac } as const;

test("ADD's changes add the pod's port, MAC and sources, one change per set, keys typed as the sets are", (t) => {
  const common = { verb: 'add', family: 'bridge', table: 'weft-antispoof' } as const;
  t.deepEqual(antispoofChanges('add', antispoofElements(pod)), [
    { ...common, set: 'ports', keys: [[veth]] },
    { ...common, set: 'macs', keys: [[veth, mac]] },
    { ...common, set: 'sources4', keys: [[veth, mac, { type: 'ipv4_addr', value: '10.0.0.5' }]] },
    { ...common, set: 'sources6', keys: [[veth, mac, { type: 'ipv6_addr', value: 'fd00::5' }]] },
  ]);
  t.notThrows(() => encodeElementBatch(antispoofChanges('add', antispoofElements(pod))), 'every key encodes');
});

test('removal adds each element, once, before deleting it, so an element already gone does not fail the batch', (t) => {
  const changes = antispoofRemovalChanges([...antispoofElements(pod), ...antispoofElements(pod)]);
  t.deepEqual(
    changes.map((c) => `${c.verb} ${c.set} ${c.keys.length}`),
    ['add ports 1', 'add macs 1', 'add sources4 1', 'add sources6 1', 'delete ports 1', 'delete macs 1', 'delete sources4 1', 'delete sources6 1'],
  );
  t.deepEqual(antispoofRemovalChanges([]), [], 'nothing to remove sends nothing');
});
