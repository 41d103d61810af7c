// CLI entry of the CNI conformance suite: checks any CNI plugin configuration
// against CNI spec 1.1.0, and its plugins against hostile input, by driving
// it through cnitool (libcni) and by executing its plugins directly.
//
//   node conformance/run.ts --conf <.conflist|.conf> --cni-path <dir[:dir]> [--json report.json] [--parallel N] [--only group,…] [--dual-stack]
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { checkDelEdgeCases, checkLifecycle, checkRawResults } from './checks/add-check-del.ts';
import { checkAntiSpoofing } from './checks/anti-spoofing.ts';
import { checkDualStack } from './checks/dual-stack.ts';
import { checkErrors } from './checks/errors.ts';
import { checkGc } from './checks/gc.ts';
import { checkHostileInput } from './checks/hostile-input.ts';
import { checkParallel } from './checks/parallel.ts';
import { checkStatus, checkVersion } from './checks/version-status.ts';
import { beginShutdown, isShuttingDown, mark, unwindAll, unwindTo } from './lib/cleanup.ts';
import { SetupError } from './lib/conf.ts';
import { settleInFlight } from './lib/plugin.ts';
import { Report, writeJsonReport } from './lib/report.ts';
import { prepareSuite, type Suite } from './lib/suite.ts';

// Run one at a time: GC must not overlap any ADD or DEL (SPEC.md "Lifecycle
// & Ordering"), and the checks that fill the address pool need it to themselves.
const CHECKS: [string, (suite: Suite) => Promise<void>][] = [
  ['version', checkVersion],
  ['lifecycle', checkLifecycle],
  ['raw-results', checkRawResults],
  ['del-edge-cases', checkDelEdgeCases],
  ['errors', checkErrors],
  ['hostile-input', checkHostileInput],
  ['anti-spoofing', checkAntiSpoofing],
  ['gc', checkGc],
  ['status', checkStatus],
  ['parallel', checkParallel],
  ['dual-stack', checkDualStack],
];

const EXIT_FAILED = 1;
const EXIT_SETUP = 2;

const argv = yargs(hideBin(process.argv))
  .scriptName('conformance/run.ts')
  .usage('$0 --conf <file> --cni-path <dir[:dir]> [--json <report.json>] [--parallel N] [--only <group,…>] [--dual-stack]')
  .option('conf', { type: 'string', demandOption: true, describe: 'network configuration under test: a .conflist, or a single-plugin .conf' })
  .option('cni-path', { type: 'string', demandOption: true, describe: 'directories holding the plugin binaries, ":"-separated (CNI_PATH)' })
  .option('json', { type: 'string', describe: 'also write the outcomes to this JSON file' })
  .option('parallel', {
    type: 'number',
    default: 20,
    describe: "how many pods the concurrency and GC checks ADD at once; at most the conf's address pool",
  })
  .option('only', {
    type: 'string',
    describe: 'run only these check groups, ","-separated (the names the report\'s "crashed" lines use, e.g. anti-spoofing,gc)',
  })
  .option('dual-stack', {
    type: 'boolean',
    default: false,
    describe:
      'the conf gives every pod an IPv4 and an IPv6 address: fail the dual-stack checks when it does not, also where the ipam section names no ranges to tell',
  })
  .option('cnitool', {
    type: 'string',
    default: join(import.meta.dirname, '..', '.cache', 'bin', 'cnitool'),
    describe: 'the libcni front end used as the runtime (built by tools/go-tools.sh)',
  })
  .strict()
  .fail((message) => {
    process.stderr.write(`conformance: ${message}; see --help\n`);
    process.exit(EXIT_SETUP);
  })
  .help()
  .version(false)
  .parseSync();

installInterruptCleanup();
process.exitCode = await main();

async function main(): Promise<number> {
  // Once interrupted, checks fail for that reason alone; their lines would only mislead.
  const report = new Report((line) => isShuttingDown() || process.stdout.write(`${line}\n`));
  let suite: Suite;
  try {
    selectedChecks(argv.only);
    suite = await prepareSuite({
      conf: String(argv.conf),
      cniPath: String(argv['cni-path']),
      cnitool: String(argv.cnitool),
      parallel: Number(argv.parallel),
      dualStack: Boolean(argv['dual-stack']),
      report,
    });
  } catch (err) {
    if (isShuttingDown()) return interrupted();
    await cleanUp();
    if (!(err instanceof SetupError)) throw err;
    process.stderr.write(`conformance: ${err.message}\n`);
    return EXIT_SETUP;
  }

  for (const [name, check] of selectedChecks(argv.only)) {
    const position = mark();
    try {
      await check(suite);
    } catch (err) {
      report.fail({ id: `${name}.crashed`, title: `the ${name} checks ran to completion` }, `the suite itself failed: ${(err as Error).message}`);
      process.stderr.write(`conformance: ${name}: ${(err as Error).stack}\n`);
    }
    if (isShuttingDown()) return interrupted();
    warnAbout(await unwindTo(position));
  }
  await cleanUp();

  process.stdout.write(`${report.summaryLine()}\n`);
  if (typeof argv.json === 'string') {
    writeJsonReport(argv.json, {
      conf: suite.net.file,
      cniPath: suite.cniPath,
      cniVersion: suite.net.cniVersion,
      supportedVersions: Object.fromEntries([...suite.versions].map(([type, answer]) => [type, answer.supported])),
      outcomes: report.outcomes,
      summary: report.summary(),
    });
  }
  return report.summary().failed > 0 ? EXIT_FAILED : 0;
}

/** The groups `--only` names, in the suite's order; all of them without it. */
function selectedChecks(only: string | undefined): typeof CHECKS {
  if (only === undefined) return CHECKS;
  const names = only.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !CHECKS.some(([name]) => name === n));
  if (unknown.length > 0 || names.length === 0) {
    throw new SetupError(
      `--only ${JSON.stringify(only)}: no check group is called ${unknown.join(', ') || '""'}; the groups are ${CHECKS.map(([n]) => n).join(', ')}`,
    );
  }
  return CHECKS.filter(([name]) => names.includes(name));
}

/** The interrupt handler cleans up and exits; main must not race it. */
function interrupted(): Promise<number> {
  return new Promise(() => {});
}

async function cleanUp(): Promise<void> {
  warnAbout(await unwindAll());
}

function warnAbout(leftovers: string[]): void {
  for (const leftover of leftovers) process.stderr.write(`conformance: cleanup: ${leftover}\n`);
}

/** On the first Ctrl-C or SIGTERM, let running plugins finish, undo everything, and exit; a second one kills at once. */
function installInterruptCleanup(): void {
  for (const [signal, number] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
  ] as const) {
    process.once(signal, () => {
      beginShutdown(`received ${signal}`);
      process.stderr.write(`conformance: ${signal}: removing what the suite created (send it again to exit at once)\n`);
      void settleInFlight()
        .then(cleanUp)
        .finally(() => process.exit(128 + number));
    });
  }
}
