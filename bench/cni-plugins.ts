// The three plugins the CNI benchmark compares, each in its own directory
// under the run's temp dir: its own network config dir (NETCONFPATH), plugin
// dir (CNI_PATH) and IPAM data, so no run shares state with another plugin,
// another run, or the machine's real /etc/cni and /var/lib/cni/networks.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, requireBuilt } from '../testbed/paths.ts';

export const PLUGIN_NAMES = ['weft', 'reference', 'floor'] as const;
export type PluginName = (typeof PLUGIN_NAMES)[number];

export type Plugin = {
  name: PluginName;
  // The conflist's name, what cnitool is told to add or delete.
  network: string;
  netconfDir: string;
  cniPath: string[];
  // The bridge the plugin creates on the host; the benchmark deletes it at the end.
  bridge: string | null;
  // Whether a successful ADD must report an address (the floor reports none).
  assignsAddresses: boolean;
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

function weft(root: string): Plugin {
  const executable = requireBuilt(join(DIST, 'weft'), 'run `make build` (or pass --skip weft)');
  const network = 'benchweft';
  const netconfDir = join(root, 'net');
  writeConflist(netconfDir, network, '1.1.0', {
    type: 'weft',
    bridge: 'bweft0',
    ipam: { ranges: [[{ subnet: '10.201.0.0/22' }]], dataDir: join(root, 'ipam') },
  });
  return { name: 'weft', network, netconfDir, cniPath: [pluginDir(join(root, 'bin'), 'weft', executable)], bridge: 'bweft0', assignsAddresses: true };
}

function reference(root: string): Plugin {
  for (const type of ['bridge', 'host-local']) {
    requireBuilt(join(REFERENCE_DIR, type), "install Debian's reference plugins with `apt-get install containernetworking-plugins`");
  }
  const network = 'benchref';
  const netconfDir = join(root, 'net');
  // 1.0.0: the newest spec version Debian's bridge plugin speaks.
  writeConflist(netconfDir, network, '1.0.0', {
    type: 'bridge',
    bridge: 'bref0',
    isGateway: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.202.0.0/22' }]], dataDir: join(root, 'ipam-ref') },
  });
  return { name: 'reference', network, netconfDir, cniPath: [REFERENCE_DIR], bridge: 'bref0', assignsAddresses: true };
}

function floor(root: string): Plugin {
  const executable = requireBuilt(join(DIST, 'cni-floor'), 'run `make dist/cni-floor`');
  const network = 'benchfloor';
  const netconfDir = join(root, 'net');
  writeConflist(netconfDir, network, '1.1.0', { type: 'cni-floor' });
  return { name: 'floor', network, netconfDir, cniPath: [pluginDir(join(root, 'bin'), 'cni-floor', executable)], bridge: null, assignsAddresses: false };
}

// Checks and lays out the wanted plugins under tmp, one directory each.
export function setUpPlugins(names: readonly PluginName[], tmp: string): Plugin[] {
  const setUp: Record<PluginName, (root: string) => Plugin> = { weft, reference, floor };
  return names.map((name) => setUp[name](join(tmp, name)));
}
