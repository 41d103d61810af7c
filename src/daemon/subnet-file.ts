// The subnet file: the one contract between weftd (writer) and the weft
// plugin (reader). weftd writes it atomically once the node's overlay is
// ready; the plugin takes the node's pod subnets, MTU and masquerade choice
// from it.
import { readFileSync } from 'node:fs';
import { CniError, ErrorCode } from '../cni/errors.ts';
import { isObject } from '../cni/json-fields.ts';
import { type Cidr, cidrContains, formatAddress, formatCidr, parseAddress, parseCidr } from '../ipam/address.ts';
import { writeAll, writeFileAtomically } from '../linux/atomic-file.ts';

export const SUBNET_FILE_VERSION = 1;

export type NodeSubnet = { subnet: string; gateway: string };

export type SubnetFile = {
  version: typeof SUBNET_FILE_VERSION;
  clusterNetworks: string[];
  subnets: NodeSubnet[];
  mtu: number;
  ipMasq: boolean;
};

/** Reads and validates the file; any problem is "not available" (code 50). */
export function readSubnetFile(path: string): SubnetFile {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw unavailable(path, missing ? 'does not exist' : `cannot be read (${(err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw unavailable(path, 'is not valid JSON');
  }
  const problem = subnetFileProblem(value);
  if (problem) throw unavailable(path, problem);
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
  for (const [i, s] of subnets.entries()) {
    if (!isObject(s) || typeof s.subnet !== 'string' || typeof s.gateway !== 'string') return `subnets[${i}] needs "subnet" and "gateway" strings`;
    const cidr = parseCidr(s.subnet);
    const gateway = parseAddress(s.gateway);
    if (!cidr) return `subnets[${i}].subnet ${JSON.stringify(s.subnet)} is not a CIDR`;
    if (!gateway || !cidrContains(cidr, gateway)) return `subnets[${i}].gateway ${JSON.stringify(s.gateway)} is not inside ${s.subnet}`;
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
    subnets: podCidrs.map((c) => ({ subnet: formatCidr(c), gateway: formatAddress({ family: c.family, value: c.network + 1n }) })),
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
    found = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read subnet file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (found === fileText(file)) return 'unchanged';
  writeSubnetFile(path, file);
  return found === undefined ? 'missing' : 'different';
}

function unavailable(path: string, problem: string): CniError {
  return new CniError(
    ErrorCode.NotAvailable,
    `subnet file ${path} ${problem}`,
    'weftd writes it once the node has a pod CIDR: check that weftd runs on this node (weftd status), or set ipam.ranges in the network config',
  );
}
