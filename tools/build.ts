// Builds each entry point into a single executable, on one of two runtimes:
//
// - Node: one esbuild bundle injected by postject into the pinned Node binary
//   (npm `node` package) with Node's SEA mechanism. `pkg` cannot do this
//   offline because it downloads its own patched Node bases; SEA needs
//   nothing but the Node we already pin.
// - Bun: `bun build --compile --bytecode --minify` with the pinned Bun (npm
//   `@oven/bun-linux-x64`), which uses its own binary as the base, offline.
//
// The plugin ships on Bun: it starts once per pod ADD and DEL, and Bun starts
// it in a third of Node's time (docs/benchmarks.md). weftd is long-running
// and stays on Node, where its convergence and memory were measured. Every
// executable is written in a work directory of this build's own
// (dist/.build-*) and renamed into place, so a test running dist/<name>
// meanwhile, or another build, sees the old or the new file, never half of one.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const dist = 'dist';
const require = createRequire(import.meta.url);

type Runtime = 'node' | 'bun';

// execArgv (Node): V8 settings baked into the executable (and used to build
// its code cache, which V8 rejects when the flags differ at run time).
// esmDependencies (Node): it bundles ESM packages (yargs) that read
// import.meta.url, which a CommonJS bundle has to provide; the plugin does
// not pay for that.
// define (Bun): expressions replaced at build time, for bench variants only.
type Target = { name: string; entry: string; runtime: Runtime; execArgv?: string[]; esmDependencies?: boolean; define?: Record<string, string> };

/** The runtime dist/weft, the plugin that ships, is built on. */
const PLUGIN_RUNTIME: Runtime = 'bun';

const targets: Record<string, Target> = {
  weft: { name: 'weft', entry: 'cmd/weft.ts', runtime: PLUGIN_RUNTIME },
  // A long-running daemon whose JavaScript is a small share of its work
  // (docs/benchmarks.md measures each setting):
  // - V8's default young generation: capping it at 1 MB (as weftd once was,
  //   when the Node list went through client-node's models) made
  //   scavenges frequent enough to add about 2 ms to the convergence p99,
  //   and no longer saves RSS (docs/benchmarks.md);
  // - without V8's optimising compilers (its baseline compiler stays), their
  //   code in the executable is never paged in: 8 MB of RSS, for about
  //   0.1 ms more of JavaScript per Node event;
  // - no memory reducer: 8 s after a burst of allocation (the first list)
  //   it ran a full collection whose pause, 6 to 7 ms, landed on whichever
  //   Node event came then, and was most of the convergence p99. weftd
  //   knows when it made that garbage: gc is exposed for one
  //   memory-reducing collection after each pass that follows a full list
  //   of Nodes (src/daemon/run-loop.ts).
  weftd: {
    name: 'weftd',
    entry: 'cmd/weftd.ts',
    runtime: 'node',
    execArgv: ['--optimize-for-size', '--no-opt', '--no-maglev', '--no-memory-reducer', '--expose-gc'],
    esmDependencies: true,
  },
  // make bench-cni: the plugin on each runtime, and each runtime's start-up
  // floor (an executable that only prints `{}`).
  'weft-node': { name: 'weft-node', entry: 'cmd/weft.ts', runtime: 'node' },
  'weft-bun': { name: 'weft-bun', entry: 'cmd/weft.ts', runtime: 'bun' },
  // The same Bun build with its rtnetlink path off, so it spawns `ip` as the
  // Node build does: what rtnetlink saves, measured in the same run.
  'weft-bun-ip': { name: 'weft-bun-ip', entry: 'cmd/weft.ts', runtime: 'bun', define: { 'process.versions.bun': 'undefined' } },
  'floor-node': { name: 'cni-floor-node', entry: 'bench/floor.ts', runtime: 'node' },
  'floor-bun': { name: 'cni-floor-bun', entry: 'bench/floor.ts', runtime: 'bun' },
  // The Bun floor with bun:ffi and libc loaded, as a plugin that speaks
  // rtnetlink has them.
  'floor-bun-kernel': { name: 'cni-floor-bun-kernel', entry: 'bench/floor-kernel.ts', runtime: 'bun' },
};

/** Writes the executable to `staged`. */
async function buildNode(target: Target, work: string, staged: string): Promise<void> {
  const bundle = join(work, `${target.name}.cjs`);
  await build({
    entryPoints: [target.entry],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    // SEA runs CommonJS only.
    ...(target.esmDependencies
      ? {
          define: { 'import.meta.url': '__weftImportMetaUrl' },
          banner: { js: 'var __weftImportMetaUrl=require("node:url").pathToFileURL(__filename).href;' },
        }
      : {}),
    outfile: bundle,
    logLevel: 'warning',
  });
  const blob = join(work, `${target.name}.blob`);
  const seaConfig = join(work, `${target.name}.sea.json`);
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      ...(target.execArgv ? { execArgv: target.execArgv } : {}),
    }),
  );
  execFileSync(process.execPath, [...(target.execArgv ?? []), '--experimental-sea-config', seaConfig], { stdio: 'pipe' });
  copyFileSync(process.execPath, staged);
  const postject = require.resolve('postject/dist/cli.js');
  // postject's ELF library warns about section names it does not need; its
  // output only matters when it fails, and then execFileSync's error has it.
  execFileSync(process.execPath, [postject, staged, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: 'pipe' });
}

/** The pinned Bun (package.json devDependencies), whatever bun is on PATH. */
function bunPath(): string {
  return join(dirname(require.resolve('@oven/bun-linux-x64/package.json')), 'bin', 'bun');
}

// A compiled Bun executable would otherwise read .env and bunfig.toml from
// its working directory at every start: a plugin run by containerd must not
// take settings from wherever it was started.
async function buildBun(target: Target, _work: string, staged: string): Promise<void> {
  const defines = Object.entries(target.define ?? {}).flatMap(([name, value]) => ['--define', `${name}=${value}`]);
  execFileSync(
    bunPath(),
    [
      'build',
      '--compile',
      '--bytecode',
      '--minify',
      '--no-compile-autoload-dotenv',
      '--no-compile-autoload-bunfig',
      ...defines,
      target.entry,
      '--outfile',
      staged,
    ],
    { stdio: 'pipe' },
  );
}

async function buildExecutable(target: Target, work: string): Promise<void> {
  const staged = join(work, `${target.name}.exe`);
  const out = join(dist, target.name);
  await (target.runtime === 'bun' ? buildBun : buildNode)(target, work, staged);
  chmodSync(staged, 0o755);
  renameSync(staged, out);
  console.log(`built ${out} (${target.runtime})`);
}

const wanted = process.argv.slice(2);
if (wanted.length === 0) {
  console.error(`usage: build.ts <${Object.keys(targets).join('|')}>...`);
  process.exit(2);
}
const unknown = wanted.filter((name) => !targets[name]);
if (unknown.length > 0) {
  console.error(`unknown build target ${unknown.join(', ')}: choose from ${Object.keys(targets).join(', ')}`);
  process.exit(2);
}
mkdirSync(dist, { recursive: true });
const work = mkdtempSync(join(dist, '.build-'));
try {
  for (const name of wanted) await buildExecutable(targets[name]!, work);
} finally {
  rmSync(work, { recursive: true, force: true });
}
