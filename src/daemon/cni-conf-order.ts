// Which CNI network config the container runtime uses on this node. Runtimes
// (containerd and CRI-O, through libcni) read the .conf, .conflist and .json
// files of the conf dir in byte order of their names and use the first, so
// another network's config that sorts before weft's takes every new pod.
// Both install-cni (once, in its log) and weftd (on every resync, as a Node
// event) say so.
import { readdirSync } from 'node:fs';

export const DEFAULT_CONF_NAME = '10-weft.conflist';

/** The extensions libcni's ConfFiles reads from a conf dir, as runtimes call it. */
const CNI_CONF_EXTENSIONS = ['.conf', '.conflist', '.json'];

/** weft's file in the conf dir must be a list: runtimes read other extensions as one plugin's config. */
export function checkConfName(confName: string): string {
  if (confName.includes('/') || !confName.endsWith('.conflist') || confName === '.conflist') {
    throw new Error(
      `CNI config name ${JSON.stringify(confName)} is not a file name ending in .conflist: runtimes read other extensions as a single plugin config, not a list; use e.g. ${DEFAULT_CONF_NAME}`,
    );
  }
  return confName;
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Every CNI config in confDir that the runtime would read before confName, first first. */
export function configsBefore(confDir: string, confName: string = DEFAULT_CONF_NAME): string[] {
  return readdirSync(confDir, { withFileTypes: true })
    .filter((e) => !e.isDirectory() && CNI_CONF_EXTENSIONS.some((ext) => e.name.endsWith(ext) && e.name !== ext))
    .map((e) => e.name)
    .filter((name) => byteOrder(name, confName) < 0)
    .sort(byteOrder);
}

/** What the operator should hear when `earlier` (from configsBefore) is not empty. */
export function shadowedMessage(confDir: string, confName: string, earlier: string[]): string | undefined {
  const [first, ...others] = earlier;
  if (first === undefined) return undefined;
  const also = others.length > 0 ? ` (and ${others.join(', ')})` : '';
  return (
    `CNI config ${first}${also} in ${confDir} sorts before weft's ${confName}: the container runtime uses the first config in name order, ` +
    `so pods get that network, not weft; remove ${others.length > 0 ? 'them' : 'it'} from the node, or give install-cni a --conf-name that sorts before ${first}`
  );
}
