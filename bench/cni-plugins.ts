// The plugins the CNI benchmark compares, each in its own directory under the
// run's temp dir: its own network config dir (NETCONFPATH), plugin dir
// (CNI_PATH) and IPAM data, so no run shares state with another plugin,
// another run, or the machine's real /etc/cni and /var/lib/cni/networks.
//
// weft is measured on both runtimes it can be built on (tools/build.ts),
// whichever dist/weft ships, and on Bun once more with its rtnetlink path
// off (weft-bun-ip: it spawns `ip` as on Node), the cost of those processes
// in the same run; each runtime's floor is the same one-line
// program (bench/floor.ts) built the same way, the cost of starting that
// runtime's executable at all. Deno, the third runtime that runs TypeScript,
// is measured by its floor alone: where that floor is above Bun's, weft on
// Deno cannot cost less than weft on Bun.
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, DIST, REPO, requireBuilt } from '../testbed/paths.ts';

export const PLUGIN_NAMES = ['weft-bun', 'weft-bun-ip', 'weft-node', 'reference', 'floor-bun', 'floor-bun-kernel', 'floor-node', 'floor-deno'] as const;
export type PluginName = (typeof PLUGIN_NAMES)[number];

export type Plugin = {
  name: PluginName;
  /** What it runs on, and how it was built. */
  runtime: string;
  // The conflist's name, what cnitool is told to add or delete.
  network: string;
  netconfDir: string;
  cniPath: string[];
  // The bridge the plugin creates on the host; the benchmark deletes it at the end.
  bridge: string | null;
  // Whether a successful ADD must report an address (a floor reports none).
  assignsAddresses: boolean;
  // Whether its first executable reads stdin before anything else, as a
  // plugin reads its config: what bench/cni-held.ts holds it at.
  readsStdin: boolean;
  /** The executables a node has to install for it, for their size. */
  executables: string[];
};

// Debian's containernetworking-plugins: the plugins kubeadm-style clusters
// run, and so the bar weft is measured against.
const REFERENCE_DIR = '/usr/lib/cni';

function writeConflist(dir: string, network: string, cniVersion: string, plugin: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  const conflist = { cniVersion, name: network, plugins: [plugin] };
  writeFileSync(join(dir, `${network}.conflist`), JSON.stringify(conflist, null, 2));
}

// A CNI_PATH holding only the given executable under its plugin type name.
function pluginDir(dir: string, type: string, executable: string): string {
  mkdirSync(dir, { recursive: true });
  symlinkSync(executable, join(dir, type));
  return dir;
}

const RUNTIMES = {
  node: 'Node single executable (SEA)',
  bun: 'bun build --compile --bytecode',
  'bun-ip': 'bun build --compile --bytecode, rtnetlink off (spawns ip)',
  'bun-kernel': 'bun build --compile --bytecode, bun:ffi and libc loaded, stdin read',
  deno: 'deno run from a sh script (deno compile fetches its base from dl.deno.land)',
};

/** tools/deno.sh installs it. */
export const DENO = join(CACHE, 'deno', 'node_modules', '@deno', 'linux-x64-glibc', 'deno');

function weft(runtime: 'node' | 'bun' | 'bun-ip', bridge: string, subnet: string) {
  return (root: string, settings: Record<string, unknown>): Plugin => {
    const name = `weft-${runtime}` as const;
    const executable = requireBuilt(join(DIST, name), `run \`make dist/${name}\` (or pass --skip ${name})`);
    const network = `bench${name.replaceAll('-', '')}`;
    const netconfDir = join(root, 'net');
    writeConflist(netconfDir, network, '1.1.0', { type: 'weft', bridge, ipam: { ranges: [[{ subnet }]], dataDir: join(root, 'ipam') }, ...settings });
    return {
      name,
      runtime: RUNTIMES[runtime],
      network,
      netconfDir,
      cniPath: [pluginDir(join(root, 'bin'), 'weft', executable)],
      bridge,
      assignsAddresses: true,
      readsStdin: true,
      executables: [executable],
    };
  };
}

