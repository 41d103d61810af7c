// The network configuration under test: a .conflist, or a single-plugin .conf
// which libcni up-converts to a one-entry list, with its protocol version
// picked the way libcni does.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Cidr, parseCidr } from './ip.ts';
import { compareVersions, isObject, isVersion, NEWEST_SPEC_VERSION } from './spec.ts';

/** A problem with how the suite was invoked (flags, conf, binaries); the message says how to fix it. */
export class SetupError extends Error {}

export type PluginConf = { type: string } & Record<string, unknown>;

export type NetworkConfig = {
  file: string;
  /** Decides the file extension cnitool needs to find it. */
  format: 'conflist' | 'conf';
  /** The file's bytes, handed to cnitool unchanged. */
  text: string;
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: PluginConf[];
};

// SPEC.md section 1: network names share the container ID grammar.
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function loadNetworkConfig(path: string): NetworkConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SetupError(`cannot read --conf ${file}: ${(err as Error).message}; pass the path of a .conflist or .conf file`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SetupError(`--conf ${file} is not JSON (${(err as Error).message}); fix the file`);
  }
  if (!isObject(parsed)) throw new SetupError(`--conf ${file} must hold a JSON object`);
  const problem = (what: string) => new SetupError(`--conf ${file}: ${what}`);

  const name = parsed.name;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw problem('"name" must be a string starting with a letter or digit, followed by letters, digits, "_", "." or "-"');
  }
  const format = 'plugins' in parsed ? 'conflist' : 'conf';
  const plugins = format === 'conflist' ? parsed.plugins : [parsed];
  if (!Array.isArray(plugins) || plugins.length === 0) {
    throw problem('"plugins" must be a non-empty list; the suite does not load plugins from drop-in directories');
  }
  const checked = plugins.map((plugin: unknown, i): PluginConf => {
    if (!isObject(plugin) || typeof plugin.type !== 'string' || !/^[^/\\]+$/.test(plugin.type)) {
      throw problem(`${format === 'conflist' ? `plugins[${i}]` : 'the conf'} needs a "type" naming a plugin binary (no "/" or "\\")`);
    }
    return { ...plugin, type: plugin.type };
  });
  return {
    file,
    format,
    text,
    name,
    cniVersion: selectVersion(parsed, problem),
    disableCheck: readBool(parsed, 'disableCheck', problem),
    disableGC: readBool(parsed, 'disableGC', problem),
    plugins: checked,
  };
}

/** The distinct plugin types, each with the index of its first entry. */
export function distinctPlugins(net: NetworkConfig): { type: string; index: number }[] {
  const seen = new Map<string, number>();
  net.plugins.forEach((plugin, index) => {
    if (!seen.has(plugin.type)) seen.set(plugin.type, index);
  });
  return [...seen].map(([type, index]) => ({ type, index }));
}

/**
 * The pod subnets the conf's ipam sections name in host-local's format
 * (every range of `ranges`, or the older single `subnet`); empty when the
 * addresses come from elsewhere, a file or a server.
 */
export function ipamSubnets(net: NetworkConfig): Cidr[] {
  return net.plugins.flatMap(({ ipam }) => {
    if (!isObject(ipam)) return [];
    const ranges = Array.isArray(ipam.ranges) ? ipam.ranges.flatMap((set: unknown) => (Array.isArray(set) ? set : [])) : [ipam];
    return ranges.flatMap((range: unknown) => {
      const cidr = isObject(range) && typeof range.subnet === 'string' ? parseCidr(range.subnet) : undefined;
      return cidr ? [cidr] : [];
    });
  });
}

// SPEC.md "Version considerations": the highest of cniVersion and cniVersions,
// ignoring versions newer than the spec the runtime implements.
function selectVersion(conf: Record<string, unknown>, problem: (what: string) => Error): string {
  if (conf.cniVersions !== undefined && !Array.isArray(conf.cniVersions)) throw problem('"cniVersions" must be a list of versions');
  const listed: unknown[] = [conf.cniVersion, ...(Array.isArray(conf.cniVersions) ? conf.cniVersions : [])];
  const versions = listed
    .filter((v) => v !== undefined)
    .map((v) => {
      if (typeof v !== 'string' || !isVersion(v)) throw problem(`${JSON.stringify(v)} is not a CNI version like "1.1.0"`);
      return v;
    });
  const usable = versions.filter((v) => compareVersions(v, NEWEST_SPEC_VERSION) <= 0);
  const newest = usable.sort(compareVersions).at(-1);
  if (!newest) throw problem(`set "cniVersion" to a version up to ${NEWEST_SPEC_VERSION}`);
  return newest;
}

function readBool(conf: Record<string, unknown>, key: string, problem: (what: string) => Error): boolean {
  const value = conf[key];
  if (value === undefined) return false;
  if (typeof value === 'boolean') return value;
  // libcni also accepts the strings "true" and "false".
  if (value === 'true' || value === 'false') return value === 'true';
  throw problem(`"${key}" must be true or false`);
}
