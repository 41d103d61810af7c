// installCni on temp dirs: what it writes, that re-running changes nothing,
// that an update replaces files by rename, and that bad input is refused
// before anything is written.

import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { installCni } from '../../cmd/weftd/install-cni.ts';
import { tempDir } from '../../testbed/fixtures.ts';

const conflist = JSON.stringify({ cniVersion: '1.0.0', name: 'weft', plugins: [{ type: 'weft' }] });

function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const binary = join(dir, 'dist-weft');
  writeFileSync(binary, '#!/bin/sh\necho weft v1\n', { mode: 0o644 });
  // Nested and missing: installCni creates them, as on a fresh node.
  const binDir = join(dir, 'opt/cni/bin');
  const confDir = join(dir, 'etc/cni/net.d');
  return { dir, binary, binDir, confDir };
}

test('copies the plugin as an executable `weft` and writes the conflist', (t) => {
  const s = setup(t);
  const out = installCni({ ...s, conflist });
  t.deepEqual(out, { binary: join(s.binDir, 'weft'), conflist: join(s.confDir, '10-weft.conflist') });
  t.deepEqual(readFileSync(out.binary), readFileSync(s.binary));
  t.is(statSync(out.binary).mode & 0o777, 0o755);
  t.is(readFileSync(out.conflist, 'utf8'), conflist);
  // No temp files left for a runtime to trip over.
  t.deepEqual(readdirSync(s.binDir), ['weft']);
  t.deepEqual(readdirSync(s.confDir), ['10-weft.conflist']);
});

test('re-running with the same content leaves both files alone', (t) => {
  const s = setup(t);
  const first = installCni({ ...s, conflist });
  const inodes = [statSync(first.binary).ino, statSync(first.conflist).ino];
  installCni({ ...s, conflist });
  t.deepEqual([statSync(first.binary).ino, statSync(first.conflist).ino], inodes);
});

test('re-running restores a lost executable bit without copying', (t) => {
  const s = setup(t);
  const { binary } = installCni({ ...s, conflist });
  const inode = statSync(binary).ino;
  chmodSync(binary, 0o644);
  installCni({ ...s, conflist });
  t.is(statSync(binary).mode & 0o777, 0o755);
  t.is(statSync(binary).ino, inode);
});

test('changed content replaces the files by rename, so a reader never sees a partial one', (t) => {
  const s = setup(t);
  const first = installCni({ ...s, conflist });
  const inodes = [statSync(first.binary).ino, statSync(first.conflist).ino];
  writeFileSync(s.binary, '#!/bin/sh\necho weft v2\n');
  const updated = JSON.stringify({ cniVersion: '1.0.0', name: 'weft', plugins: [{ type: 'weft', mtu: 1400 }] });
  installCni({ ...s, conflist: updated });
  // A new inode means the old file was swapped out whole, not rewritten in place.
  t.notDeepEqual([statSync(first.binary).ino, statSync(first.conflist).ino], inodes);
  t.is(readFileSync(first.binary, 'utf8'), '#!/bin/sh\necho weft v2\n');
  t.is(readFileSync(first.conflist, 'utf8'), updated);
  t.deepEqual(readdirSync(s.binDir), ['weft']);
  t.deepEqual(readdirSync(s.confDir), ['10-weft.conflist']);
});

test('takes another conf name and keeps the other files in the dirs', (t) => {
  const s = setup(t);
  mkdirSync(s.confDir, { recursive: true });
  writeFileSync(join(s.confDir, '99-other.conflist'), '{}');
  const { conflist: path } = installCni({ ...s, conflist, confName: '05-weft.conflist' });
  t.is(path, join(s.confDir, '05-weft.conflist'));
  t.deepEqual(readdirSync(s.confDir).sort(), ['05-weft.conflist', '99-other.conflist']);
});

const refusals: [string, Partial<Parameters<typeof installCni>[0]>, RegExp][] = [
  ['a conflist that is not JSON', { conflist: '{"name": "weft",' }, /conflist is not valid JSON .*: pass the network configuration list as JSON text/],
  ['a conflist that is a JSON array', { conflist: '[]' }, /conflist is not a JSON object/],
  ['a conflist without a name', { conflist: JSON.stringify({ plugins: [{ type: 'weft' }] }) }, /has no "name": add the network's name/],
  ['a conflist without plugins', { conflist: JSON.stringify({ name: 'weft' }) }, /"weft" has no "plugins" list: add one/],
  ['a conflist with an empty plugins list', { conflist: JSON.stringify({ name: 'weft', plugins: [] }) }, /has no "plugins" list/],
  ['a conf name that is not a .conflist', { confName: '10-weft.conf' }, /"10-weft.conf" is not a file name ending in .conflist: .* use e.g. 10-weft.conflist/],
  ['a conf name with a directory', { confName: '../10-weft.conflist' }, /not a file name ending in .conflist/],
];

for (const [what, change, message] of refusals) {
  test(`refuses ${what} and writes nothing`, (t) => {
    const s = setup(t);
    t.throws(() => installCni({ ...s, conflist, ...change }), { message });
    t.false(existsSync(s.binDir));
    t.false(existsSync(s.confDir));
  });
}

test('refuses a missing plugin binary, naming it', (t) => {
  const s = setup(t);
  const binary = join(s.dir, 'no-such-weft');
  t.throws(() => installCni({ ...s, binary, conflist }), {
    message: `weft plugin binary ${binary} cannot be read (ENOENT): pass the path of the weft executable`,
  });
  t.false(existsSync(s.confDir));
});

test('refuses a directory as the plugin binary', (t) => {
  const s = setup(t);
  t.throws(() => installCni({ ...s, binary: s.dir, conflist }), { message: /is not a regular file/ });
});
