// nf_tables set-element batches, byte for byte as linux/netfilter/nfnetlink.h
// and nf_tables.h lay them out (and as libnftnl sends them: nested
// attributes flagged, names NUL-terminated), each key field padded to whole
// 4-byte registers; and how the kernel's acknowledgements are read.
import test from 'ava';
import { type Message, NLMSG_ERROR } from '../../src/linux/netlink/message.ts';
import { describeChange, type ElementChange, encodeElementBatch, encodeField, readBatchAnswer } from '../../src/linux/netlink/nftables.ts';

/** Bytes from hex, spaces ignored. */
const hex = (text: string) => Uint8Array.from(text.replace(/\s+/g, '').match(/../g)!, (b) => Number.parseInt(b, 16));

const ports = (verb: 'add' | 'delete'): ElementChange => ({
  verb,
  family: 'bridge',
  table: 'weft-antispoof',
  set: 'ports',
  keys: [[{ type: 'ifname', value: 'weftabc0' }]],
});

test('adding one element: BATCH_BEGIN for nftables, NEWSETELEM with table, set and the key as data, BATCH_END', (t) => {
  const batch = encodeElementBatch([ports('add')]);
  t.deepEqual(batch.seqs, [2]);
  t.deepEqual(
    batch.bytes,
    hex(`
      14000000 1000 0100 01000000 00000000   00 00 000a
      54000000 0c0a 0504 02000000 00000000   07 00 0000
        1300 0100 7765 6674 2d61 6e74 6973 706f 6f66 00 00
        0a00 0200 706f 7274 7300 0000
        2000 0380
          1c00 0180
            1800 0180
              1400 0100 7765 6674 6162 6330 0000 0000 0000 0000
      14000000 1100 0100 03000000 00000000   00 00 000a
    `),
    // BATCH_BEGIN: len 20, type 16, NLM_F_REQUEST, seq 1 | AF_UNSPEC, NFNETLINK_V0, res_id NFNL_SUBSYS_NFTABLES (big-endian)
    // NEWSETELEM: len 84, type (10 << 8) | 12, REQUEST|ACK|CREATE, seq 2 | NFPROTO_BRIDGE
    //   TABLE "weft-antispoof\0", SET "ports\0", ELEMENTS > LIST_ELEM > KEY (all NLA_F_NESTED) > DATA_VALUE: IFNAMSIZ bytes
    // BATCH_END: type 17, seq 3
  );
});

test('deleting: DELSETELEM without NLM_F_CREATE; one message per change, in order', (t) => {
  const batch = encodeElementBatch([ports('add'), ports('delete')]);
  t.deepEqual(batch.seqs, [2, 3]);
  const second = batch.bytes.subarray(20 + 84, 20 + 84 + 16);
  t.deepEqual(second, hex('54000000 0e0a 0500 03000000 00000000'));
  t.deepEqual(batch.bytes.subarray(-20, -12), hex('14000000 1100 0100'));
});

test('key fields: ifname NUL-padded to 16 bytes, a MAC padded to 8, addresses in network order', (t) => {
  t.deepEqual(encodeField({ type: 'ifname', value: 'eth0' }), hex('65746830 00000000 00000000 00000000'));
  t.deepEqual(encodeField({ type: 'ether_addr', value: '0A:58:0a:e6:00:02' }), hex('0a580ae6 00020000'));
  t.deepEqual(encodeField({ type: 'ipv4_addr', value: '10.230.0.2' }), hex('0ae60002'));
  t.deepEqual(encodeField({ type: 'ipv6_addr', value: 'fd00::1:2' }), hex('fd000000 00000000 00000000 00010002'));
});

test('a concatenated key is its fields back to back: ifname . ether_addr . ipv4_addr is 28 bytes, with ipv6_addr 40', (t) => {
  const change = (address: ElementChange['keys'][0][2]): ElementChange => ({
    verb: 'add',
    family: 'bridge',
    table: 't',
    set: 's',
    keys: [[{ type: 'ifname', value: 'veth1' }, { type: 'ether_addr', value: '02:00:00:00:00:01' }, address!]],
  });
  const v4 = encodeElementBatch([change({ type: 'ipv4_addr', value: '10.0.0.9' })]).bytes;
  // The data value ends the NEWSETELEM message, which ends 20 bytes (BATCH_END) before the batch does.
  t.deepEqual(v4.subarray(-20 - 32, -20), hex('2000 0100 7665 7468 3100 0000 0000 0000 0000 0000 0200 0000 0001 0000 0a00 0009'));
  const v6 = encodeElementBatch([change({ type: 'ipv6_addr', value: '::9' })]).bytes;
  t.deepEqual(v6.subarray(-20 - 44, -20 - 40), hex('2c00 0100'));
});

