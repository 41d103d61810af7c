// The subnet file: the one contract between weftd (writer) and the weft
// plugin (reader), like flannel's subnet.env. weftd writes it atomically once
// the node's overlay is ready; the plugin takes the node's pod subnets, MTU
// and masquerade choice from it. Neither program's error types live here:
// a problem is a SubnetFileError, and each side says what it means to it.
import { writeAll, writeFileAtomically } from '../linux/atomic-file.ts';
import { files } from '../linux/files.ts';
import { type Address, type Cidr, cidrContains, formatAddress, formatCidr, parseAddress, parseCidr } from '../net/address.ts';
import { messageOf } from '../text/error-message.ts';
import { isObject } from '../text/json.ts';

export const SUBNET_FILE_VERSION = 1;

/** Where weftd writes it and the plugin reads it, unless both are told otherwise. */
export const SUBNET_FILE_PATH = '/run/weft/subnet.json';

/** Why the file cannot be used: `missing` is transient (weftd has not written it yet). */
export class SubnetFileError extends Error {
  readonly path: string;
  readonly missing: boolean;

  constructor(path: string, problem: string, missing: boolean, cause?: unknown) {
    super(`subnet file ${path} ${problem}`, { cause });
    this.name = 'SubnetFileError';
    this.path = path;
    this.missing = missing;
  }
}

/** The gateway rule: the bridge takes each pod subnet's first address. */
export function subnetGateway(cidr: Cidr): Address {
  return { family: cidr.family, value: cidr.network + 1n };
}

export type NodeSubnet = { subnet: string; gateway: string };

export type SubnetFile = {
  version: typeof SUBNET_FILE_VERSION;
  clusterNetworks: string[];
  subnets: NodeSubnet[];
  mtu: number;
  ipMasq: boolean;
};

/** Reads and validates the file; any problem is a SubnetFileError. */
export function readSubnetFile(path: string): SubnetFile {
  let raw: string;
  try {
    raw = files().readText(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new SubnetFileError(path, missing ? 'does not exist' : `cannot be read (${messageOf(err)})`, missing, err);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new SubnetFileError(path, 'is not valid JSON', false, err);
  }
  const problem = subnetFileProblem(value);
  if (problem) throw new SubnetFileError(path, problem, false);
  return value as SubnetFile;
}

/** Why `value` is not a valid subnet file, or undefined when it is. */
export function subnetFileProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'is not a JSON object';
  if (value.version !== SUBNET_FILE_VERSION) return `has version ${JSON.stringify(value.version)}, expected ${SUBNET_FILE_VERSION}`;
  const { clusterNetworks, subnets, mtu, ipMasq } = value;
  if (!Array.isArray(clusterNetworks) || !clusterNetworks.every((c) => typeof c === 'string' && parseCidr(c))) {
    return 'has no valid "clusterNetworks" list of CIDRs';
  }
  if (!Array.isArray(subnets) || subnets.length === 0) return 'has no "subnets"';
  // A node has at most one pod CIDR per family (spec.podCIDRs), and the
  // plugin gives each pod one address per subnet with one default route per
  // family: a second subnet of a family would need a second default route.
  const seen = new Map<number, string>();
  for (const [i, s] of subnets.entries()) {
    if (!isObject(s) || typeof s.subnet !== 'string' || typeof s.gateway !== 'string') return `subnets[${i}] needs "subnet" and "gateway" strings`;
    const cidr = parseCidr(s.subnet);
    const gateway = parseAddress(s.gateway);
    if (!cidr) return `subnets[${i}].subnet ${JSON.stringify(s.subnet)} is not a CIDR`;
    if (cidr.host !== cidr.network) return `subnets[${i}].subnet ${JSON.stringify(s.subnet)} has host bits set: write it as ${formatCidr(cidr)}`;
    if (!gateway || !cidrContains(cidr, gateway)) return `subnets[${i}].gateway ${JSON.stringify(s.gateway)} is not inside ${s.subnet}`;
    const other = seen.get(cidr.family);
    if (other) return `subnets[${i}] ${s.subnet} is a second IPv${cidr.family} subnet after ${other}: a node has one pod subnet per family`;
    seen.set(cidr.family, s.subnet);
  }
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) return `has an invalid "mtu" ${JSON.stringify(mtu)}`;
  if (typeof ipMasq !== 'boolean') return 'has no boolean "ipMasq"';
  return undefined;
}

/** This node's file: each pod subnet with its first address as the bridge's gateway. */
export function subnetFileFor(podCidrs: Cidr[], clusterCidrs: Cidr[], mtu: number, ipMasq: boolean): SubnetFile {
  return {
    version: SUBNET_FILE_VERSION,
    clusterNetworks: clusterCidrs.map(formatCidr),
    subnets: podCidrs.map((c) => ({ subnet: formatCidr(c), gateway: formatAddress(subnetGateway(c)) })),
    mtu,
    ipMasq,
  };
}

function fileText(file: SubnetFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Writes the file atomically: a plugin reading it sees the old or the new content. */
export function writeSubnetFile(path: string, file: SubnetFile): void {
  const problem = subnetFileProblem(file);
  if (problem) throw new Error(`refusing to write subnet file ${path}: it ${problem}`);
  writeFileAtomically(path, 0o644, (fd) => writeAll(fd, Buffer.from(fileText(file))));
}

/**
 * Writes the file when it is missing or holds anything else (removed by
 * hand, a tmpfs emptied, an older weftd's content); says what it found.
 */
export function ensureSubnetFile(path: string, file: SubnetFile): 'unchanged' | 'missing' | 'different' {
  let found: string | undefined;
  try {
    found = files().readText(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read subnet file ${path}: ${messageOf(err)}`, { cause: err });
  }
  if (found === fileText(file)) return 'unchanged';
  writeSubnetFile(path, file);
  return found === undefined ? 'missing' : 'different';
}
