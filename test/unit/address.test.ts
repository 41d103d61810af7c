// weft parses and prints addresses itself (ip-num cost the plugin ~18 ms of
// start-up per pod); ip-num stays as the oracle this code must agree with.
import test from 'ava';
import { collapseIPv6Number, IPv4, IPv6, Validator } from 'ip-num';
import { formatAddress, parseAddress } from '../../src/net/address.ts';

// A fixed-seed generator: the same addresses on every run.
function* randomValues(bits: number, count: number, seed = 42): Generator<bigint> {
  let s = BigInt(seed);
  for (let i = 0; i < count; i++) {
    let v = 0n;
    for (let b = 0; b < bits; b += 16) {
      s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      // Zero groups are what make IPv6 text interesting: make them common.
      const group = (s >> 33n) % 3n === 0n ? 0n : (s >> 40n) & 0xffffn;
      v = (v << 16n) | group;
    }
    yield v & ((1n << BigInt(bits)) - 1n);
  }
}

test('IPv4 text round-trips and agrees with ip-num', (t) => {
  for (const value of randomValues(32, 2000)) {
    const text = IPv4.fromNumber(value).toString();
    t.is(formatAddress({ family: 4, value }), text);
    t.deepEqual(parseAddress(text), { family: 4, value });
  }
});

test('IPv6 canonical text (RFC 5952) agrees with ip-num and round-trips', (t) => {
  for (const value of randomValues(128, 2000)) {
    const full = IPv6.fromBigInt(value).toString();
    const canonical = formatAddress({ family: 6, value });
    t.is(canonical, collapseIPv6Number(full), full);
    t.deepEqual(parseAddress(full), { family: 6, value });
    t.deepEqual(parseAddress(canonical), { family: 6, value });
  }
});

test('what ip-num rejects, weft rejects', (t) => {
  const bad = ['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', ':::', 'g::1', '12345::', '', 'fe80::1%eth0', '::1.2.3.4.5'];
  for (const text of bad) {
    t.is(parseAddress(text), undefined, text);
    t.false(Validator.isValidIPv4String(text)[0] || (!text.includes('%') && Validator.isValidIPv6String(text)[0] && !text.includes('.')), text);
  }
  t.deepEqual(parseAddress('::ffff:10.0.0.1'), { family: 6, value: 0xffff0a000001n });
});
