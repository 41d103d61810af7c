// `make bench-cni`: weft built on Bun and on Node, against Debian's reference
// bridge + host-local plugins and each runtime's floor (a program that only
// prints `{}`; Bun, Node and Deno), all through cnitool (the real libcni) in one run:
// ADD/DEL latency and CPU, interleaved; bursts of concurrent ADDs then DELs,
// their wall time, CPU and the plugins' peak memory (summed PSS); the
// executables' size; the programs an ADD and a DEL run; the memory of as
// many copies of each as the reference had alive at its peak, held at their
// read of stdin (bench/cni-held.ts). Prints a table and
// JSON, writes bench/results/cni.json. Needs root: it makes network
// namespaces and bridges, and removes them all.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { netnsPath } from '../testbed/netns.ts';
import { CNITOOL, requireBuilt } from '../testbed/paths.ts';
import { runScript } from '../testbed/teardown.ts';
import { measureHeld } from './cni-held.ts';
import { measureBursts, measureProcesses, measureSequential } from './cni-phases.ts';
import { DENO, executableBytes, PLUGIN_NAMES, type PluginName, setUpPlugins } from './cni-plugins.ts';
import { type CniBenchResult, deriveTargets, peakOf, table } from './cni-report.ts';
import { createSession, dropNetns, newNetns, type Session } from './cni-session.ts';
import { failUsage, parseFlagsOrExit, wholeNumber } from './lib/flags.ts';
import { machineInfo } from './lib/machine.ts';
import { pageInByFaults } from './lib/page-cache.ts';
import { publish } from './lib/results.ts';

const USAGE = `usage: node bench/cni.ts [--iterations N] [--warmup N] [--concurrency N] [--rounds N] [--held N] [--skip ${PLUGIN_NAMES.join('|')}]...
  --iterations   sequential ADD+DEL rounds per plugin, warm-up included (default 60)
  --warmup       first rounds left out of the numbers (default 5)
  --concurrency  netns given a simultaneous ADD, then DEL, per plugin (default 50)
  --rounds       timed bursts per plugin, interleaved; the median is reported (default 5)
  --held         copies of each plugin held at their stdin read at once (default: as many as the reference had alive at its peak, 10 without it)
  --skip         leave a plugin out, e.g. --skip weft-node before dist/weft-node is built
  --weft-set     KEY=JSON added to every weft's network config, e.g. spoofCheck=false to measure without anti-spoofing`;

type Flags = {
  iterations: number;
  warmup: number;
  concurrency: number;
  rounds: number;
  held: number | undefined;
  skip: PluginName[];
  weftSettings: Record<string, unknown>;
};

function usageError(message: string): never {
  return failUsage(USAGE, message);
}
const count = (flag: string, value: string, min: number, why = ''): number => wholeNumber(USAGE, flag, value, min, why);

function parseFlags(): Flags {
  const values = parseFlagsOrExit(USAGE, () =>
    parseArgs({
      options: {
        iterations: { type: 'string', default: '60' },
        warmup: { type: 'string', default: '5' },
        concurrency: { type: 'string', default: '50' },
        rounds: { type: 'string', default: '5' },
        held: { type: 'string' },
        skip: { type: 'string', multiple: true, default: [] },
        'weft-set': { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean', default: false },
      },
    }),
  );
  const warmup = count('warmup', values.warmup, 0);
  const iterations = count('iterations', values.iterations, warmup + 1, ` (more than --warmup ${warmup})`);
  const concurrency = count('concurrency', values.concurrency, 1);
  const rounds = count('rounds', values.rounds, 1);
  const held = values.held === undefined ? undefined : count('held', values.held, 1);
  const skip = values.skip.map((name) => {
    if (!(PLUGIN_NAMES as readonly string[]).includes(name)) usageError(`--skip ${name}: not a plugin; choose from ${PLUGIN_NAMES.join(', ')}`);
    return name as PluginName;
  });
  if (PLUGIN_NAMES.every((name) => skip.includes(name))) usageError('every plugin is skipped: nothing to measure');
  return { iterations, warmup, concurrency, rounds, held, skip, weftSettings: Object.fromEntries(values['weft-set'].map(weftSetting)) };
}

function weftSetting(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  if (eq < 1) usageError(`--weft-set ${text}: write KEY=JSON, e.g. spoofCheck=false`);
  try {
    return [text.slice(0, eq), JSON.parse(text.slice(eq + 1))];
  } catch {
    return usageError(`--weft-set ${text}: the value after "=" is not JSON (quote strings: name='"x"')`);
  }
}

function requirePrerequisites(): void {
  if (process.getuid?.() !== 0) throw new Error('bench-cni needs root to make network namespaces and bridges: run it as root');
  requireBuilt(CNITOOL, 'run `tools/go-tools.sh` (or `make go-tools`)');
}

function bunVersion(): string {
  const pkg = createRequire(import.meta.url).resolve('@oven/bun-linux-x64/package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/** `deno 2.9.6 (stable, …)` → 2.9.6. */
function denoVersion(): string {
  return execFileSync(DENO, ['--version'], { encoding: 'utf8' }).split(' ')[1] ?? 'unknown';
}

async function run(flags: Flags, session: Session, tmp: string): Promise<CniBenchResult> {
  const machine = machineInfo();
  const plugins: CniBenchResult['plugins'] = {};
  for (const p of session.plugins) plugins[p.name] = { runtime: p.runtime, executableBytes: executableBytes(p) };
  // Every executable as on a node where it ran before: bench/lib/page-cache.ts says why that matters for PSS.
  for (const file of session.plugins.flatMap((p) => p.executables)) pageInByFaults(file, []);
  // Untimed, first: also shows every plugin works before minutes are spent.
  const processes = await measureProcesses(session, tmp);
  const sequential = await measureSequential(session, flags.iterations, flags.warmup);
  const concurrent = await measureBursts(session, flags.concurrency, flags.rounds);
  const heldCount = flags.held ?? (concurrent.reference ? peakOf(concurrent.reference).processes : 10);
  const netns = await newNetns(session, 'held');
  const held = { processes: heldCount, plugins: await measureHeld(session, heldCount, netnsPath(netns)) };
  await dropNetns(session, netns);
  return {
    machine,
    // The Node executables are built from the Node running this benchmark.
    runtimes: { node: process.version, bun: bunVersion(), ...(plugins['floor-deno'] ? { deno: denoVersion() } : {}) },
    config: {
      iterations: flags.iterations,
      warmup: flags.warmup,
      measured: flags.iterations - flags.warmup,
      concurrency: flags.concurrency,
      rounds: flags.rounds,
      skipped: flags.skip,
      weftSettings: flags.weftSettings,
    },
    plugins,
    sequential,
    concurrent,
    processes,
    held,
    targets: deriveTargets({ sequential, concurrent }),
  };
}

await runScript('bench-cni', async (teardown) => {
  const flags = parseFlags();
  const tmp = mkdtempSync(join(tmpdir(), `bcni-${process.pid}-`));
  teardown.add(`temp dir ${tmp} (rm -rf ${tmp})`, () => rmSync(tmp, { recursive: true, force: true }));
  requirePrerequisites();
  const wanted = PLUGIN_NAMES.filter((name) => !flags.skip.includes(name));
  const result = await run(flags, await createSession(setUpPlugins(wanted, tmp, flags.weftSettings), teardown), tmp);
  publish('cni', result, table(result));
});