test('a value that does not fit its field is refused, naming the value and the type', (t) => {
  t.throws(() => encodeField({ type: 'ifname', value: 'a-name-of-16-chr' }), {
    message: 'cannot put "a-name-of-16-chr" in an nftables ifname key: an interface name has 1 to 15 bytes',
  });
  t.throws(() => encodeField({ type: 'ether_addr', value: '02:00:00:00:01' }), {
    message: /"02:00:00:00:01" in an nftables ether_addr key: a MAC address is six hex pairs/,
  });
  t.throws(() => encodeField({ type: 'ipv4_addr', value: 'fd00::1' }), {
    message: 'cannot put "fd00::1" in an nftables ipv4_addr key: it is not an IPv4 address',
  });
  t.throws(() => encodeElementBatch([{ ...ports('add'), keys: [[{ type: 'ipv6_addr', value: '10.0.0.1' }]] }]), { message: /not an IPv6 address/ });
});

test('more elements of one set than a netlink attribute holds are refused as a bug, not truncated', (t) => {
  const key = (i: number) => [{ type: 'ipv6_addr' as const, value: `fd00::${i.toString(16)}` }];
  const change = (n: number): ElementChange => ({ ...ports('add'), set: 'sources6', keys: Array.from({ length: n }, (_, i) => key(i)) });
  t.notThrows(() => encodeElementBatch([change(2000)]), '2000 IPv6 keys, 28 bytes each with their nesting, fit');
  t.throws(() => encodeElementBatch([change(2400)]), {
    message: /^2400 elements of set sources6 take 67204 bytes, more than one netlink attribute holds \(this is a bug in weft/,
  });
});

/** An NLMSG_ERROR for `seq` carrying -errno (0: an acknowledgement). */
function ack(seq: number, errno = 0): Message {
  const payload = new Uint8Array(20);
  new DataView(payload.buffer).setInt32(0, -errno, true);
  return { type: NLMSG_ERROR, flags: 0, seq, payload };
}

/** Hands out the datagrams in turn; reading past them is a bug in the reader. */
function datagrams(...each: Message[][]): () => Message[] {
  return () => {
    const next = each.shift();
    if (!next) throw new Error('read past the last reply');
    return next;
  };
}

test('the batch succeeded once every change is acknowledged, across datagrams', (t) => {
  const batch = encodeElementBatch([ports('add'), ports('delete')]);
  t.is(readBatchAnswer(batch, datagrams([ack(2)], [ack(3)])), undefined);
});

test('the first refusal ends the reading and names its change; an error for the batch itself names none', (t) => {
  const batch = encodeElementBatch([ports('add'), ports('delete')]);
  t.like(readBatchAnswer(batch, datagrams([ack(2), ack(3, 2)])), { errno: 2, change: ports('delete') });
  // The kernel aborts the rest and need not answer for it: nothing more is read.
  t.like(readBatchAnswer(batch, datagrams([ack(2, 2)])), { errno: 2, change: ports('add') });
  t.like(readBatchAnswer(batch, datagrams([ack(1, 22)])), { errno: 22, change: undefined });
});

test('a later batch on the same socket numbers on from where the last ended, and skips replies left from it', (t) => {
  const batch = encodeElementBatch([ports('add')], 10);
  t.like(batch, { first: 10, last: 12, seqs: [11] });
  t.deepEqual(batch.bytes.subarray(8, 12), hex('0a000000'), 'BATCH_BEGIN carries the first');
  // An earlier batch's refusal (seq 3) and acknowledgement (seq 4), unread when it failed.
  t.is(readBatchAnswer(batch, datagrams([ack(3, 2), ack(4)], [ack(11)])), undefined);
});

test('a refused change is described as nft would write it', (t) => {
  t.is(describeChange(ports('delete')), 'delete element bridge weft-antispoof ports { weftabc0 }');
  const keyed: ElementChange = {
    ...ports('add'),
    set: 'sources6',
    keys: [
      [
        { type: 'ifname', value: 'v' },
        { type: 'ipv6_addr', value: 'FD00:0::1' },
      ],
    ],
  };
  t.is(describeChange(keyed), 'add element bridge weft-antispoof sources6 { v . fd00::1 }');
});
