// installCni on temp dirs: what it writes, that re-running changes nothing,
// that an update replaces files by rename, that whatever sits at a target
// name is replaced and never followed, that stale temp files go, that bad
// input is refused before anything is written, and confDirWarnings.

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { installCni } from '../../cmd/weftd/install-cni.ts';
import { configsBefore, shadowedMessage } from '../../src/daemon/cni-conf-order.ts';
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
  [
    'a conflist whose first plugin is bridge',
    { conflist: JSON.stringify({ name: 'weft', plugins: [{ type: 'bridge' }, { type: 'weft' }] }) },
    /"weft" runs plugin type "bridge" first, not weft: .* put \{"type": "weft"\} first in "plugins"/,
  ],
  [
    'a conflist whose first plugin has no type',
    { conflist: JSON.stringify({ name: 'weft', plugins: ['weft'] }) },
    /runs a plugin without a "type" first, not weft/,
  ],
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

// Symlinks, FIFOs and directories at the target names.

/** A file outside both dirs that a planted symlink points at. */
function outsideFile(s: ReturnType<typeof setup>): { path: string; text: string } {
  const path = join(s.dir, 'outside-secret');
  const text = "not weft's to touch\n";
  writeFileSync(path, text, { mode: 0o600 });
  return { path, text };
}

test('replaces a symlink at the plugin path by a regular file and leaves its target alone', (t) => {
  const s = setup(t);
  const outside = outsideFile(s);
  mkdirSync(s.binDir, { recursive: true });
  symlinkSync(outside.path, join(s.binDir, 'weft'));
  const { binary } = installCni({ ...s, conflist });
  t.true(lstatSync(binary).isFile());
  t.deepEqual(readFileSync(binary), readFileSync(s.binary));
  t.is(statSync(binary).mode & 0o777, 0o755);
  t.is(readFileSync(outside.path, 'utf8'), outside.text);
  t.is(statSync(outside.path).mode & 0o777, 0o600);
});

test('replaces a symlink to a copy of the plugin, instead of reading through it and keeping the link', (t) => {
  const s = setup(t);
  const outside = join(s.dir, 'outside-weft');
  writeFileSync(outside, readFileSync(s.binary), { mode: 0o644 });
  mkdirSync(s.binDir, { recursive: true });
  symlinkSync(outside, join(s.binDir, 'weft'));
  const { binary } = installCni({ ...s, conflist });
  t.true(lstatSync(binary).isFile());
  // Not chmod-ed through the link either.
  t.is(statSync(outside).mode & 0o777, 0o644);
});

test('replaces a symlink at the conflist path, also one to identical bytes, and leaves its target alone', (t) => {
  for (const text of ['{"planted": true}\n', conflist]) {
    const s = setup(t);
    const outside = join(s.dir, 'outside.conflist');
    writeFileSync(outside, text, { mode: 0o600 });
    mkdirSync(s.confDir, { recursive: true });
    symlinkSync(outside, join(s.confDir, '10-weft.conflist'));
    const out = installCni({ ...s, conflist });
    t.true(lstatSync(out.conflist).isFile());
    t.is(readFileSync(out.conflist, 'utf8'), conflist);
    t.is(statSync(out.conflist).mode & 0o777, 0o644);
    t.is(readFileSync(outside, 'utf8'), text);
    t.is(statSync(outside).mode & 0o777, 0o600);
  }
});

test('replaces a dangling symlink at a target name', (t) => {
  const s = setup(t);
  mkdirSync(s.confDir, { recursive: true });
  const nowhere = join(s.dir, 'nowhere');
  symlinkSync(nowhere, join(s.confDir, '10-weft.conflist'));
  const out = installCni({ ...s, conflist });
  t.is(readFileSync(out.conflist, 'utf8'), conflist);
  t.false(existsSync(nowhere));
});

test('replaces a FIFO at the target names without opening it', (t) => {
  const s = setup(t);
  mkdirSync(s.binDir, { recursive: true });
  mkdirSync(s.confDir, { recursive: true });
  // Opening a FIFO for reading would block until a writer comes: the test would hang.
  execFileSync('mkfifo', [join(s.binDir, 'weft'), join(s.confDir, '10-weft.conflist')]);
  const out = installCni({ ...s, conflist });
  t.true(lstatSync(out.binary).isFile());
  t.true(lstatSync(out.conflist).isFile());
  t.is(readFileSync(out.conflist, 'utf8'), conflist);
});

test('refuses a directory at the conflist path, naming it, before writing the plugin', (t) => {
  const s = setup(t);
  const path = join(s.confDir, '10-weft.conflist');
  mkdirSync(path, { recursive: true });
  t.throws(() => installCni({ ...s, conflist }), {
    message: `${path} is a directory, where weft installs its conflist: remove it (weft never makes one there) and re-run install-cni`,
  });
  t.false(existsSync(s.binDir));
  t.deepEqual(readdirSync(path), []);
});

test('refuses a directory at the plugin path', (t) => {
  const s = setup(t);
  mkdirSync(join(s.binDir, 'weft'), { recursive: true });
  t.throws(() => installCni({ ...s, conflist }), { message: /opt\/cni\/bin\/weft is a directory, where weft installs its plugin: remove it/ });
  t.false(existsSync(s.confDir));
});

