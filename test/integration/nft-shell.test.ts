// The long-lived `nft -i` weftd changes its VXLAN ingress set through,
// against the real kernel in a namespace of the test's own: a line applies
// whole or not at all and its error is the line's own however many lines
// came before, and a killed process is replaced by the next line.
import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { createNftShell } from '../../src/linux/nft-shell.ts';
import { addNetns, removeNetns } from '../../testbed/netns.ts';
import { must } from '../../testbed/shell.ts';

async function tableNetns(t: ExecutionContext): Promise<string> {
  const name = `weft-nfts-${randomBytes(4).toString('hex')}`;
  t.teardown(() => removeNetns(name));
  await addNetns(name);
  await must('ip', ['netns', 'exec', name, 'nft', 'add table inet t ; add set inet t peers { type ipv4_addr ; }']);
  return name;
}

async function elements(netns: string): Promise<string[]> {
  const out = JSON.parse(await must('ip', ['netns', 'exec', netns, 'nft', '-j', 'list', 'set', 'inet', 't', 'peers'])) as {
    nftables: { set?: { elem?: string[] } }[];
  };
  return (out.nftables.find((o) => o.set)?.set?.elem ?? []).sort();
}

const add = (...ips: string[]) => ['add', 'element', 'inet', 't', 'peers', '{', ...ips.flatMap((ip, i) => (i ? [',', ip] : [ip])), '}'];
const del = (...ips: string[]) => ['delete', 'element', 'inet', 't', 'peers', '{', ...ips.flatMap((ip, i) => (i ? [',', ip] : [ip])), '}'];

test('lines apply in order, each whole, and a failed one names its own error and changes nothing', async (t) => {
  const netns = await tableNetns(t);
  const shell = createNftShell({ netns });
  t.teardown(() => shell.close());
  await shell.run([add('10.0.0.1', '10.0.0.2')]);
  await shell.run([del('10.0.0.1'), add('10.0.0.3')]);
  t.deepEqual(await elements(netns), ['10.0.0.2', '10.0.0.3']);
  // The second command fails (no such set), so the first, in the same line, does not apply.
  const err = await t.throwsAsync(shell.run([add('10.0.0.9'), ['add', 'element', 'inet', 't', 'nosuch', '{', '10.0.0.8', '}']]));
  t.regex(err!.message, /^nft: Error: No such file or directory; add element inet t peers \{ 10\.0\.0\.9 \} ; add element inet t nosuch/);
  t.deepEqual(await elements(netns), ['10.0.0.2', '10.0.0.3']);
  // The next line's answer is its own: success, with no error left over from before.
  await shell.run([add('10.0.0.4')]);
  t.deepEqual(await elements(netns), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
});

test('lines given at once run one after another, and a killed process is replaced by the next line', async (t) => {
  const netns = await tableNetns(t);
  const shell = createNftShell({ netns });
  t.teardown(() => shell.close());
  await Promise.all(Array.from({ length: 20 }, (_, i) => shell.run([add(`10.0.1.${i + 1}`)])));
  t.is((await elements(netns)).length, 20);
  const pids = (await must('ip', ['netns', 'pids', netns])).trim().split('\n').filter(Boolean);
  t.is(pids.length, 1, 'one nft -i runs for the shell');
  await must('kill', ['-KILL', ...pids]);
  // The line written to the dead process fails or the new one takes it; either way the one after works.
  await shell.run([add('10.0.2.1')]).catch(() => {});
  await shell.run([add('10.0.2.2')]);
  t.true((await elements(netns)).includes('10.0.2.2'));
});
