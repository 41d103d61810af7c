// Builds each entry point into one esbuild bundle and then into a single
// executable with Node's SEA mechanism: the pinned Node binary (npm `node`
// package) plus the bundle injected by postject. `pkg` cannot do this offline
// because it downloads its own patched Node bases; SEA needs nothing but the
// Node we already pin.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const dist = 'dist';
const work = join(dist, '.sea');

// execArgv: V8 settings baked into the executable (and used to build its
// code cache, which V8 rejects when the flags differ at run time).
// esmDependencies: it bundles ESM packages (yargs) that read import.meta.url,
// which a CommonJS bundle has to provide; the plugin does not pay for that.
type Target = { name: string; entry: string; execArgv?: string[]; esmDependencies?: boolean };

const targets: Record<string, Target> = {
  weft: { name: 'weft', entry: 'cmd/weft.ts' },
  // A long-running daemon: a small young generation keeps its RSS near what
  // it uses (at 5000 Nodes V8 otherwise grows it to 128 MB committed).
  weftd: { name: 'weftd', entry: 'cmd/weftd.ts', execArgv: ['--max-semi-space-size=1', '--optimize-for-size'], esmDependencies: true },
  floor: { name: 'cni-floor', entry: 'bench/floor.ts' },
};

async function buildExecutable(target: Target): Promise<void> {
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
  // Inject into a copy under dist/.sea and rename it into place: a runtime or
  // test executing dist/<name> meanwhile sees the old or the new file, never a
  // plain node binary waiting for its bundle.
  const staged = join(work, `${target.name}.exe`);
  const out = join(dist, target.name);
  rmSync(staged, { force: true });
  copyFileSync(process.execPath, staged);
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  // postject's ELF library warns about section names it does not need; its
  // output only matters when it fails, and then execFileSync's error has it.
  execFileSync(process.execPath, [postject, staged, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: 'pipe' });
  chmodSync(staged, 0o755);
  renameSync(staged, out);
  console.log(`built ${out}`);
}

const wanted = process.argv.slice(2);
if (wanted.length === 0) {
  console.error(`usage: build.ts <${Object.keys(targets).join('|')}>...`);
  process.exit(2);
}
mkdirSync(work, { recursive: true });
for (const name of wanted) {
  const target = targets[name];
  if (!target) {
    console.error(`unknown build target ${name}: choose one of ${Object.keys(targets).join(', ')}`);
    process.exit(2);
  }
  await buildExecutable(target);
}