function reference(root: string): Plugin {
  const executables = ['bridge', 'host-local'].map((type) =>
    requireBuilt(join(REFERENCE_DIR, type), "install Debian's reference plugins with `apt-get install containernetworking-plugins`"),
  );
  const network = 'benchref';
  const netconfDir = join(root, 'net');
  // 1.0.0: the newest spec version Debian's bridge plugin speaks.
  writeConflist(netconfDir, network, '1.0.0', {
    type: 'bridge',
    bridge: 'bref0',
    isGateway: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.202.0.0/22' }]], dataDir: join(root, 'ipam-ref') },
  });
  return {
    name: 'reference',
    runtime: 'Go (bridge + host-local)',
    network,
    netconfDir,
    cniPath: [REFERENCE_DIR],
    bridge: 'bref0',
    assignsAddresses: true,
    readsStdin: true,
    executables,
  };
}

function floor(runtime: 'node' | 'bun' | 'bun-kernel' | 'deno') {
  return (root: string): Plugin => {
    const name = `floor-${runtime}` as const;
    const network = `bench${name.replaceAll('-', '')}`;
    const netconfDir = join(root, 'net');
    writeConflist(netconfDir, network, '1.1.0', { type: 'cni-floor' });
    const bin = join(root, 'bin');
    let executable: string;
    if (runtime === 'deno') {
      executable = requireBuilt(DENO, `run \`tools/deno.sh\` (or pass --skip ${name})`);
      denoLauncher(bin, join(root, 'deno-dir'));
    } else {
      const file = `cni-floor-${runtime}`;
      executable = requireBuilt(join(DIST, file), `run \`make dist/${file}\` (or pass --skip ${name})`);
      pluginDir(bin, 'cni-floor', executable);
    }
    return {
      name,
      runtime: RUNTIMES[runtime],
      network,
      netconfDir,
      cniPath: [bin],
      bridge: null,
      assignsAddresses: false,
      readsStdin: runtime === 'bun-kernel',
      executables: [executable],
    };
  };
}

// `deno compile` cannot run here: it downloads its executable's base
// (denort) from dl.deno.land, which this machine cannot reach. So the floor
// runs bench/floor.ts with `deno run`, through a sh script that exec's it
// (dash adds about 0.5 ms). Its transpiled code is cached in
// its own DENO_DIR by the first run, an untimed one.
function denoLauncher(dir: string, denoDir: string): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'cni-floor');
  const args = ['run', '--allow-all', '--no-check', '--no-config', '--no-lock', join(REPO, 'bench', 'floor.ts')];
  const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;
  writeFileSync(file, `#!/bin/sh\nDENO_DIR=${quote(denoDir)} DENO_NO_UPDATE_CHECK=1 exec ${[DENO, ...args].map(quote).join(' ')}\n`);
  chmodSync(file, 0o755);
}

const setUp: Record<PluginName, (root: string, weftSettings: Record<string, unknown>) => Plugin> = {
  'weft-bun': weft('bun', 'bweftb0', '10.203.0.0/22'),
  'weft-bun-ip': weft('bun-ip', 'bweftbi0', '10.204.0.0/22'),
  'weft-node': weft('node', 'bweftn0', '10.201.0.0/22'),
  reference,
  'floor-bun': floor('bun'),
  'floor-bun-kernel': floor('bun-kernel'),
  'floor-node': floor('node'),
  'floor-deno': floor('deno'),
};

// Checks and lays out the wanted plugins under tmp, one directory each;
// `weftSettings` go into every weft's network config.
export function setUpPlugins(names: readonly PluginName[], tmp: string, weftSettings: Record<string, unknown> = {}): Plugin[] {
  return names.map((name) => setUp[name](join(tmp, name), weftSettings));
}

/** Bytes on disk of the plugin's executables together. */
export function executableBytes(plugin: Plugin): number {
  return plugin.executables.reduce((sum, file) => sum + statSync(file).size, 0);
}