// Temp files of an interrupted run.

test('removes its own stale temp files and keeps unrelated dot-files', (t) => {
  const s = setup(t);
  mkdirSync(s.binDir, { recursive: true });
  mkdirSync(s.confDir, { recursive: true });
  const stale = ['.weft.0a1b2c3d.tmp', '.weft.ffffffff.tmp'];
  const staleConf = ['.10-weft.conflist.deadbeef.tmp'];
  const keptBin = [
    '.weft.0A1B2C3D.tmp', // upper-case hex: not what atomic-file writes
    '.weft.0a1b2c3.tmp', // 7 hex digits
    '.weft.0a1b2c3d.tmp.bak',
    '.weftx.0a1b2c3d.tmp',
    'weft.0a1b2c3d.tmp', // no leading dot
    '.other.0a1b2c3d.tmp', // another file's temp
    '.hidden',
  ];
  const keptConf = ['.10-weftXconflist.deadbeef.tmp', '.05-weft.conflist.deadbeef.tmp', '.keep'];
  for (const name of [...stale, ...keptBin]) writeFileSync(join(s.binDir, name), 'x');
  for (const name of [...staleConf, ...keptConf]) writeFileSync(join(s.confDir, name), 'x');
  // A matching name that is not a regular file is not weft's temp file.
  mkdirSync(join(s.binDir, '.weft.12345678.tmp'));
  symlinkSync(join(s.dir, 'nowhere'), join(s.confDir, '.10-weft.conflist.12345678.tmp'));
  installCni({ ...s, conflist });
  t.deepEqual(readdirSync(s.binDir).sort(), [...keptBin, '.weft.12345678.tmp', 'weft'].sort());
  t.deepEqual(readdirSync(s.confDir).sort(), [...keptConf, '.10-weft.conflist.12345678.tmp', '10-weft.conflist'].sort());
});

test('removes stale temp files also when the installed files are already up to date', (t) => {
  const s = setup(t);
  const out = installCni({ ...s, conflist });
  writeFileSync(join(s.binDir, '.weft.00000000.tmp'), 'half a plugin');
  writeFileSync(join(s.confDir, '.10-weft.conflist.00000000.tmp'), '{"na');
  const inode = statSync(out.binary).ino;
  installCni({ ...s, conflist });
  t.deepEqual(readdirSync(s.binDir), ['weft']);
  t.deepEqual(readdirSync(s.confDir), ['10-weft.conflist']);
  t.is(statSync(out.binary).ino, inode);
});

// configsBefore and shadowedMessage: another network's config that the runtime would pick first.

test("warns about a CNI config that sorts before weft's, naming it and the fix", (t) => {
  const s = setup(t);
  mkdirSync(s.confDir, { recursive: true });
  writeFileSync(join(s.confDir, '05-bridge.conflist'), '{}');
  installCni({ ...s, conflist });
  t.deepEqual(configsBefore(s.confDir), ['05-bridge.conflist']);
  t.is(
    shadowedMessage(s.confDir, '10-weft.conflist', configsBefore(s.confDir)),
    `CNI config 05-bridge.conflist in ${s.confDir} sorts before weft's 10-weft.conflist: the container runtime uses the first config in name order, so pods get that network, not weft; remove it from the node, or give install-cni a --conf-name that sorts before 05-bridge.conflist`,
  );
});

test('names every earlier config, first the one the runtime uses, in byte order', (t) => {
  const s = setup(t);
  mkdirSync(s.confDir, { recursive: true });
  for (const name of ['087-net.conf', '01-a.json', 'A-upper.conflist', '.hidden.conf']) writeFileSync(join(s.confDir, name), '{}');
  installCni({ ...s, conflist, confName: '50-weft.conflist' });
  const earlier = configsBefore(s.confDir, '50-weft.conflist');
  t.deepEqual(earlier, ['.hidden.conf', '01-a.json', '087-net.conf']);
  const warning = shadowedMessage(s.confDir, '50-weft.conflist', earlier);
  // "A-upper" sorts after "50-": digits come before letters.
  t.regex(
    warning ?? '',
    /^CNI config \.hidden\.conf \(and 01-a\.json, 087-net\.conf\) in .* remove them from the node, or give install-cni a --conf-name that sorts before \.hidden\.conf$/,
  );
});

test("no warning for later configs, non-config files, directories and weft's own temp files", (t) => {
  const s = setup(t);
  mkdirSync(join(s.confDir, '00-dir.conflist'), { recursive: true });
  for (const name of ['99-other.conflist', '00-notes.txt', '00-backup.conflist.bak', '.05-weft.conflist.0a1b2c3d.tmp']) {
    writeFileSync(join(s.confDir, name), '{}');
  }
  installCni({ ...s, conflist, confName: '05-weft.conflist' });
  t.deepEqual(configsBefore(s.confDir, '05-weft.conflist'), []);
  t.is(shadowedMessage(s.confDir, '05-weft.conflist', []), undefined);
});
