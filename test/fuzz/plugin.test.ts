// Property-based fuzzing of the built plugin (dist/weft): fast-check generates
// environments and configs from the CNI grammar (valid, boundary and hostile
// values, IPv6 mixed in), each with the outcome the spec gives it, and every
// case runs the real binary in a private netns pair (see sandbox.ts for the
// isolation, oracle.ts and success.ts for what is checked, cases.ts for what
// is generated).
//
// `make test` runs a bounded number of cases from a fixed seed: the same
// cases on every machine. `make fuzz` runs FUZZ_RUNS (default 2000) per
// property from a random seed it prints first. To run this file alone:
//   node_modules/.bin/node node_modules/.bin/ava test/fuzz/plugin.test.ts
//   FUZZ_SEED=123 FUZZ_RUNS=500 node_modules/.bin/node node_modules/.bin/ava test/fuzz/plugin.test.ts --match 'config*'
// FUZZ_PLUGIN=<path> fuzzes another build of the plugin instead of dist/weft.
//
// Turning a failure into a regression test:
// 1. fast-check reports the shrunk counterexample, the seed and the path, and
//    what went wrong. Replay just that case:
//      FUZZ_SEED=<seed> FUZZ_PATH=<path> node_modules/.bin/node node_modules/.bin/ava test/fuzz/plugin.test.ts --match '<property title>'
// 2. Paste the counterexample (a FuzzCase: why, expect, env, stdin) into
//    `regressions` below; trim what does not matter to the failure and say in
//    a comment what it shows. It prints as TypeScript: deep(n) and long(n, unit)
//    (import them from ./values.ts) stand for huge values, and the strings
//    @netns, @pod and @case for the case's own pod netns path, pod netns name
//    and directory. Each regression is a test of its own, whatever the seed.
// 3. If the plugin was right and the case wrong (the spec does not decide it),
//    change the generator so it no longer makes such cases, and say why there.
import test from 'ava';
import type fc from 'fast-check';
import { configFault, decodeFault, envFault, type FuzzCase, validAdd, validDel, versionFault } from './cases.ts';
import { checkCase } from './oracle.ts';
import { openSandboxes } from './sandbox.ts';
import { checkProperty } from './settings.ts';

const addEnv = (ifname: string) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'A', CNI_NETNS: '@netns', CNI_IFNAME: ifname, CNI_PATH: '/opt/cni/bin' });
const smallConf = (extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.1.0',
  name: 'A',
  type: 'weft',
  ipam: { dataDir: '@case/A', ranges: [[{ subnet: '1.0.0.0/8' }]] },
  ...extra,
});

/** Counterexamples found so far (shrunk, then trimmed by hand); each runs on every `make test`. */
const regressions: FuzzCase[] = [
  // Interface names that iproute2 reads as an abbreviated keyword: "t" in
  // `link set t up` is txqueuelen, so ADD fails with code 100 (and leaves
  // its store directory and last_reserved_ip.0 behind).
  { why: 'valid: CNI_IFNAME "t"', expect: 'ok', env: addEnv('t'), stdin: { conf: smallConf() } },
  // "a" in `link add a mtu …` is "address": the bridge is never made.
  { why: 'valid: bridge "a"', expect: 'ok', env: addEnv('eth0'), stdin: { conf: smallConf({ bridge: 'a', mtu: 1500 }) } },
  // "n" in `link add n …` is "name": the kernel makes a bridge "bridge0", the
  // batch fails at `addr add … dev n`, and bridge0 stays behind.
  { why: 'valid: bridge "n"', expect: 'ok', env: addEnv('eth0'), stdin: { conf: smallConf({ bridge: 'n', mtu: 1500 }) } },
];

const properties: [title: string, arb: fc.Arbitrary<FuzzCase>, runs: number][] = [
  ['valid ADDs: the kernel matches the result and a DEL removes it all', validAdd(), 150],
  ['valid DELs without an ADD succeed and change nothing', validDel(), 30],
  ['environment faults: code 4, nothing left behind', envFault(), 200],
  ['undecodable stdin: code 6, nothing left behind', decodeFault(), 60],
  ['unsupported cniVersion: code 1, nothing left behind', versionFault(), 50],
  ['config faults: code 7, nothing left behind', configFault(), 350],
];

for (const [title, arb, runs] of properties) {
  test(title, async (t) => {
    const sandboxes = openSandboxes(t);
    await checkProperty(t, arb, runs, (c) => checkCase(c, sandboxes));
  });
}

for (const [i, c] of regressions.entries()) {
  test(`regressions[${i}]: ${c.why}`, async (t) => {
    t.deepEqual(await checkCase(c, openSandboxes(t)), []);
  });
}
